"""A local stand-in for the medical-insurance e-prescription centre (医保电子处方中心).

It speaks the wire protocol of :mod:`.envelope` over real HTTP, on the paths of a
``CentreProfile`` (default ``POST /fixmedins/{operation}``), for the apps registered in
its state file (``CentreState``: the centre's SM2 key pair and, per app, its secret,
public key, institution code and name and notification URL; ``register_app`` writes it,
the simulator re-reads it when it changes).

Envelope checks, in this order (``port.CODE_*``):

- body not JSON, ``appId`` missing or not registered → HTTP 200, *unsigned*
  ``{"code": 1003, "message": ..., "success": false}`` (the centre cannot sign for an
  app it does not know);
- every later answer is signed with the centre key for the app: another envelope field
  missing, ``encType``/``signType`` other than the profile's (case-insensitive), a
  ``timestamp`` more than ±5 minutes off, ``encData`` that does not decrypt → 1003
  (the message names the field); ``signData`` missing or not verifying under the app's
  public key → 1002. The answer echoes the request's ``version``.

Business checks (all answers HTTP 200; ``data`` is ``{}`` on a refusal):

- 1001 a required field missing or malformed; the message names it with its path, e.g.
  ``缺少必填字段 mdtrtinfo.patnName`` or ``rxdrugdetail[2].medcDays 应为正整数``.
  Required fields (beyond them, anything of reference §2.3 may be sent and is kept):

  * uploadChk: ``mdtrtCertType, mdtrtCertNo, hospRxno, rxTypeCode, prscTime,
    rxDrugCnt (= number of drug rows), valiDays, valiEndTime`` (``yyyy-MM-dd HH:mm:ss``,
    after now), ``mdtrtinfo{fixmedinsCode (= the app's institution), fixmedinsName,
    mdtrtId, patnName, psnCertType, certno, prscDeptCode, prscDeptName, drCode,
    prscDrName}``, ``rxdrugdetail[]{medListCodg, drugGenname, drugCnt (> 0),
    medcDays (positive integer)}`` (``drugTotlcnt``, if sent, a number ≥ 0),
    ``diseinfo[]{diagCode, diagName}``. Out: ``hiRxno``, ``rxTraceCode``. A ``hospRxno``
    already uploaded and valid is refused with 2004; one only pre-checked gets a new
    ``hiRxno``/``rxTraceCode`` (the old ones lapse).
  * rxFixmedinsSign: ``fixmedinsCode, originalValue`` (Base64 of a JSON object: the
    upload fields), ``originalRxFile`` (Base64), ``extras`` ≤ 4000 characters. Out:
    ``rxFile`` (Base64 of the file; the simulator returns the file unchanged rather
    than embedding a signature in the PDF), ``signDigest`` = Base64 of the raw
    ``r||s`` SM3withSM2 signature, centre key, default user ID ``1234567812345678``,
    over ``SM3(decoded originalValue || decoded file)``; ``signCertSn`` (hex) and
    ``signCertDn`` of the simulated centre certificate.
  * rxFileUpld: ``rxTraceCode, hiRxno, mdtrtId, patnName, psnCertType, certno,
    fixmedinsCode, fixmedinsName, drCode, prscDrName, rxFile, signDigest`` (pharmacist
    fields optional). ``signDigest`` must be one the centre issued, verify over the
    uploaded file, and every field of the signed ``originalValue`` that the upload also
    sends must be equal (1001 naming the field otherwise). Out: ``hiRxno, rxStasCodg,
    rxStasName``. Then the centre's pharmacist reviews (below).
  * rxUndo: ``hiRxno, fixmedinsCode, drCode, undoDrName, undoRea, undoTime``. Out:
    ``hiRxno, rxStasCodg, rxStasName``: ``02`` revoked, or ``04`` (撤销待确认) while a
    pharmacy is settling it — resolved by the pharmacy: ``release`` completes the revoke,
    ``complete`` (drugs handed out) turns it back to ``01``.
  * hospRxDetlQuery / rxChkInfoQuery / rxSetlInfoQuery: ``fixmedinsCode, hiRxno``;
    ``mdtrtId``, ``psnName``, ``psnCertType``, ``certno`` optional but, when sent, must
    match (else 2003). Outputs as reference §2.3 (detail: header fields, ``rxDetlList``,
    ``rxOtpinfo``, ``diseinfo``; review: ``hiRxno, pharName, pharCode, rxChkStasCodg,
    rxChkStasName, rxChkOpnn, rxChkTime``; pickup: ``hiRxno, setlTime, rxStasCodg/Name,
    rxUsedStasCodg/Name, seltdelts[]``).
  * circDrugQuery: ``fixmedinsCode``; optional ``medListCodg`` (exact), ``drugGenname``
    (substring of the generic or product name), ``pageNum`` (default 1), ``pageSize``
    (default 20, at most 100). Out: ``{total, pageNum, pageSize, list: [CATALOGUE
    entries]}``.

- 2001 a ``medListCodg`` outside ``CATALOGUE`` (``药品编码 X 不在流转药品目录中``);
  2002 ``rxTraceCode`` not the one issued for ``hiRxno``, already used, or past
  ``valiEndTime``; 2003 no such ``hiRxno`` for the app's institution; 2004 the
  operation does not fit the state (e.g. sign/upload of a revoked prescription, revoke
  before upload); 3001 revoke after the drugs were collected.

Status codes are the profile's dictionaries (``port.DEFAULT_RX_*``): ``rxStasCodg``
01 有效 / 02 已撤销 / 03 已失效 / 04 撤销待确认; ``rxUsedStasCodg`` 01 未取药 /
02 已取药 / 03 药店结算中; ``rxChkStasCodg`` 01 待审核 / 02 审核通过 / 03 审核不通过.

Review after upload: ``review_mode="auto"`` decides after ``review_delay_seconds``:
rejected (03, with an opinion naming the row) when any ``medcDays`` > 30 or
``drugTotlcnt`` > 50, else approved (02). ``"manual"`` leaves it 01 until decided on the
review page. Pharmacy and notifications:

- ``GET /simulator/review`` — HTML page (server-side forms, no JavaScript) listing the
  prescriptions awaiting review; ``POST /simulator/review`` (form: ``hiRxno``,
  ``decision`` = approve|reject, ``opinion``) decides one and redirects back.
- ``POST /simulator/pharmacy?hiRxno=...&stage=start|complete|release`` — a pharmacy
  starts settling an approved prescription (used 01 → 03), completes it (→ 02, with
  ``setlTime`` and ``seltdelts``; ``complete`` straight from 01 is accepted as start +
  complete) or releases it (03 → 01). JSON answer ``{hiRxno, rxStasCodg,
  rxUsedStasCodg}``; 404/409 with ``{"message"}`` when it does not apply.
- ``POST /simulator/settings`` JSON ``{review_mode, review_delay_seconds,
  drop_notifications}`` (any subset) — answers the current settings.
- Notifications (``transType`` ``rxChkInfoNotify`` after a review, ``rxSetlInfoNotify``
  after ``complete`` and after a ``release`` that completes a pending revoke) are POSTed
  to the app's ``notify_url``: an envelope sealed with the app's credentials, signed by
  the centre key, body = the matching query's output + ``fixmedinsCode``. Delivered when
  the answer is an envelope signed by the app's key with ``code`` 0; else retried
  (``notify_attempts`` times, back-off ``notify_backoff_seconds`` doubling) on a
  background thread. ``drop_notifications: N`` silently loses the next N. Every
  attempt is kept in ``simulator.deliveries``.
- The pickup result also names the settling pharmacy (``pharmacyCode``,
  ``pharmacyName``; not in the public clients' models, so optional on our side).

With a state file, the centre's prescriptions and issued signatures are kept beside it
(``<state>-prescriptions.json``, mode 0600) and read back at start: like the real centre,
the simulated one remembers what was uploaded when ``jingan serve`` restarts it.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from jingan.integrations.erx_centre.catalogue import CATALOGUE, CATALOGUE_BY_CODE
from jingan.integrations.erx_centre.envelope import (
    AppCredentials,
    EnvelopeError,
    Sm2Backend,
    open_envelope,
    read_envelope,
    seal,
)
from jingan.integrations.erx_centre.port import (
    CODE_ALREADY_DISPENSED,
    CODE_BAD_ENVELOPE,
    CODE_BAD_SIGNATURE,
    CODE_INVALID_FIELD,
    CODE_NOT_FOUND,
    CODE_OK,
    CODE_TRACE_CODE,
    CODE_UNKNOWN_DRUG,
    CODE_WRONG_STATE,
    IDEMPOTENT_OPERATIONS,
    CentreProfile,
    Notification,
    Operation,
)
from jingan.lib.masking import mask_name
from jingan.lib.simulator import QuietHandler, SimulatorServer

__all__ = [
    "CATALOGUE",
    "CentreApp",
    "CentreState",
    "ErxCentreSimulator",
    "register_app",
]

CHINA = timezone(timedelta(hours=8), "CST")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SIGN_USER_ID = b"1234567812345678"
SIGN_CERT_DN = "CN=国家医疗保障局电子处方中心（模拟）,OU=医保电子处方中心,O=国家医疗保障局,C=CN"
MAX_MEDICATION_DAYS = 30
MAX_TOTAL_COUNT = 50
MAX_EXTRAS = 4000
REVIEWER = ("王审方（模拟中心药师）", "YS310000001")
# Designated pharmacies of the district that settle e-prescriptions (code, name); the
# one that settles a prescription is reported as ``pharmacyCode``/``pharmacyName`` in
# the pickup result, an extension the public clients parse as optional.
PHARMACIES = (
    ("P31010600012", "上海华氏大药房静安寺店"),
    ("P31010600027", "上海国大药房南京西路店"),
    ("P31010600035", "雷允上西区药店大宁店"),
    ("P31010600041", "上海第一医药商店静安店"),
)
_STATE_LOCK = threading.Lock()


# --- the state file -------------------------------------------------------------------


@dataclass
class CentreApp:
    """One institution's app at the centre."""

    app_id: str
    app_secret: str
    public_key_hex: str
    fixmedins_code: str
    fixmedins_name: str
    notify_url: str = ""

    def credentials(self) -> AppCredentials:
        return AppCredentials(app_id=self.app_id, app_secret=self.app_secret)


