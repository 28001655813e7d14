"""Dialect D adapter: poll the HIS's read-only view ``V_PT_JZZT`` with a watermark.

Chinese HIS vendors grant the platform a read-only account on a few views (中间视图);
we read rows after the stored watermark ``(GXSJ, LSH)`` (update time, then serial),
oldest first, a limited batch at a time, and store the last row read as the new
watermark. A transaction in the HIS may commit after rows with later update times
were read (a late commit); every poll therefore re-reads an overlap window (the last
two minutes before the watermark by default). Re-read rows are harmless: the journal
ignores a serial it already holds.

Databases: ``sqlite:///<path>`` (an embedded HIS, and the simulator; opened read-only)
and ``postgresql://user@host/db`` (psycopg; the session is read-only). Plain DB-API
with parameters; nothing but SELECT is ever sent.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jingan.integrations.his.port import (
    ConnectionTestResult,
    HisEvent,
    HisUnavailable,
    MessageRejected,
    PollResult,
)
from jingan.integrations.his.views.codec import COLUMNS, his_time, parse_row

__all__ = ["DatabaseTarget", "ViewsHis", "parse_database_url"]

DEFAULT_VIEW = "V_PT_JZZT"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the views are: a SQLite file or a PostgreSQL connection URL."""

    kind: str  # "sqlite" | "postgresql"
    location: str  # the file path, or the URL as given

    @property
    def display(self) -> str:
        """Where, for messages: the path, or host/database without credentials."""
        if self.kind == "sqlite":
            return self.location
        parts = urlsplit(self.location)
        return f"{parts.hostname or 'localhost'}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def parse_database_url(url: str) -> DatabaseTarget:
    """The target of ``url``; ``ValueError`` with a Chinese message when it is not one we read."""
    text = (url or "").strip()
    if text.startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path or path.endswith("/"):
            raise ValueError("SQLite 地址须写成 sqlite:///数据库文件路径")
        return DatabaseTarget("sqlite", path)
    if text.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(text)
        if not parts.hostname or parts.path in ("", "/"):
            raise ValueError("PostgreSQL 地址须写成 postgresql://用户@主机:端口/数据库")
        return DatabaseTarget("postgresql", text)
    raise ValueError("数据库视图地址须以 sqlite:/// 或 postgresql:// 开头")


class ViewsHis:
    """A HIS whose views the platform polls (``PolledHis``, dialect D)."""

    def __init__(
        self,
        database_url: str,
        *,
        password: str | None = None,
        view: str = DEFAULT_VIEW,
        overlap: timedelta = timedelta(minutes=2),
        overlap_limit: int = 5000,
        timeout: float = 5.0,
    ) -> None:
        if not _IDENTIFIER.match(view):
            raise ValueError(f"not a view name: {view!r}")
        self.target = parse_database_url(database_url)
        self.password = password or None
        self.view = view
        self.overlap = overlap
        self.overlap_limit = overlap_limit
        self.timeout = timeout
        # Whether the last poll stopped at its limit (more rows are waiting after it).
        self.more_waiting = False

    # -- PolledHis --------------------------------------------------------------------

    def poll(self, institution_code: str, watermark: str, *, limit: int = 500) -> PollResult:
        """Rows after ``watermark`` (``"<GXSJ>|<LSH>"``, ``""`` = from the start) plus the
        overlap window before it, as events; rows we cannot take come back as rejected."""
        after = _parse_watermark(watermark)
        columns = ", ".join(COLUMNS)
        with self._session() as session:
            p = session.placeholder
            if after is None:
                fresh = session.fetch(
                    f"SELECT {columns} FROM {self.view} WHERE JGDM = {p}"
                    f" ORDER BY GXSJ, LSH LIMIT {p}",
                    (institution_code, limit),
                )
                overlap: list[dict[str, Any]] = []
            else:
                updated_text, serial = after
                updated = session.time_parameter(updated_text)
                fresh = session.fetch(
                    f"SELECT {columns} FROM {self.view} WHERE JGDM = {p}"
                    f" AND (GXSJ, LSH) > ({p}, {p}) ORDER BY GXSJ, LSH LIMIT {p}",
                    (institution_code, updated, serial, limit),
                )
                since = his_time(datetime.fromisoformat(updated_text) - self.overlap)
                overlap = session.fetch(
                    f"SELECT {columns} FROM {self.view} WHERE JGDM = {p} AND GXSJ >= {p}"
                    f" AND (GXSJ, LSH) <= ({p}, {p}) ORDER BY GXSJ, LSH LIMIT {p}",
                    (
                        institution_code,
                        session.time_parameter(since),
                        updated,
                        serial,
                        self.overlap_limit,
                    ),
                )
        events: list[HisEvent] = []
        rejected: list[tuple[str, MessageRejected]] = []
        for row in [*overlap, *fresh]:
            raw = json.dumps(row, ensure_ascii=False)
            try:
                events.extend(parse_row(raw))
            except MessageRejected as error:
                rejected.append((raw, error))
        self.more_waiting = len(fresh) >= limit
        new_watermark = watermark
        if fresh:
            last = fresh[-1]
            new_watermark = f"{last['GXSJ']}|{last['LSH']}"
        return PollResult(events=events, rejected=rejected, watermark=new_watermark)

    def test_connection(self, institution_code: str) -> ConnectionTestResult:
        """Open the database and count the institution's rows in the view."""
        started = time.monotonic()
        try:
            with self._session() as session:
                rows = session.fetch(
                    f"SELECT count(*) AS N FROM {self.view} WHERE JGDM = {session.placeholder}",
                    (institution_code,),
                )
        except HisUnavailable as error:
            return ConnectionTestResult(False, str(error), _elapsed_ms(started))
        count = int(rows[0]["N"]) if rows else 0
        return ConnectionTestResult(
            True,
            f"连接正常：视图 {self.view} 可读，本机构共有 {count} 条就诊状态记录",
            _elapsed_ms(started),
        )

    # -- databases --------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        where = self.target.display
        opener = _open_sqlite if self.target.kind == "sqlite" else _open_postgresql
        try:
            session = opener(self.target.location, self.password, self.timeout)
        except HisUnavailable:
            raise
        except Exception as error:
            raise HisUnavailable(f"无法连接 HIS 数据库（{where}）：{_first_line(error)}") from None
        try:
            yield session
        except HisUnavailable:
            raise
        except Exception as error:
            if not session.is_database_error(error):
                raise
            raise HisUnavailable(
                f"读取 HIS 数据库视图 {self.view} 失败（{where}）：{_first_line(error)}"
            ) from None
        finally:
            session.close()


