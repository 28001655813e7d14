"""A tiny local HTTP server speaking the feed wire format (common7 contract).

It serves exactly the bytes a test puts in ``feeds[(dataset, day)]`` with the SM3 and
row-count headers the source would send, so collector tests pin the wire contract
independently of the synthetic generator. ``down = True`` answers 503 like the
simulator's outage mode; ``sm3_override`` sends a wrong digest (a tampered body).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from jingan.core.public import sm3_hex

PUBLIC_ACCOUNT = "/public-account/v1/feeds/"
INTERNET_HOSPITAL = "/internet-hospital/v1/feeds/"
REGIONAL = "/regional/v1/files/"


def csv_gz(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A feed body: UTF-8 CSV with a header row, empty field = null, gzip-compressed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0)


@dataclass
class FeedDouble:
    feeds: dict[tuple[str, date], bytes] = field(default_factory=dict)
    rows: dict[tuple[str, date], int] = field(default_factory=dict)
    sm3_override: dict[tuple[str, date], str] = field(default_factory=dict)
    down: bool = False
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def put(
        self, dataset: str, day: date, header: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> bytes:
        body = csv_gz(header, rows)
        self.feeds[(dataset, day)] = body
        self.rows[(dataset, day)] = len(rows)
        return body

    def handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any) -> None:
                body = json.dumps(value, ensure_ascii=False).encode()
                self._send(status, body, {"Content-Type": "application/json"})

            def _file(self, key: tuple[str, date]) -> None:
                body = double.feeds[key]
                self._send(
                    200,
                    body,
                    {
                        "Content-Type": "application/gzip",
                        "X-Content-SM3": double.sm3_override.get(key, sm3_hex(body)),
                        "X-Row-Count": str(double.rows[key]),
                    },
                )

            def do_GET(self) -> None:
                double.requests.append(self.path)
                if double.down:
                    self._json(503, {"message": "数据源维护中"})
                    return
                parsed = urlparse(self.path)
                for prefix in (PUBLIC_ACCOUNT, INTERNET_HOSPITAL):
                    if parsed.path.startswith(prefix):
                        name = parsed.path.removeprefix(prefix)
                        day = date.fromisoformat(parse_qs(parsed.query)["date"][0])
                        if (name, day) not in double.feeds:
                            self._json(404, {"message": f"未知数据集或日期：{name}"})
                            return
                        self._file((name, day))
                        return
                if parsed.path.startswith(REGIONAL):
                    parts = parsed.path.removeprefix(REGIONAL).strip("/").split("/")
                    day = date.fromisoformat(parts[0])
                    files = {
                        f"{name}-{d:%Y%m%d}.csv.gz": (name, d)
                        for (name, d) in double.feeds
                        if d == day
                    }
                    if len(parts) == 1:
                        self._json(
                            200,
                            [
                                {
                                    "name": filename,
                                    "dataset": key[0],
                                    "sm3": double.sm3_override.get(key, sm3_hex(double.feeds[key])),
                                    "rows": double.rows[key],
                                    "size": len(double.feeds[key]),
                                }
                                for filename, key in sorted(files.items())
                            ],
                        )
                        return
                    if parts[1] in files:
                        self._file(files[parts[1]])
                        return
                self._json(404, {"message": "未找到"})

        return Handler


@contextmanager
def running_feed_double() -> Iterator[FeedDouble]:
    double = FeedDouble()
    server = ThreadingHTTPServer(("127.0.0.1", 0), double.handler())
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()
