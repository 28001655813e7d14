"""A local stand-in for the district regional health platform's identity service, over HTTP.

``POST /identity/v1/face-verify`` with ``{"id_number", "name", "photo_base64"}`` answers
``{"code": "0", "matched": bool, "score": float, "reference": "RHP..."}`` or an error
``{"code": "E....", "message": "..."}`` (HTTP 200 either way, as the platform does).

The answer is deterministic, so demos and tests can drive it:

1. The person must be in the population register (``data/population.csv``, the same file
   the demo residents are made from): an unknown ID number answers ``E1002``; a known
   number with another name answers ``E1001`` (身份证号与姓名不一致).
2. The photo must be a real PNG or JPEG image (judged by its magic bytes), at most 5 MB:
   otherwise ``E2001``/``E2002``/``E2003``.
3. The face: the bundled demo face (``static/regional/demo-face.png``, served by the
   platform at ``/static/regional/demo-face.png``) matches anyone in the register with
   score 0.93. Any other image scores between 0.20 and 0.58, derived from its digest,
   and does not match (the platform's threshold is 0.80).

``POST /simulator/faults`` with ``{"count": N, "code": "E9001", "message": "..."}`` makes
the next N verifications fail that way; ``{"delay_seconds": S}`` delays every answer
(timeouts); ``{"count": 0, "delay_seconds": 0}`` clears both.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from stdnum.cn import ric

from jingan.lib.simulator import QuietHandler, SimulatorServer

MATCH_THRESHOLD = 0.80
DEMO_FACE_SCORE = 0.93
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
VERIFY_PATH = "/identity/v1/face-verify"


@dataclass(frozen=True)
class RegisteredPerson:
    """One row of the population register."""

    name: str
    id_number: str
    mobile: str


def population() -> list[RegisteredPerson]:
    """The population register shipped with the simulator (also the demo residents)."""
    text = resources.files(__package__).joinpath("data/population.csv").read_text("utf-8")
    return [RegisteredPerson(**row) for row in csv.DictReader(text.splitlines())]


def demo_face() -> bytes:
    """The one face image that the simulator recognises as anyone in the register."""
    return resources.files(__package__).joinpath("static/regional/demo-face.png").read_bytes()


def face_score(photo: bytes) -> float:
    """The rule of point 3 in the module docstring."""
    digest = hashlib.sha256(photo).digest()
    if digest == hashlib.sha256(demo_face()).digest():
        return DEMO_FACE_SCORE
    return round(0.20 + digest[0] / 255 * 0.38, 2)


class _Handler(QuietHandler):
    simulator: RegionalSimulator
    server_version = "RegionalPlatformSimulator/1.0"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        raw = self.read_body()
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            payload = None
        delay = self.simulator.arrive()
        if delay:
            time.sleep(delay)
        if self.path == VERIFY_PATH:
            self._answer(200, self.simulator.verify(payload))
        elif self.path == "/simulator/faults":
            try:
                self._answer(200, self.simulator.faults(payload))
            except (TypeError, ValueError):
                self._answer(400, {"code": "E0001", "message": "请求参数不完整"})
        else:
            self._answer(404, {"code": "E0404", "message": "接口不存在"})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(405, {"code": "E0405", "message": "请使用 POST"})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8")


class RegionalSimulator(SimulatorServer):
    """The simulated identity service: register, fault switches and an HTTP server."""

    handler = _Handler
    thread_name = "regional-simulator"

    def __init__(self, people: list[RegisteredPerson] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._register = {p.id_number: p for p in (population() if people is None else people)}
        self._faults: tuple[int, str, str] = (0, "", "")
        self._delay = 0.0
        self._sequence = 0
        self.received = 0  # every POST, counted on arrival (before any injected delay)

    # -- what tests drive directly ---------------------------------------------------

    def add_person(self, name: str, id_number: str, mobile: str = "") -> None:
        with self._lock:
            self._register[id_number] = RegisteredPerson(name, id_number, mobile)

    def inject_faults(
        self, count: int, code: str = "E9001", message: str = "系统繁忙，请稍后再试"
    ) -> None:
        with self._lock:
            self._faults = (max(count, 0), code, message)

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = max(seconds, 0.0)

    # -- the API -----------------------------------------------------------------------

    def verify(self, payload: Any) -> dict[str, Any]:
        with self._lock:
            remaining, code, message = self._faults
            if remaining > 0:
                self._faults = (remaining - 1, code, message)
                return {"code": code, "message": message}
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), str) and payload.get(key)
            for key in ("id_number", "name", "photo_base64")
        ):
            return {
                "code": "E0001",
                "message": "请求参数不完整：需要 id_number、name、photo_base64",
            }
        id_number = payload["id_number"].strip().upper()
        if not ric.is_valid(id_number):
            return {"code": "E1003", "message": "身份证号格式不正确"}
        with self._lock:
            person = self._register.get(id_number)
        if person is None:
            return {"code": "E1002", "message": "人口库中查无此身份证号"}
        if person.name != payload["name"].strip():
            return {"code": "E1001", "message": "身份证号与姓名不一致"}
        try:
            photo = base64.b64decode(payload["photo_base64"], validate=True)
        except (binascii.Error, ValueError):
            return {"code": "E2001", "message": "照片数据无法解码"}
        if len(photo) > MAX_PHOTO_BYTES:
            return {"code": "E2003", "message": "照片超过 5MB"}
        if not (photo.startswith(PNG_MAGIC) or photo.startswith(JPEG_MAGIC)):
            return {"code": "E2002", "message": "照片不是 JPEG 或 PNG 图像"}
        score = face_score(photo)
        with self._lock:
            self._sequence += 1
            reference = f"RHP{datetime.now().astimezone():%Y%m%d}{self._sequence:06d}"
        return {
            "code": "0",
            "matched": score >= MATCH_THRESHOLD,
            "score": score,
            "reference": reference,
        }

    def faults(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            return {"code": "E0001", "message": "请求参数不完整"}
        if "count" in payload:
            self.inject_faults(
                int(payload["count"]),
                str(payload.get("code", "E9001")),
                str(payload.get("message", "系统繁忙，请稍后再试")),
            )
        if "delay_seconds" in payload:
            self.set_delay(float(payload["delay_seconds"]))
        with self._lock:
            return {
                "code": "0",
                "faults": {"count": self._faults[0], "code": self._faults[1]},
                "delay_seconds": self._delay,
            }

    def arrive(self) -> float:
        """Count a request on arrival; return the delay to apply to it."""
        with self._lock:
            self.received += 1
            return self._delay


@contextmanager
def running_regional_simulator(**options: Any) -> Iterator[RegionalSimulator]:
    """A simulator on a free loopback port for the duration of the block."""
    simulator = RegionalSimulator(**options)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()