class _Session:
    """One read-only connection and how to talk to it (placeholders, time parameters)."""

    def __init__(
        self,
        connection: Any,
        *,
        placeholder: str,
        time_parameter: Callable[[str], Any],
        database_errors: tuple[type[BaseException], ...],
    ) -> None:
        self.connection = connection
        self.placeholder = placeholder
        self.time_parameter = time_parameter
        self.database_errors = database_errors

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, tuple(parameters))
            names = [str(column[0]).upper() for column in cursor.description]
            return [
                {name: _plain(value) for name, value in zip(names, values, strict=True)}
                for values in cursor.fetchall()
            ]
        finally:
            cursor.close()

    def is_database_error(self, error: BaseException) -> bool:
        return isinstance(error, self.database_errors)

    def close(self) -> None:
        # Closing a broken connection may fail again; there is nothing left to do then.
        with suppress(Exception):
            self.connection.close()


def _open_sqlite(path: str, password: str | None, timeout: float) -> _Session:
    file = Path(path).absolute()
    # mode=ro: the platform never writes to a HIS database, and a missing file is an
    # error rather than a new empty database.
    connection = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True, timeout=timeout)
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        connection.close()
        raise
    # SQLite keeps times as text: compare with the stored text as it is.
    return _Session(
        connection,
        placeholder="?",
        time_parameter=lambda text: text,
        database_errors=(sqlite3.Error,),
    )


def _open_postgresql(url: str, password: str | None, timeout: float) -> _Session:
    import psycopg

    options = (
        "-c default_transaction_read_only=on"
        f" -c statement_timeout={int(timeout * 1000)} -c TimeZone=Asia/Shanghai"
    )
    extra: dict[str, Any] = {"password": password} if password else {}
    connection = psycopg.connect(
        url, connect_timeout=max(1, round(timeout)), options=options, autocommit=True, **extra
    )
    return _Session(
        connection,
        placeholder="%s",
        time_parameter=lambda text: datetime.fromisoformat(text).replace(tzinfo=None),
        database_errors=(psycopg.Error,),
    )


def _plain(value: Any) -> Any:
    """A database value as JSON: times in the HIS's text form, decimals as text."""
    if isinstance(value, datetime):
        return his_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def _parse_watermark(watermark: str) -> tuple[str, str] | None:
    if not watermark:
        return None
    updated, separator, serial = watermark.partition("|")
    try:
        datetime.fromisoformat(updated)
    except ValueError:
        separator = ""
    if not separator:
        raise ValueError(f"not a view watermark: {watermark!r}")
    return updated, serial


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