@dataclass
class CentreState:
    """The centre's key pair and registered apps (the simulator's key store)."""

    centre_private_key_hex: str = ""
    centre_public_key_hex: str = ""
    apps: dict[str, CentreApp] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> CentreState:
        """The state in ``path``; an empty state if the file does not exist yet."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(
            centre_private_key_hex=str(raw.get("centre_private_key_hex", "")),
            centre_public_key_hex=str(raw.get("centre_public_key_hex", "")),
            apps={app_id: CentreApp(**app) for app_id, app in dict(raw.get("apps", {})).items()},
        )

    def save(self, path: Path | str) -> None:
        """Write atomically, readable by the owner only (it holds secrets and a private key)."""
        _write_private_json(Path(path), asdict(self))


def _write_private_json(target: Path, payload: Any) -> None:
    """Replace ``target`` atomically with ``payload`` as JSON, mode 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, target)


def register_app(
    state_path: Path | str,
    *,
    app_id: str,
    app_secret: str,
    public_key_hex: str,
    fixmedins_code: str,
    fixmedins_name: str,
    notify_url: str,
    generate_keypair: Callable[[], tuple[str, str]],
) -> str:
    """Register (or update) an app; create the centre key pair on first use.

    Returns the centre's public key hex. Calling it again with the same values changes
    nothing (the file is not rewritten).
    """
    with _STATE_LOCK:
        state = CentreState.load(state_path)
        changed = False
        if not state.centre_private_key_hex:
            private_hex, public_hex = generate_keypair()
            state.centre_private_key_hex, state.centre_public_key_hex = private_hex, public_hex
            changed = True
        app = CentreApp(
            app_id=app_id,
            app_secret=app_secret,
            public_key_hex=public_key_hex,
            fixmedins_code=fixmedins_code,
            fixmedins_name=fixmedins_name,
            notify_url=notify_url,
        )
        if state.apps.get(app_id) != app:
            state.apps[app_id] = app
            changed = True
        if changed:
            state.save(state_path)
        return state.centre_public_key_hex


# --- helpers --------------------------------------------------------------------------


