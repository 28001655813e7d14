"""A dialect D HIS: one SQLite database per institution, with the HIS's own tables and the
read-only view the platform polls.

What a vendor's interface program does in a real hospital, this simulator does on
``emit``: in one transaction it updates the business tables (patients, the visit, the
node's own table such as ``MZ_GHMX`` registrations or ``YJ_SQD`` lab/exam orders) and
appends one row to the interface log ``PT_ZTRZ``; the view ``V_PT_JZZT`` joins the log
with the patient master. Emitting an event whose serial (``LSH`` = the event's
``source_event_id``) is already logged touches the row's update time ``GXSJ`` instead:
the platform reads the same serial again, a duplicate. ``late_by_seconds`` writes a row
whose ``GXSJ`` lies in the past, as a transaction that committed late does; the poller's
overlap window must still find it.

An outage takes the database away (the file is renamed to ``<code>.sqlite.offline``):
the HIS keeps writing to it, the platform cannot open it, and once the outage ends every
row written meanwhile is there to be read.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jingan.integrations.his.port import EventKind, HisEvent
from jingan.integrations.his.views.codec import (
    COLUMNS,
    COMMON_DETAILS,
    HIS_ZONE,
    NODE_DETAILS,
    his_time,
    translate,
)

__all__ = ["NODE_TABLES", "VENDOR_CODES", "VIEW", "ViewsHisSimulator"]

# The HIS's own dictionary of node types and status codes (its vendor documentation);
# the platform's codec keeps its own table, and a test checks that the two agree.
VENDOR_CODES: dict[tuple[str, str], tuple[str, str]] = {
    ("appointment", "booked"): ("01", "0"),
    ("appointment", "fulfilled"): ("01", "1"),
    ("appointment", "cancelled"): ("01", "7"),
    ("appointment", "no_show"): ("01", "9"),
    ("registration", "unpaid"): ("02", "0"),
    ("registration", "registered"): ("02", "1"),
    ("registration", "cancelled"): ("02", "7"),
    ("check_in", "pending"): ("03", "0"),
    ("check_in", "checked_in"): ("03", "1"),
    ("waiting", "waiting"): ("04", "0"),
    ("waiting", "called"): ("04", "1"),
    ("waiting", "passed"): ("04", "2"),
    ("consultation", "in_progress"): ("05", "5"),
    ("consultation", "finished"): ("05", "8"),
    ("payment", "unpaid"): ("06", "0"),
    ("payment", "paid"): ("06", "1"),
    ("payment", "refunded"): ("06", "2"),
    ("lab_exam", "ordered"): ("07", "0"),
    ("lab_exam", "in_progress"): ("07", "1"),
    ("lab_exam", "reported"): ("07", "2"),
    ("lab_exam", "cancelled"): ("07", "7"),
    ("pharmacy", "preparing"): ("08", "0"),
    ("pharmacy", "ready"): ("08", "1"),
    ("pharmacy", "dispensed"): ("08", "2"),
    ("follow_up", "pending"): ("09", "0"),
    ("follow_up", "completed"): ("09", "1"),
}

# Each node's business table and its status column.
NODE_TABLES: dict[str, tuple[str, str]] = {
    "appointment": ("MZ_YYXX", "YYZT"),  # 预约信息 / 预约状态
    "registration": ("MZ_GHMX", "JLZT"),  # 挂号明细 / 记录状态
    "check_in": ("MZ_QDJL", "QDZT"),  # 签到记录 / 签到状态
    "waiting": ("MZ_HZDL", "HZZT"),  # 候诊队列 / 候诊状态
    "consultation": ("MZ_JZJL", "JZZT"),  # 就诊记录 / 就诊状态
    "payment": ("MZ_SFMX", "SFZT"),  # 收费明细 / 收费状态
    "lab_exam": ("YJ_SQD", "SQDZT"),  # 医技申请单 / 申请单状态
    "pharmacy": ("YF_FYMX", "FYZT"),  # 药房发药明细 / 发药状态
    "follow_up": ("SF_WJ", "WJZT"),  # 随访问卷 / 问卷状态
}

VIEW = "V_PT_JZZT"
# The interface log's columns (patient data is joined in by the view, not logged).
LOG_COLUMNS = (
    "LSH",
    "JGDM",
    "JZHM",
    "JDLX",
    "ZTDM",
    "XMBH",
    "FSSJ",
    "GXSJ",
    "CZLX",
    "YLSH",
    "KSDM",
    "KSMC",
    "YSXM",
    "MX",
)

_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS MZ_BRXX (            -- 病人信息
    BRID INTEGER PRIMARY KEY AUTOINCREMENT,
    XM TEXT NOT NULL DEFAULT '',
    SFZH TEXT NOT NULL DEFAULT '',
    KH TEXT NOT NULL DEFAULT '',
    JDSJ DATETIME NOT NULL                      -- 建档时间
);
CREATE UNIQUE INDEX IF NOT EXISTS UX_MZ_BRXX ON MZ_BRXX (XM, SFZH, KH);
CREATE TABLE IF NOT EXISTS MZ_JZXX (            -- 就诊信息
    JZHM TEXT PRIMARY KEY,
    JGDM TEXT NOT NULL,
    BRID INTEGER REFERENCES MZ_BRXX (BRID),
    KSDM TEXT, KSMC TEXT, YSXM TEXT,
    CJSJ DATETIME NOT NULL,
    GXSJ DATETIME NOT NULL
);
CREATE TABLE IF NOT EXISTS PT_ZTRZ (            -- 平台接口状态日志
    LSH TEXT PRIMARY KEY,
    JGDM TEXT NOT NULL,
    JZHM TEXT NOT NULL,
    JDLX TEXT NOT NULL,
    ZTDM TEXT NOT NULL,
    XMBH TEXT NOT NULL DEFAULT '',
    FSSJ DATETIME NOT NULL,
    GXSJ DATETIME NOT NULL,
    CZLX INTEGER NOT NULL DEFAULT 0,
    YLSH TEXT,
    KSDM TEXT, KSMC TEXT, YSXM TEXT,
    MX TEXT
);
CREATE INDEX IF NOT EXISTS IX_PT_ZTRZ_GXSJ ON PT_ZTRZ (JGDM, GXSJ, LSH);
CREATE VIEW IF NOT EXISTS V_PT_JZZT AS
    SELECT r.LSH, r.JGDM, r.JZHM, r.JDLX, r.ZTDM, r.XMBH, r.FSSJ, r.GXSJ, r.CZLX, r.YLSH,
           b.XM, b.SFZH, b.KH, r.KSDM, r.KSMC, r.YSXM, r.MX
      FROM PT_ZTRZ r
      LEFT JOIN MZ_JZXX j ON j.JZHM = r.JZHM
      LEFT JOIN MZ_BRXX b ON b.BRID = j.BRID;
"""


