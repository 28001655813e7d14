"""A local stand-in for the three supervision sources, serving synthetic days (SB-1).

Wire format (what collection reads; common contract):

- ``GET /public-account/v1/feeds/{dataset}?date=YYYY-MM-DD`` for ``pa_registrations``,
  ``pa_realname``, ``pa_sessions``, ``pa_module_visits``;
  ``GET /internet-hospital/v1/feeds/{dataset}?date=YYYY-MM-DD`` for ``consultations``,
  ``proxy_medication``, ``renewals``, ``care_orders`` → 200, body = gzip-compressed
  UTF-8 CSV (header = declared columns in order, empty field = null, local times
  ``yyyy-MM-dd HH:mm:ss``, ``true``/``false``), headers ``X-Content-SM3`` (hex SM3 of
  the body bytes) and ``X-Row-Count``.
- ``GET /regional/v1/files/{YYYY-MM-DD}/`` → JSON list of the day's files
  ``[{"name": "appointments-YYYYMMDD.csv.gz", "dataset", "sm3", "rows", "size"}]``;
  ``GET /regional/v1/files/{YYYY-MM-DD}/{name}`` → the file's bytes (same headers).
- Unknown dataset or file, or a day outside ``[first_day, last_day]`` → 404
  ``{"message": ...}`` (Chinese); a malformed date → 400.
- ``POST /simulator/outage`` with ``{"down": true}`` makes every feed answer 503 until
  ``{"down": false}``; ``GET /simulator/outage`` tells the current mode.

Days are generated on demand by :mod:`.synthetic` and kept in a small LRU cache, so a
re-fetch (retry, checksum mismatch test) costs nothing and memory stays bounded.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes

from jingan.integrations.feeds import synthetic
from jingan.lib.simulator import QuietHandler, SimulatorServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEED_PATHS = {
    "public-account": synthetic.PUBLIC_ACCOUNT_DATASETS,
    "internet-hospital": synthetic.INTERNET_HOSPITAL_DATASETS,
}
CACHE_SIZE = 48


def sm3_hex(data: bytes) -> str:
    """Hex SM3 digest (GB/T 32905) of ``data``; hashlib has no SM3."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def regional_file_name(dataset: str, day: date) -> str:
    return f"{dataset}-{day:%Y%m%d}.csv.gz"


@dataclass(frozen=True)
class FeedFile:
    """One generated day of one dataset, as served."""

    dataset: str
    day: date
    body: bytes
    rows: int
    sm3: str


class FeedSimulator(SimulatorServer):
    """The public account, internet hospital and regional file feeds on one port.

    ``last_day=None`` means "yesterday" (Shanghai time), evaluated per request, so a
    simulator left running beside ``jingan serve`` offers each new day as it completes.
    """

    thread_name = "feed-simulator"

    def __init__(
        self,
        *,
        scale: synthetic.Scale = "small",
        seed: int = 20260101,
        first_day: date = synthetic.LAUNCH,
        last_day: date | None = None,
    ) -> None:
        super().__init__()
        self.scale: synthetic.Scale = scale
        self.seed = seed
        self.first_day = first_day
        self._last_day = last_day
        self.down = False
        self._cache: OrderedDict[tuple[str, date], FeedFile] = OrderedDict()
        self._lock = threading.Lock()
        # Generation shares numpy work and lru caches: one day at a time is fastest anyway.
        self._generate_lock = threading.Lock()
        self.requests = 0

    @property
    def last_day(self) -> date:
        if self._last_day is not None:
            return self._last_day
        return datetime.now(SHANGHAI).date() - timedelta(days=1)

    def serves(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def set_outage(self, down: bool) -> None:
        self.down = down

    def feed_file(self, dataset: str, day: date) -> FeedFile:
        """The served file for ``dataset`` on ``day`` (cached)."""
        key = (dataset, day)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        with self._generate_lock:
            table = synthetic.generate(dataset, day, scale=self.scale, seed=self.seed)
            body = synthetic.to_csv_gz(table)
        made = FeedFile(dataset, day, body, table.num_rows, sm3_hex(body))
        with self._lock:
            self._cache[key] = made
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return made


class _FeedHandler(QuietHandler):
    simulator: ClassVar[FeedSimulator]

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_body(status, body, "application/json; charset=utf-8")

    def _file(self, made: FeedFile, name: str) -> None:
        self.send_body(
            200,
            made.body,
            "application/gzip",
            {
                "X-Content-SM3": made.sm3,
                "X-Row-Count": str(made.rows),
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )

    def _day(self, text: str | None) -> date | None:
        if not text:
            self._json(400, {"message": "缺少参数 date（格式 YYYY-MM-DD）"})
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            self._json(400, {"message": f"日期格式错误：{text}（应为 YYYY-MM-DD）"})
            return None
        if not self.simulator.serves(day):
            self._json(
                404,
                {
                    "message": f"{day.isoformat()} 的数据不存在（可提供 "
                    f"{self.simulator.first_day.isoformat()} 至 "
                    f"{self.simulator.last_day.isoformat()}）"
                },
            )
            return None
        return day

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.simulator.requests += 1
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["simulator", "outage"]:
            self._json(200, {"down": self.simulator.down})
            return
        if self.simulator.down:
            self._json(503, {"message": "数据源维护中，请稍后重试"})
            return
        if len(parts) == 4 and parts[0] in FEED_PATHS and parts[1:3] == ["v1", "feeds"]:
            self._feed(parts[0], parts[3], parse_qs(url.query).get("date", [None])[0])
            return
        if len(parts) in (4, 5) and parts[:3] == ["regional", "v1", "files"]:
            day = self._day(parts[3])
            if day is None:
                return
            if len(parts) == 4:
                self._regional_list(day)
            else:
                self._regional_file(day, parts[4])
            return
        self._json(404, {"message": f"接口不存在：{url.path}"})

    def _feed(self, source: str, dataset: str, day_text: str | None) -> None:
        if dataset not in FEED_PATHS[source]:
            self._json(404, {"message": f"未知数据集：{dataset}"})
            return
        day = self._day(day_text)
        if day is None:
            return
        self._file(self.simulator.feed_file(dataset, day), regional_file_name(dataset, day))

    def _regional_list(self, day: date) -> None:
        listing = []
        for dataset in synthetic.REGIONAL_DATASETS:
            made = self.simulator.feed_file(dataset, day)
            listing.append(
                {
                    "name": regional_file_name(dataset, day),
                    "dataset": dataset,
                    "sm3": made.sm3,
                    "rows": made.rows,
                    "size": len(made.body),
                }
            )
        self._json(200, listing)

    def _regional_file(self, day: date, name: str) -> None:
        for dataset in synthetic.REGIONAL_DATASETS:
            if name == regional_file_name(dataset, day):
                self._file(self.simulator.feed_file(dataset, day), name)
                return
        self._json(404, {"message": f"文件不存在：{name}"})

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/simulator/outage":
            self._json(404, {"message": f"接口不存在：{url.path}"})
            return
        try:
            payload = json.loads(self.read_body() or b"{}")
            down = payload["down"]
        except (ValueError, KeyError, TypeError):
            self._json(400, {"message": '请求体应为 JSON：{"down": true|false}'})
            return
        if not isinstance(down, bool):
            self._json(400, {"message": "down 应为 true 或 false"})
            return
        self.simulator.set_outage(down)
        self._json(200, {"down": down})


FeedSimulator.handler = _FeedHandler