class Refusal(Exception):
    """A business refusal: becomes a signed answer with ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _now() -> datetime:
    return datetime.now(CHINA)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _require(data: Mapping[str, Any], names: tuple[str, ...], prefix: str = "") -> None:
    for name in names:
        if _missing(data.get(name)):
            raise Refusal(CODE_INVALID_FIELD, f"缺少必填字段 {prefix}{name}")


def _object(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if _missing(value):
        raise Refusal(CODE_INVALID_FIELD, f"缺少必填字段 {name}")
    if not isinstance(value, dict):
        raise Refusal(CODE_INVALID_FIELD, f"{name} 应为 JSON 对象")
    return value


def _rows(data: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if _missing(value):
        raise Refusal(CODE_INVALID_FIELD, f"缺少必填字段 {name}")
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise Refusal(CODE_INVALID_FIELD, f"{name} 应为 JSON 对象数组")
    return value


def _number(value: Any, label: str, *, positive: bool, integer: bool = False) -> float:
    try:
        number = float(str(value))
    except ValueError:
        number = float("nan")
    valid = number == number and (number > 0 if positive else number >= 0)
    if integer:
        valid = valid and number == int(number)
    if not valid:
        kind = "正整数" if integer else ("大于 0 的数" if positive else "不小于 0 的数")
        raise Refusal(CODE_INVALID_FIELD, f"{label} 应为{kind}")
    return number


def _time(data: Mapping[str, Any], name: str) -> datetime:
    try:
        return datetime.strptime(str(data.get(name)), TIME_FORMAT).replace(tzinfo=CHINA)
    except ValueError:
        raise Refusal(
            CODE_INVALID_FIELD, f"{name} 格式应为 yyyy-MM-dd HH:mm:ss（收到 {data.get(name)!r}）"
        ) from None


def _base64(data: Mapping[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str(data.get(name)), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(CODE_INVALID_FIELD, f"{name} 不是有效的 Base64") from None


@dataclass
class CentrePrescription:
    """One prescription as the centre keeps it."""

    hi_rxno: str
    trace_code: str
    app_id: str
    fixmedins_code: str
    fixmedins_name: str
    hosp_rxno: str
    mdtrt_id: str
    patient_name: str
    cert_type: str
    certno: str
    valid_until: datetime
    request: dict[str, Any]
    trace_used: bool = False
    uploaded: bool = False
    status: str = "01"
    used_status: str = "01"
    review_status: str = "01"
    review_opinion: str = ""
    review_time: str = ""
    reviewer: tuple[str, str] = ("", "")
    upload: dict[str, Any] = field(default_factory=dict)
    settled_time: str = ""
    settled_items: list[dict[str, Any]] = field(default_factory=list)
    revoke_pending: bool = False
    undo: dict[str, Any] = field(default_factory=dict)
    pharmacy: tuple[str, str] = ("", "")

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["valid_until"] = self.valid_until.isoformat()
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> CentrePrescription:
        values = dict(record)
        values["valid_until"] = datetime.fromisoformat(values["valid_until"])
        values["reviewer"] = tuple(values.get("reviewer") or ("", ""))
        values["pharmacy"] = tuple(values.get("pharmacy") or ("", ""))
        return cls(**values)


@dataclass(frozen=True)
class _SignRecord:
    app_id: str
    original_value: bytes


@dataclass
class Delivery:
    """One notification attempt (or a dropped one) for tests and the console of the demo."""

    notification: str
    hi_rxno: str
    url: str
    attempt: int
    outcome: str  # "delivered", "dropped", "failed: <reason>"
    at: float


# --- the simulator --------------------------------------------------------------------


class ErxCentreSimulator(SimulatorServer):
    """The e-prescription centre over real HTTP (see the module docstring)."""

    thread_name = "erx-centre-simulator"

    def __init__(
        self,
        *,
        backend: Sm2Backend,
        state_path: Path | str | None = None,
        state: CentreState | None = None,
        profile: CentreProfile | None = None,
        review_mode: str = "auto",
        review_delay_seconds: float = 0.5,
        notify_attempts: int = 4,
        notify_backoff_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        if review_mode not in ("auto", "manual"):
            raise ValueError("review_mode must be 'auto' or 'manual'")
        self.backend = backend
        self.state_path = Path(state_path) if state_path is not None else None
        self.profile = profile or CentreProfile(base_url="")
        self.review_mode = review_mode
        self.review_delay_seconds = review_delay_seconds
        self.notify_attempts = notify_attempts
        self.notify_backoff_seconds = notify_backoff_seconds
        self.drop_notifications = 0
        self.deliveries: list[Delivery] = []
        self._lock = threading.RLock()
        self._state = state if state is not None else CentreState()
        self._state_stamp: int | None = None
        self._prescriptions: dict[str, CentrePrescription] = {}
        self._signatures: dict[str, _SignRecord] = {}
        self._serial = 0
        # The records file as this process last wrote or read it: another process (a
        # demo run beside `jingan serve`) may write it too, and then it is read again.
        self._records_stamp: int | None = None
        self._timers: list[threading.Timer] = []
        self._routes = {self.profile.path(op): op for op in Operation}
        if state is None and self.state_path is not None:
            self._reload()
            self._load_records()
        self._ensure_centre_key()

    # -- state ---------------------------------------------------------------------

    def _reload(self) -> None:
        assert self.state_path is not None
        try:
            stamp = self.state_path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp != self._state_stamp:
            self._state = CentreState.load(self.state_path)
            self._state_stamp = stamp

    @property
    def records_path(self) -> Path | None:
        """Where the centre keeps its prescriptions: beside the state file, if there is one.

        A real centre outlives the institutions' restarts; so does the simulated one, or
        the demo's uploaded prescriptions would become unknown after ``jingan serve``
        restarts it.
        """
        if self.state_path is None:
            return None
        return self.state_path.with_name(f"{self.state_path.stem}-prescriptions.json")

    def _records_changed_elsewhere(self) -> bool:
        path = self.records_path
        if path is None:
            return False
        try:
            return path.stat().st_mtime_ns != self._records_stamp
        except FileNotFoundError:
            return False

    def _load_records(self) -> None:
        path = self.records_path
        if path is None or not path.exists():
            return
        self._records_stamp = path.stat().st_mtime_ns
        raw = json.loads(path.read_text(encoding="utf-8"))
        self._serial = int(raw.get("serial", 0))
        self._prescriptions = {
            record["hi_rxno"]: CentrePrescription.from_json(record)
            for record in raw.get("prescriptions", [])
        }
        self._signatures = {
            digest: _SignRecord(record["app_id"], base64.b64decode(record["original_value"]))
            for digest, record in dict(raw.get("signatures", {})).items()
        }

    def _save_records(self) -> None:
        """Persist the prescriptions (called under the lock after every change)."""
        path = self.records_path
        if path is None:
            return
        _write_private_json(
            path,
            {
                "serial": self._serial,
                "prescriptions": [rx.to_json() for rx in self._prescriptions.values()],
                "signatures": {
                    digest: {
                        "app_id": record.app_id,
                        "original_value": base64.b64encode(record.original_value).decode(),
                    }
                    for digest, record in self._signatures.items()
                },
            },
        )
        self._records_stamp = path.stat().st_mtime_ns

    def _ensure_centre_key(self) -> None:
        # A simulator without a state file (tests) makes its own key if the back-end can;
        # with a file, the key comes from register_app so both sides agree on it.
        if self._state.centre_private_key_hex or self.state_path is not None:
            return
        generate = getattr(self.backend, "generate_keypair", None)
        if generate is None:
            return
        pair = generate()
        self._state.centre_private_key_hex = pair.private_hex
        self._state.centre_public_key_hex = pair.public_hex

    @property
    def state(self) -> CentreState:
        with self._lock:
            if self.state_path is not None:
                self._reload()
            return self._state

    @property
    def centre_public_key_hex(self) -> str:
        return self.state.centre_public_key_hex

    def add_app(self, app: CentreApp) -> None:
        """Register an app in memory (tests without a state file)."""
        with self._lock:
            self._state.apps[app.app_id] = app

    def prescription(self, hi_rxno: str) -> CentrePrescription | None:
        """The centre's record of ``hi_rxno`` (for tests and the review page)."""
        with self._lock:
            return self._prescriptions.get(hi_rxno)

    def prescriptions(self) -> list[CentrePrescription]:
        with self._lock:
            return list(self._prescriptions.values())

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "review_mode": self.review_mode,
                "review_delay_seconds": self.review_delay_seconds,
                "drop_notifications": self.drop_notifications,
            }

    def update_settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            if "review_mode" in values:
                if values["review_mode"] not in ("auto", "manual"):
                    raise ValueError("review_mode 应为 auto 或 manual")
                self.review_mode = str(values["review_mode"])
            if "review_delay_seconds" in values:
                delay = float(values["review_delay_seconds"])
                if delay < 0:
                    raise ValueError("review_delay_seconds 不能为负")
                self.review_delay_seconds = delay
            if "drop_notifications" in values:
                dropped = int(values["drop_notifications"])
                if dropped < 0:
                    raise ValueError("drop_notifications 不能为负")
                self.drop_notifications = dropped
            return self.settings()

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        super().stop()

    # -- the protocol ----------------------------------------------------------------

    def handle(self, path: str, body: bytes) -> dict[str, Any] | None:
        """The answer envelope to a protocol request, or None if ``path`` is no operation."""
        operation = self._routes.get(path)
        if operation is None:
            return None
        try:
            envelope = json.loads(body)
        except ValueError:
            return _unsigned(CODE_BAD_ENVELOPE, "报文不是有效的 JSON")
        if not isinstance(envelope, dict):
            return _unsigned(CODE_BAD_ENVELOPE, "报文不是 JSON 对象")
        app_id = str(envelope.get("appId") or "")
        if not app_id:
            return _unsigned(CODE_BAD_ENVELOPE, "缺少必填字段 appId")
        state = self.state
        app = state.apps.get(app_id)
        if app is None:
            return _unsigned(CODE_BAD_ENVELOPE, f"appId {app_id} 未在医保电子处方中心登记")
        version = str(envelope.get("version") or self.profile.version)
        try:
            opened = self._open(envelope, app)
        except EnvelopeError as error:
            code = CODE_BAD_SIGNATURE if error.field == "signData" else CODE_BAD_ENVELOPE
            return self._answer(app, version, code, error.message, {})
        try:
            with self._lock:
                if self._records_changed_elsewhere():
                    self._load_records()
                data = self._dispatch(operation, app, opened.data)
                if operation not in IDEMPOTENT_OPERATIONS:
                    self._save_records()
        except Refusal as refusal:
            return self._answer(app, version, refusal.code, refusal.message, {})
        return self._answer(app, version, CODE_OK, "成功", data)

    def _open(self, envelope: dict[str, Any], app: CentreApp) -> Any:
        fields = read_envelope(envelope)
        for name, expected in (
            ("encType", self.profile.enc_type),
            ("signType", self.profile.sign_type),
        ):
            if str(fields[name]).upper() != expected.upper():
                raise EnvelopeError(f"{name} 应为 {expected}", field=name)
        return open_envelope(
            fields,
            credentials=app.credentials(),
            verifying_key_hex=app.public_key_hex,
            backend=self.backend,
        )

    def _answer(
        self, app: CentreApp, version: str, code: int, message: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        return seal(
            data,
            credentials=app.credentials(),
            signing_key_hex=self._state.centre_private_key_hex,
            backend=self.backend,
            version=version,
            enc_type=self.profile.enc_type,
            sign_type=self.profile.sign_type,
            answer={"code": code, "message": message},
        )

    def _dispatch(
        self, operation: Operation, app: CentreApp, data: dict[str, Any]
    ) -> dict[str, Any]:
        handlers: dict[Operation, Callable[[CentreApp, dict[str, Any]], dict[str, Any]]] = {
            Operation.UPLOAD_CHECK: self._upload_check,
            Operation.SIGN: self._sign,
            Operation.UPLOAD: self._upload,
            Operation.UNDO: self._undo,
            Operation.DETAIL: self._detail,
            Operation.REVIEW_RESULT: self._review_result,
            Operation.PICKUP_RESULT: self._pickup_result,
            Operation.DRUG_CATALOGUE: self._drug_catalogue,
        }
        return handlers[operation](app, data)

    def _check_institution(self, app: CentreApp, code: Any, label: str = "fixmedinsCode") -> None:
        if str(code) != app.fixmedins_code:
            raise Refusal(CODE_INVALID_FIELD, f"{label} {code} 与 appId 所属机构不符")

    def _find(self, app: CentreApp, data: Mapping[str, Any]) -> CentrePrescription:
        hi_rxno = str(data.get("hiRxno"))
        rx = self._prescriptions.get(hi_rxno)
        if rx is None or rx.app_id != app.app_id:
            raise Refusal(CODE_NOT_FOUND, f"未找到本机构的电子处方 hiRxno={hi_rxno}")
        return rx

    def _upload_check(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        _require(
            data,
            (
                "mdtrtCertType",
                "mdtrtCertNo",
                "hospRxno",
                "rxTypeCode",
                "prscTime",
                "rxDrugCnt",
                "valiDays",
                "valiEndTime",
            ),
        )
        info = _object(data, "mdtrtinfo")
        _require(
            info,
            (
                "fixmedinsCode",
                "fixmedinsName",
                "mdtrtId",
                "patnName",
                "psnCertType",
                "certno",
                "prscDeptCode",
                "prscDeptName",
                "drCode",
                "prscDrName",
            ),
            "mdtrtinfo.",
        )
        self._check_institution(app, info["fixmedinsCode"], "mdtrtinfo.fixmedinsCode")
        drugs = _rows(data, "rxdrugdetail")
        for index, drug in enumerate(drugs, start=1):
            prefix = f"rxdrugdetail[{index}]."
            _require(drug, ("medListCodg", "drugGenname", "drugCnt", "medcDays"), prefix)
            _number(drug["drugCnt"], f"{prefix}drugCnt", positive=True)
            _number(drug["medcDays"], f"{prefix}medcDays", positive=True, integer=True)
            if not _missing(drug.get("drugTotlcnt")):
                _number(drug["drugTotlcnt"], f"{prefix}drugTotlcnt", positive=False)
        diagnoses = _rows(data, "diseinfo")
        for index, diagnosis in enumerate(diagnoses, start=1):
            _require(diagnosis, ("diagCode", "diagName"), f"diseinfo[{index}].")
        count = _number(data["rxDrugCnt"], "rxDrugCnt", positive=True, integer=True)
        if int(count) != len(drugs):
            raise Refusal(
                CODE_INVALID_FIELD,
                f"rxDrugCnt（{int(count)}）与 rxdrugdetail 条数（{len(drugs)}）不符",
            )
        _number(data["valiDays"], "valiDays", positive=True, integer=True)
        _time(data, "prscTime")
        valid_until = _time(data, "valiEndTime")
        if valid_until <= _now():
            raise Refusal(CODE_INVALID_FIELD, "valiEndTime 已早于当前时间")
        for index, drug in enumerate(drugs, start=1):
            code = str(drug["medListCodg"])
            if code not in CATALOGUE_BY_CODE:
                raise Refusal(
                    CODE_UNKNOWN_DRUG,
                    f"rxdrugdetail[{index}] 药品编码 {code} 不在医保电子处方流转药品目录中",
                )
        hosp_rxno = str(data["hospRxno"])
        for existing in list(self._prescriptions.values()):
            if existing.app_id == app.app_id and existing.hosp_rxno == hosp_rxno:
                if existing.uploaded and existing.status in ("01", "04"):
                    raise Refusal(
                        CODE_WRONG_STATE,
                        f"hospRxno {hosp_rxno} 已上传（hiRxno={existing.hi_rxno}），请先撤销",
                    )
                if not existing.uploaded:
                    # A prescription edited after its pre-check: the old trace code lapses.
                    del self._prescriptions[existing.hi_rxno]
        self._serial += 1
        now = _now()
        hi_rxno = (
            f"{app.fixmedins_code[:6]}{now:%Y%m%d}{self._serial:06d}{secrets.randbelow(100):02d}"
        )
        rx = CentrePrescription(
            hi_rxno=hi_rxno,
            trace_code=secrets.token_hex(12).upper(),
            app_id=app.app_id,
            fixmedins_code=app.fixmedins_code,
            fixmedins_name=str(info.get("fixmedinsName") or app.fixmedins_name),
            hosp_rxno=hosp_rxno,
            mdtrt_id=str(info["mdtrtId"]),
            patient_name=str(info["patnName"]),
            cert_type=str(info["psnCertType"]),
            certno=str(info["certno"]),
            valid_until=valid_until,
            request=data,
        )
        self._prescriptions[hi_rxno] = rx
        return {"hiRxno": rx.hi_rxno, "rxTraceCode": rx.trace_code}

    def _signature_message(self, original_value: bytes, rx_file: bytes) -> bytes:
        return _sm3(original_value + rx_file)

    def _sign(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        _require(data, ("fixmedinsCode", "originalValue", "originalRxFile"))
        self._check_institution(app, data["fixmedinsCode"])
        original_value = _base64(data, "originalValue")
        try:
            original = json.loads(original_value)
        except ValueError:
            original = None
        if not isinstance(original, dict):
            raise Refusal(CODE_INVALID_FIELD, "originalValue 解码后应为 JSON 对象")
        rx_file = _base64(data, "originalRxFile")
        if len(str(data.get("extras") or "")) > MAX_EXTRAS:
            raise Refusal(CODE_INVALID_FIELD, f"extras 超过 {MAX_EXTRAS} 个字符")
        hi_rxno = original.get("hiRxno")
        if hi_rxno:
            rx = self._find(app, {"hiRxno": hi_rxno})
            if rx.status != "01":
                raise Refusal(
                    CODE_WRONG_STATE, f"处方 {hi_rxno} 状态为{self._status_name(rx)}，不能签名"
                )
        digest = self._signature_message(original_value, rx_file)
        der = self.backend.sign(self._state.centre_private_key_hex, digest, SIGN_USER_ID)
        r, s = decode_dss_signature(der)
        sign_digest = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
        self._signatures[sign_digest] = _SignRecord(app.app_id, original_value)
        return {
            "rxFile": base64.b64encode(rx_file).decode("ascii"),
            "signDigest": sign_digest,
            "signCertSn": self.sign_cert_sn,
            "signCertDn": SIGN_CERT_DN,
        }

    @property
    def sign_cert_sn(self) -> str:
        return _sm3(bytes.fromhex(self._state.centre_public_key_hex or "00"))[:16].hex().upper()

    def verify_sign_digest(self, sign_digest: str, original_value: bytes, rx_file: bytes) -> bool:
        """True if ``sign_digest`` is the centre's signature over this original and file."""
        try:
            raw = base64.b64decode(sign_digest, validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        digest = self._signature_message(original_value, rx_file)
        try:
            return self.backend.verify(self._state.centre_public_key_hex, digest, der, SIGN_USER_ID)
        except Exception:  # a malformed signature is a failed check
            return False

    def _upload(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        _require(
            data,
            (
                "rxTraceCode",
                "hiRxno",
                "mdtrtId",
                "patnName",
                "psnCertType",
                "certno",
                "fixmedinsCode",
                "fixmedinsName",
                "drCode",
                "prscDrName",
                "rxFile",
                "signDigest",
            ),
        )
        self._check_institution(app, data["fixmedinsCode"])
        rx = self._find(app, data)
        if str(data["rxTraceCode"]) != rx.trace_code:
            raise Refusal(CODE_TRACE_CODE, "rxTraceCode 与 hiRxno 不符")
        if rx.trace_used:
            raise Refusal(CODE_TRACE_CODE, "rxTraceCode 已使用，不能重复上传")
        if _now() > rx.valid_until:
            raise Refusal(
                CODE_TRACE_CODE, f"rxTraceCode 已过期（有效期至 {_stamp(rx.valid_until)}）"
            )
        if rx.status != "01":
            raise Refusal(CODE_WRONG_STATE, f"处方状态为{self._status_name(rx)}，不能上传")
        for name, expected in (
            ("mdtrtId", rx.mdtrt_id),
            ("patnName", rx.patient_name),
            ("psnCertType", rx.cert_type),
            ("certno", rx.certno),
        ):
            if str(data[name]) != expected:
                raise Refusal(CODE_INVALID_FIELD, f"{name} 与上传预核验时不一致")
        rx_file = _base64(data, "rxFile")
        sign_digest = str(data["signDigest"])
        record = self._signatures.get(sign_digest)
        if record is None or record.app_id != app.app_id:
            raise Refusal(CODE_INVALID_FIELD, "signDigest 不是医保电子签名接口签发的签名")
        if not self.verify_sign_digest(sign_digest, record.original_value, rx_file):
            raise Refusal(CODE_INVALID_FIELD, "signDigest 验证失败：rxFile 与签名时的文件不一致")
        original = json.loads(record.original_value)
        for name, value in original.items():
            if name in data and not _missing(value) and str(data[name]) != str(value):
                raise Refusal(CODE_INVALID_FIELD, f"{name} 与签名原文（originalValue）不一致")
        rx.trace_used = True
        rx.uploaded = True
        rx.upload = data
        rx.review_status = "01"
        self._schedule_review(rx.hi_rxno)
        return {"hiRxno": rx.hi_rxno, "rxStasCodg": rx.status, "rxStasName": self._status_name(rx)}

    def _undo(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        _require(data, ("hiRxno", "fixmedinsCode", "drCode", "undoDrName", "undoRea", "undoTime"))
        self._check_institution(app, data["fixmedinsCode"])
        _time(data, "undoTime")
        rx = self._find(app, data)
        if not rx.uploaded:
            raise Refusal(CODE_WRONG_STATE, "处方尚未上传，无需撤销")
        if rx.used_status == "02":
            raise Refusal(CODE_ALREADY_DISPENSED, "处方已取药，不能撤销")
        if rx.status in ("02", "03"):
            raise Refusal(CODE_WRONG_STATE, f"处方状态为{self._status_name(rx)}，不能撤销")
        rx.undo = data
        if rx.used_status == "03":
            # The pharmacy is settling: the revoke waits for it to finish or let go.
            rx.status = "04"
            rx.revoke_pending = True
        else:
            rx.status = "02"
        return {"hiRxno": rx.hi_rxno, "rxStasCodg": rx.status, "rxStasName": self._status_name(rx)}

    def _query(self, app: CentreApp, data: dict[str, Any]) -> CentrePrescription:
        _require(data, ("fixmedinsCode", "hiRxno"))
        self._check_institution(app, data["fixmedinsCode"])
        rx = self._find(app, data)
        for name, expected in (
            ("mdtrtId", rx.mdtrt_id),
            ("psnName", rx.patient_name),
            ("psnCertType", rx.cert_type),
            ("certno", rx.certno),
        ):
            if not _missing(data.get(name)) and str(data[name]) != expected:
                raise Refusal(CODE_NOT_FOUND, f"未找到与 {name} 相符的电子处方 hiRxno={rx.hi_rxno}")
        return rx

    def _status_name(self, rx: CentrePrescription) -> str:
        return self.profile.rx_status.get(rx.status, rx.status)

    def _detail(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        rx = self._query(app, data)
        return self.detail_of(rx)

    def detail_of(self, rx: CentrePrescription) -> dict[str, Any]:
        request = rx.request
        header: dict[str, Any] = {
            key: request[key]
            for key in (
                "hospRxno",
                "rxTypeCode",
                "prscTime",
                "rxDrugCnt",
                "valiDays",
                "valiEndTime",
                "rxUsedWayCodg",
                "rxUsedWayName",
                "rxFrquCodg",
                "rxFrquName",
                "rxDrordDscr",
            )
            if key in request
        }
        otpinfo = dict(request.get("mdtrtinfo") or {})
        otpinfo["pharName"] = rx.upload.get("pharName", "")
        otpinfo["pharChkTime"] = rx.upload.get("pharChkTime", "")
        otpinfo.setdefault("insutype", "310")
        return {
            "hiRxno": rx.hi_rxno,
            "fixmedinsCode": rx.fixmedins_code,
            "fixmedinsName": rx.fixmedins_name,
            "rxStasCodg": rx.status,
            "rxStasName": self._status_name(rx),
            "rxUsedStasCodg": rx.used_status,
            "rxUsedStasName": self.profile.rx_used_status.get(rx.used_status, ""),
            **header,
            "rxTypeName": {"1": "西药处方", "2": "中成药处方", "3": "中药饮片处方"}.get(
                str(request.get("rxTypeCode")), "西药处方"
            ),
            "rxDetlList": list(request.get("rxdrugdetail") or []),
            "rxOtpinfo": otpinfo,
            "diseinfo": list(request.get("diseinfo") or []),
        }

    def _review_result(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        return self.review_of(self._query(app, data))

    def review_of(self, rx: CentrePrescription) -> dict[str, Any]:
        return {
            "hiRxno": rx.hi_rxno,
            "pharName": rx.reviewer[0],
            "pharCode": rx.reviewer[1],
            "rxChkStasCodg": rx.review_status,
            "rxChkStasName": self.profile.rx_review_status.get(rx.review_status, ""),
            "rxChkOpnn": rx.review_opinion,
            "rxChkTime": rx.review_time,
        }

    def _pickup_result(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        return self.pickup_of(self._query(app, data))

    def pickup_of(self, rx: CentrePrescription) -> dict[str, Any]:
        return {
            "hiRxno": rx.hi_rxno,
            "setlTime": rx.settled_time,
            "rxStasCodg": rx.status,
            "rxStasName": self._status_name(rx),
            "rxUsedStasCodg": rx.used_status,
            "rxUsedStasName": self.profile.rx_used_status.get(rx.used_status, ""),
            "seltdelts": list(rx.settled_items),
            "pharmacyCode": rx.pharmacy[0] if rx.used_status != "01" else "",
            "pharmacyName": rx.pharmacy[1] if rx.used_status != "01" else "",
        }

    def _drug_catalogue(self, app: CentreApp, data: dict[str, Any]) -> dict[str, Any]:
        _require(data, ("fixmedinsCode",))
        self._check_institution(app, data["fixmedinsCode"])
        page = int(_number(data.get("pageNum", 1), "pageNum", positive=True, integer=True))
        size = int(_number(data.get("pageSize", 20), "pageSize", positive=True, integer=True))
        if size > 100:
            raise Refusal(CODE_INVALID_FIELD, "pageSize 不能超过 100")
        code = str(data.get("medListCodg") or "")
        keyword = str(data.get("drugGenname") or "").strip()
        matches = [
            entry
            for entry in CATALOGUE
            if (not code or entry["medListCodg"] == code)
            and (not keyword or keyword in entry["drugGenname"] or keyword in entry["drugProdname"])
        ]
        start = (page - 1) * size
        return {
            "total": len(matches),
            "pageNum": page,
            "pageSize": size,
            "list": [dict(entry) for entry in matches[start : start + size]],
        }

    # -- review, pharmacy, notifications ---------------------------------------------

    def _schedule_review(self, hi_rxno: str) -> None:
        if self.review_mode != "auto":
            return
        timer = threading.Timer(self.review_delay_seconds, self._auto_review, args=(hi_rxno,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def auto_decision(self, rx: CentrePrescription) -> tuple[bool, str]:
        """Approve unless a row asks for too many days or too much (the rule of ``auto``)."""
        for index, drug in enumerate(rx.request.get("rxdrugdetail") or [], start=1):
            name = drug.get("drugGenname", "")
            days = float(drug.get("medcDays") or 0)
            if days > MAX_MEDICATION_DAYS:
                return False, (
                    f"第{index}行 {name} 用药天数 {int(days)} 天超过 {MAX_MEDICATION_DAYS} 天上限，"
                    "请核实后重新开具"
                )
            total = float(drug.get("drugTotlcnt") or 0)
            if total > MAX_TOTAL_COUNT:
                return False, (
                    f"第{index}行 {name} 开药总量 {total:g} 超过单张处方 {MAX_TOTAL_COUNT} 的上限"
                )
        return True, "处方合理，审核通过"

    def _auto_review(self, hi_rxno: str) -> None:
        with self._lock:
            rx = self._prescriptions.get(hi_rxno)
            if rx is None or rx.review_status != "01" or rx.status != "01":
                return
            approve, opinion = self.auto_decision(rx)
        self.review(hi_rxno, approve=approve, opinion=opinion)

    def review(self, hi_rxno: str, *, approve: bool, opinion: str) -> CentrePrescription:
        """The centre's pharmacist decides; the institution is notified."""
        with self._lock:
            rx = self._prescriptions.get(hi_rxno)
            if rx is None or not rx.uploaded:
                raise LookupError(f"没有已上传的处方 {hi_rxno}")
            if rx.review_status != "01":
                raise ValueError(f"处方 {hi_rxno} 已审核")
            if rx.status != "01":
                raise ValueError(f"处方 {hi_rxno} 状态为{self._status_name(rx)}，不能审核")
            rx.review_status = "02" if approve else "03"
            rx.review_opinion = opinion.strip() or ("审核通过" if approve else "审核不通过")
            rx.review_time = _stamp(_now())
            rx.reviewer = REVIEWER
            self._save_records()
            payload = {**self.review_of(rx), "fixmedinsCode": rx.fixmedins_code}
        self._notify(rx, Notification.REVIEW_RESULT, payload)
        return rx

    def pharmacy(self, hi_rxno: str, stage: str) -> CentrePrescription:
        """A pharmacy starts, completes or releases the settlement of a prescription."""
        notify = False
        with self._lock:
            rx = self._prescriptions.get(hi_rxno)
            if rx is None or not rx.uploaded:
                raise LookupError(f"没有已上传的处方 {hi_rxno}")
            if stage == "start" or (stage == "complete" and rx.used_status == "01"):
                if rx.status != "01" or rx.review_status != "02":
                    raise ValueError(
                        f"处方状态为{self._status_name(rx)}、审核状态为"
                        f"{self.profile.rx_review_status.get(rx.review_status, '')}，药店不能结算"
                    )
                if rx.used_status != "01":
                    raise ValueError("处方不在未取药状态")
                if _now() > rx.valid_until:
                    raise ValueError("处方已过有效期")
                rx.used_status = "03"
                rx.pharmacy = PHARMACIES[int(_sm3(rx.hi_rxno.encode())[0]) % len(PHARMACIES)]
            if stage == "complete":
                if rx.used_status != "03":
                    raise ValueError("处方不在药店结算中")
                rx.used_status = "02"
                rx.settled_time = _stamp(_now())
                rx.settled_items = self._settled_items(rx)
                if rx.revoke_pending:
                    # The drugs are out: the pending revoke fails.
                    rx.revoke_pending = False
                    rx.status = "01"
                notify = True
            elif stage == "release":
                if rx.used_status != "03":
                    raise ValueError("处方不在药店结算中")
                rx.used_status = "01"
                if rx.revoke_pending:
                    rx.revoke_pending = False
                    rx.status = "02"
                    notify = True
            elif stage != "start":
                raise ValueError("stage 应为 start、complete 或 release")
            self._save_records()
            payload = {**self.pickup_of(rx), "fixmedinsCode": rx.fixmedins_code}
        if notify:
            self._notify(rx, Notification.PICKUP_RESULT, payload)
        return rx

    def _settled_items(self, rx: CentrePrescription) -> list[dict[str, Any]]:
        items = []
        for index, drug in enumerate(rx.request.get("rxdrugdetail") or [], start=1):
            entry = CATALOGUE_BY_CODE.get(str(drug.get("medListCodg")), {})
            items.append(
                {
                    "medListCodg": drug.get("medListCodg"),
                    "drugGenname": entry.get("drugGenname", drug.get("drugGenname", "")),
                    "drugProdname": entry.get("drugProdname", ""),
                    "drugDosform": entry.get("drugDosform", ""),
                    "drugSpec": entry.get("drugSpec", ""),
                    "cnt": drug.get("drugTotlcnt") or drug.get("drugCnt"),
                    "aprvno": entry.get("aprvno", ""),
                    "bchno": f"B{rx.hi_rxno[-8:]}{index:02d}",
                    "manuLotnum": f"{_now():%y%m}{index:02d}{rx.hi_rxno[-4:]}",
                    "prdrName": entry.get("prdrName", ""),
                }
            )
        return items

    def _notify(self, rx: CentrePrescription, kind: Notification, payload: dict[str, Any]) -> None:
        app = self.state.apps.get(rx.app_id)
        if app is None or not app.notify_url:
            return
        with self._lock:
            if self.drop_notifications > 0:
                self.drop_notifications -= 1
                self.deliveries.append(
                    Delivery(kind.value, rx.hi_rxno, app.notify_url, 0, "dropped", time.time())
                )
                return
        thread = threading.Thread(
            target=self._deliver,
            args=(app, kind, payload, rx.hi_rxno),
            name=f"erx-notify-{rx.hi_rxno}",
            daemon=True,
        )
        thread.start()

    def _deliver(
        self, app: CentreApp, kind: Notification, payload: dict[str, Any], hi_rxno: str
    ) -> None:
        for attempt in range(1, self.notify_attempts + 1):
            outcome = self._send_notification(app, kind, payload)
            with self._lock:
                self.deliveries.append(
                    Delivery(kind.value, hi_rxno, app.notify_url, attempt, outcome, time.time())
                )
            if outcome == "delivered":
                return
            if attempt < self.notify_attempts:
                time.sleep(self.notify_backoff_seconds * 2 ** (attempt - 1))

    def _send_notification(
        self, app: CentreApp, kind: Notification, payload: dict[str, Any]
    ) -> str:
        envelope = seal(
            payload,
            credentials=app.credentials(),
            signing_key_hex=self._state.centre_private_key_hex,
            backend=self.backend,
            version=self.profile.version,
            enc_type=self.profile.enc_type,
            sign_type=self.profile.sign_type,
            extra_fields={"transType": kind.value},
        )
        try:
            response = httpx.post(
                app.notify_url,
                content=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=5.0,
                trust_env=False,
            )
        except httpx.HTTPError as error:
            return f"failed: {type(error).__name__}"
        try:
            answer = open_envelope(
                read_envelope(response.content),
                credentials=app.credentials(),
                verifying_key_hex=app.public_key_hex,
                backend=self.backend,
            )
        except EnvelopeError as error:
            return f"failed: HTTP {response.status_code} {error.message}"
        if answer.code != CODE_OK:
            return f"failed: code {answer.code} {answer.message}"
        return "delivered"


def _unsigned(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "success": False}


# --- HTTP -----------------------------------------------------------------------------


class _Handler(QuietHandler):
    simulator: ErxCentreSimulator
    server_version = "ErxCentreSimulator/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/simulator/review":
            page = _review_page(self.simulator, query.get("notice", ""))
            self.send_body(200, page.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == "/simulator/settings":
            self._json(200, self.simulator.settings())
        elif url.path in self.simulator._routes:
            self._json(405, {"code": 405, "message": "请使用 POST"})
        else:
            self._json(404, {"code": 404, "message": "接口不存在"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        raw = self.read_body()
        answer = self.simulator.handle(url.path, raw)
        if answer is not None:
            self._json(200, answer)
        elif url.path == "/simulator/pharmacy":
            try:
                rx = self.simulator.pharmacy(query.get("hiRxno", ""), query.get("stage", ""))
            except LookupError as error:
                self._json(404, {"message": str(error).strip("'\"")})
            except ValueError as error:
                self._json(409, {"message": str(error)})
            else:
                self._json(
                    200,
                    {
                        "hiRxno": rx.hi_rxno,
                        "rxStasCodg": rx.status,
                        "rxUsedStasCodg": rx.used_status,
                    },
                )
        elif url.path == "/simulator/review":
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            hi_rxno = form.get("hiRxno", "")
            try:
                decision = form.get("decision", "")
                if decision not in ("approve", "reject"):
                    raise ValueError("请选择通过或不通过")
                if decision == "reject" and not form.get("opinion", "").strip():
                    raise ValueError("审核不通过时请填写审核意见")
                self.simulator.review(
                    hi_rxno, approve=decision == "approve", opinion=form.get("opinion", "")
                )
                notice = f"处方 {hi_rxno} 已{'审核通过' if decision == 'approve' else '审核不通过'}"
            except (LookupError, ValueError) as error:
                notice = str(error).strip("'\"")
            self.send_body(
                303, b"", "text/plain", {"Location": f"/simulator/review?notice={quote(notice)}"}
            )
        elif url.path == "/simulator/settings":
            try:
                values = json.loads(raw or b"{}")
                if not isinstance(values, dict):
                    raise ValueError("设置应为 JSON 对象")
                self._json(200, self.simulator.update_settings(values))
            except (TypeError, ValueError) as error:
                self._json(400, {"message": str(error)})
        else:
            self._json(404, {"code": 404, "message": "接口不存在"})

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8")


ErxCentreSimulator.handler = _Handler

_PAGE_STYLE = """
body{font-family:"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6fa;color:#1d273b}
header{background:#1d4ed8;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
main{padding:20px 24px;max-width:1100px}
.notice{background:#e0f2fe;border:1px solid #7dd3fc;padding:10px 14px;margin-bottom:16px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #dce1e7;padding:8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#eef2f7}form{display:flex;gap:6px;flex-wrap:wrap;align-items:center}
input[type=text]{padding:4px 6px;min-width:180px}
button{padding:4px 12px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}
button.reject{background:#fff;color:#b91c1c;border-color:#b91c1c}.muted{color:#667382}
"""


def _review_page(simulator: ErxCentreSimulator, notice: str) -> str:
    escape = html.escape
    rows = []
    recent = []
    for rx in sorted(simulator.prescriptions(), key=lambda r: r.hi_rxno, reverse=True):
        if not rx.uploaded:
            continue
        drugs = "；".join(
            f"{d.get('drugGenname', '')} ×{d.get('drugTotlcnt') or d.get('drugCnt', '')}"
            f"（{d.get('medcDays', '')} 天）"
            for d in rx.request.get("rxdrugdetail") or []
        )
        cells = (
            f"<td>{escape(rx.hi_rxno)}</td><td>{escape(rx.fixmedins_name)}</td>"
            f"<td>{escape(mask_name(rx.patient_name))}</td><td>{escape(drugs)}</td>"
        )
        if rx.review_status == "01" and rx.status == "01":
            rows.append(
                f"<tr>{cells}<td><form method='post' action='/simulator/review'>"
                f"<input type='hidden' name='hiRxno' value='{escape(rx.hi_rxno)}'>"
                "<input type='text' name='opinion' placeholder='审核意见（不通过时必填）'>"
                "<button name='decision' value='approve'>通过</button>"
                "<button class='reject' name='decision' value='reject'>不通过</button>"
                "</form></td></tr>"
            )
        else:
            status = simulator.profile.rx_review_status.get(rx.review_status, "")
            recent.append(
                f"<tr>{cells}<td>{escape(status)} {escape(rx.review_opinion)}"
                f"<span class='muted'> {escape(rx.review_time)}</span></td></tr>"
            )
    head = "<tr><th>医保处方编号</th><th>机构</th><th>患者</th><th>药品</th><th>审核</th></tr>"
    pending = "".join(rows) or "<tr><td colspan='5' class='muted'>暂无待审核处方</td></tr>"
    done = "".join(recent[:50]) or "<tr><td colspan='5' class='muted'>暂无</td></tr>"
    mode = "自动审核" if simulator.review_mode == "auto" else "人工审核"
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>医保电子处方中心（模拟）· 处方审核</title><style>{_PAGE_STYLE}</style></head>"
        "<body><header><h1>医保电子处方中心（模拟）· 审方药师工作台</h1></header><main>"
        + (f"<div class='notice'>{escape(notice)}</div>" if notice else "")
        + f"<p class='muted'>当前审核方式：{mode}。患者姓名已脱敏。</p>"
        f"<h2>待审核</h2><table>{head}{pending}</table>"
        f"<h2>已处理</h2><table>{head}{done}</table></main></body></html>"
    )