def _detail_columns(node: str) -> list[str]:
    return [rule if isinstance(rule, str) else rule[0] for rule in NODE_DETAILS[node].values()]


def _schema() -> str:
    tables = []
    for node, (table, status_column) in NODE_TABLES.items():
        details = "".join(f"    {column} TEXT,\n" for column in _detail_columns(node))
        tables.append(
            f"CREATE TABLE IF NOT EXISTS {table} (\n"
            "    JZHM TEXT NOT NULL,\n"
            "    XMBH TEXT NOT NULL DEFAULT '',\n"
            f"    {status_column} TEXT NOT NULL,\n"
            f"{details}"
            "    CJSJ DATETIME NOT NULL,\n"
            "    GXSJ DATETIME NOT NULL,\n"
            "    PRIMARY KEY (JZHM, XMBH)\n"
            ");"
        )
    return _BASE_SCHEMA + "\n".join(tables)


SCHEMA = _schema()


class ViewsHisSimulator:
    """Dialect D for any number of institutions: ``<directory>/<code>.sqlite`` each."""

    dialect = "D"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._down: set[str] = set()

    # -- DialectSimulator ------------------------------------------------------------

    def start(self) -> None:
        """Create the directory; a database left offline by an earlier run comes back."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for offline in self.directory.glob("*.sqlite.offline"):
                online = offline.with_suffix("")
                if not online.exists():
                    offline.rename(online)
            self._down.clear()

    def stop(self) -> None:
        # Nothing runs in the background: each emit opens and closes its connection.
        return

    def emit(self, event: HisEvent, *, late_by_seconds: float = 0.0) -> None:
        """Record ``event`` the way the HIS does (see the module docstring)."""
        with self._lock, self._connect(event.institution_code) as connection:
            # Stamped under the lock: rows commit in GXSJ order unless asked to be late.
            updated = his_time(datetime.now(HIS_ZONE) - timedelta(seconds=late_by_seconds))
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._record(connection, event, updated)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def set_outage(self, institution_code: str | None, down: bool) -> None:
        with self._lock:
            codes = [institution_code] if institution_code else self._known_codes()
            for code in codes:
                self.ensure_database(code)
                online, offline = self._online_path(code), self._offline_path(code)
                if down and code not in self._down:
                    online.rename(offline)
                    self._down.add(code)
                elif not down and code in self._down:
                    offline.rename(online)
                    self._down.discard(code)

    def pending(self) -> int:
        # A polled dialect holds nothing back: every row is in the database.
        return 0

    # -- helpers for the clinic day, the console demo and tests ---------------------

    def database_url(self, institution_code: str) -> str:
        return f"sqlite:///{self._online_path(institution_code).absolute()}"

    def ensure_database(self, institution_code: str) -> Path:
        """Create the institution's database with its tables and view if it has none yet."""
        with self._lock, self._connect(institution_code):
            pass
        return self._path(institution_code)

    def insert_log_row(self, institution_code: str, row: Mapping[str, Any]) -> None:
        """Append a raw row to the interface log, as a faulty interface program might."""
        columns = [column.upper() for column in row]
        unknown = sorted(set(columns) - set(LOG_COLUMNS))
        if unknown:
            raise ValueError(f"PT_ZTRZ has no column {', '.join(unknown)}")
        placeholders = ", ".join("?" for _ in columns)
        with self._lock, self._connect(institution_code) as connection:
            connection.execute(
                f"INSERT INTO PT_ZTRZ ({', '.join(columns)}) VALUES ({placeholders})",
                list(row.values()),
            )

    def view_rows(self, institution_code: str) -> list[dict[str, Any]]:
        """Every row of the view, oldest first (for tests and the console demo)."""
        with self._lock, self._connect(institution_code) as connection:
            cursor = connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {VIEW} ORDER BY GXSJ, LSH"
            )
            return [dict(zip(COLUMNS, values, strict=True)) for values in cursor.fetchall()]

    # -- internals --------------------------------------------------------------------

    def _online_path(self, code: str) -> Path:
        return self.directory / f"{code}.sqlite"

    def _offline_path(self, code: str) -> Path:
        return self.directory / f"{code}.sqlite.offline"

    def _path(self, code: str) -> Path:
        return self._offline_path(code) if code in self._down else self._online_path(code)

    def _known_codes(self) -> list[str]:
        names = {path.name.split(".")[0] for path in self.directory.glob("*.sqlite*")}
        return sorted(name for name in names if name)

    def _connect(self, code: str) -> _Connection:
        if not code or not code.isalnum():
            raise ValueError(f"institution code {code!r} is not a plain code")
        self.directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path(code), timeout=10.0, isolation_level=None)
        has_view = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = ?", (VIEW,)
        ).fetchone()
        if not has_view:
            connection.executescript(SCHEMA)
        return _Connection(connection)

    def _record(self, connection: sqlite3.Connection, event: HisEvent, updated: str) -> None:
        serial = event.source_event_id
        if connection.execute("SELECT 1 FROM PT_ZTRZ WHERE LSH = ?", (serial,)).fetchone():
            # The interface program sends the same record again: same serial, new GXSJ.
            connection.execute("UPDATE PT_ZTRZ SET GXSJ = ? WHERE LSH = ?", (updated, serial))
            return
        codes = VENDOR_CODES.get((event.node, event.status))
        if codes is None and event.kind == EventKind.VOID:
            # A void names the row it withdraws; the log repeats that row's codes.
            found = connection.execute(
                "SELECT JDLX, ZTDM FROM PT_ZTRZ WHERE LSH = ?", (event.target_event_id,)
            ).fetchone()
            codes = (str(found[0]), str(found[1])) if found else None
        if codes is None:
            raise ValueError(f"the HIS has no code for {event.node}/{event.status}")
        patient_id = self._patient(connection, event, updated)
        common = {
            column: str(event.payload.get(key) or "") for key, column in COMMON_DETAILS.items()
        }
        self._visit(connection, event, patient_id, common, updated)
        details = translate(dict(event.payload), NODE_DETAILS[event.node], reverse=True)
        if event.kind != EventKind.VOID:
            self._business_row(connection, event, codes[1], details, updated)
        operation = {EventKind.EVENT: 0, EventKind.CORRECTION: 1, EventKind.VOID: 2}[
            EventKind(event.kind)
        ]
        connection.execute(
            "INSERT INTO PT_ZTRZ (LSH, JGDM, JZHM, JDLX, ZTDM, XMBH, FSSJ, GXSJ, CZLX, YLSH,"
            " KSDM, KSMC, YSXM, MX) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                serial,
                event.institution_code,
                event.visit_key,
                codes[0],
                codes[1],
                event.item,
                his_time(event.occurred_at),
                updated,
                operation,
                event.target_event_id or None,
                common["KSDM"] or None,
                common["KSMC"] or None,
                common["YSXM"] or None,
                json.dumps(details, ensure_ascii=False) if details else None,
            ),
        )

    def _patient(self, connection: sqlite3.Connection, event: HisEvent, now: str) -> int | None:
        patient = event.patient
        if not (patient.name or patient.id_number or patient.card_number):
            return None
        key = (patient.name, patient.id_number, patient.card_number)
        connection.execute(
            "INSERT OR IGNORE INTO MZ_BRXX (XM, SFZH, KH, JDSJ) VALUES (?, ?, ?, ?)", (*key, now)
        )
        found = connection.execute(
            "SELECT BRID FROM MZ_BRXX WHERE XM = ? AND SFZH = ? AND KH = ?", key
        ).fetchone()
        return int(found[0])

    def _visit(
        self,
        connection: sqlite3.Connection,
        event: HisEvent,
        patient_id: int | None,
        common: Mapping[str, str],
        now: str,
    ) -> None:
        connection.execute(
            "INSERT OR IGNORE INTO MZ_JZXX (JZHM, JGDM, CJSJ, GXSJ) VALUES (?, ?, ?, ?)",
            (event.visit_key, event.institution_code, now, now),
        )
        # The visit keeps the registering department: later nodes (labs, pharmacy) do not
        # move it, and only fill it in when it is still empty.
        connection.execute(
            "UPDATE MZ_JZXX SET BRID = COALESCE(?, BRID),"
            " KSDM = COALESCE(KSDM, NULLIF(?, '')), KSMC = COALESCE(KSMC, NULLIF(?, '')),"
            " YSXM = COALESCE(YSXM, NULLIF(?, '')), GXSJ = ? WHERE JZHM = ?",
            (
                patient_id,
                common["KSDM"],
                common["KSMC"],
                common["YSXM"],
                now,
                event.visit_key,
            ),
        )

    def _business_row(
        self,
        connection: sqlite3.Connection,
        event: HisEvent,
        status_code: str,
        details: Mapping[str, Any],
        now: str,
    ) -> None:
        table, status_column = NODE_TABLES[event.node]
        values = {
            column: _column_value(details[column])
            for column in _detail_columns(event.node)
            if column in details
        }
        columns = ["JZHM", "XMBH", status_column, *values, "CJSJ", "GXSJ"]
        updates = [status_column, *values, "GXSJ"]
        connection.execute(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})"
            f" ON CONFLICT (JZHM, XMBH) DO UPDATE SET"
            f" {', '.join(f'{column} = excluded.{column}' for column in updates)}",
            [event.visit_key, event.item, status_code, *values.values(), now, now],
        )


def _column_value(value: Any) -> Any:
    # Lists and objects go into text columns as JSON, as HIS schemas keep them in CLOBs.
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


class _Connection:
    """A connection that closes when the ``with`` block ends (sqlite3's only commits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
