"""Dialect D over real SQL: the simulator writes its HIS tables, the adapter polls the view."""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jingan.integrations.his.port import HisEvent, HisUnavailable, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.integrations.his.views.adapter import ViewsHis, parse_database_url
from jingan.integrations.his.views.codec import HIS_ZONE
from jingan.integrations.his.views.simulator import ViewsHisSimulator

CODE = "310106005"
T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


@pytest.fixture
def simulator(tmp_path: Path) -> ViewsHisSimulator:
    simulator = ViewsHisSimulator(tmp_path / "his-views")
    simulator.start()
    return simulator


def event(
    n: int, node: str = "registration", status: str = "unpaid", **payload: object
) -> HisEvent:
    return HisEvent(
        source=f"his-d:{CODE}",
        source_event_id=f"ZT{n:04d}",
        institution_code=CODE,
        visit_key="MZ0001",
        node=node,
        status=status,
        occurred_at=T0 + timedelta(minutes=n),
        patient=PatientRef("王建国", "310106195001011238", "1002003004"),
        payload={"department_name": "内科", **payload},
    )


def poll_all(his: ViewsHis, watermark: str = "", *, limit: int = 500) -> tuple[list[HisEvent], str]:
    """Poll until the watermark stops moving; every event once (as the journal keeps them)."""
    seen: dict[str, HisEvent] = {}
    while True:
        result = his.poll(CODE, watermark, limit=limit)
        assert result.rejected == []
        for item in result.events:
            seen.setdefault(item.source_event_id, item)
        if result.watermark == watermark:
            return list(seen.values()), watermark
        watermark = result.watermark


def test_a_whole_visit_read_back_from_the_view_equals_what_the_his_recorded(
    simulator: ViewsHisSimulator,
) -> None:
    rng = random.Random(7)
    plan = plan_visit(
        rng, institution_code=CODE, dialect="D", visit_key="MZ20261126007", arrive_at=T0
    )
    script = visit_script(plan, rng)
    for item in script:
        simulator.emit(item)

    events, _ = poll_all(ViewsHis(simulator.database_url(CODE)), limit=7)

    assert [replace(item, emitted_at=None) for item in events] == script
    assert all(item.emitted_at is not None for item in events)


def test_the_watermark_moves_batch_by_batch_and_stays_when_nothing_is_new(
    simulator: ViewsHisSimulator,
) -> None:
    for n in range(1, 6):
        simulator.emit(event(n))
    rows = simulator.view_rows(CODE)
    his = ViewsHis(simulator.database_url(CODE))

    first = his.poll(CODE, "", limit=2)
    second = his.poll(CODE, first.watermark, limit=2)
    third = his.poll(CODE, second.watermark, limit=2)
    last = his.poll(CODE, third.watermark, limit=2)

    assert [e.source_event_id for e in first.events] == ["ZT0001", "ZT0002"]
    assert first.watermark == f"{rows[1]['GXSJ']}|ZT0002"
    # Each later poll also re-reads the overlap window before its watermark.
    assert [e.source_event_id for e in second.events] == ["ZT0001", "ZT0002", "ZT0003", "ZT0004"]
    assert third.watermark == f"{rows[4]['GXSJ']}|ZT0005"
    assert last.watermark == third.watermark
    assert [e.source_event_id for e in last.events] == [f"ZT000{n}" for n in range(1, 6)]


def test_the_overlap_window_catches_a_late_commit_but_not_one_older_than_the_window(
    simulator: ViewsHisSimulator,
) -> None:
    his = ViewsHis(simulator.database_url(CODE))
    simulator.emit(event(1))
    watermark = his.poll(CODE, "").watermark

    simulator.emit(event(2), late_by_seconds=30)
    simulator.emit(event(3), late_by_seconds=600)
    result = his.poll(CODE, watermark)

    assert {e.source_event_id for e in result.events} == {"ZT0001", "ZT0002"}
    assert result.watermark == watermark


def test_emitting_the_same_event_again_shows_the_same_serial_again(
    simulator: ViewsHisSimulator,
) -> None:
    his = ViewsHis(simulator.database_url(CODE))
    simulator.emit(event(1))
    simulator.emit(event(2))
    watermark = his.poll(CODE, "").watermark

    simulator.emit(event(1))
    result = his.poll(CODE, watermark)

    assert result.watermark.endswith("|ZT0001")
    assert result.watermark > watermark
    assert len(simulator.view_rows(CODE)) == 2


def test_an_outage_makes_the_database_unavailable_and_nothing_written_meanwhile_is_lost(
    simulator: ViewsHisSimulator,
) -> None:
    his = ViewsHis(simulator.database_url(CODE))
    simulator.emit(event(1))
    watermark = his.poll(CODE, "").watermark

    simulator.set_outage(CODE, True)
    simulator.emit(event(2, status="registered"))
    with pytest.raises(HisUnavailable) as caught:
        his.poll(CODE, watermark)
    failed = his.test_connection(CODE)
    simulator.set_outage(CODE, False)
    result = his.poll(CODE, watermark)

    assert str(caught.value).startswith("无法连接 HIS 数据库（")
    assert "unable to open database file" in str(caught.value)
    assert (failed.ok, failed.message) == (False, str(caught.value))
    assert [e.source_event_id for e in result.events] == ["ZT0001", "ZT0002"]


def test_connection_test_counts_the_institutions_rows(simulator: ViewsHisSimulator) -> None:
    simulator.emit(event(1))
    simulator.emit(event(2))

    result = ViewsHis(simulator.database_url(CODE)).test_connection(CODE)

    assert result.ok is True
    assert result.message == "连接正常：视图 V_PT_JZZT 可读，本机构共有 2 条就诊状态记录"


def test_the_platform_never_creates_or_writes_a_his_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    his = ViewsHis(f"sqlite:///{missing}")

    result = his.test_connection(CODE)

    assert result.ok is False
    assert result.message.startswith(f"无法连接 HIS 数据库（{missing}）：")
    assert not missing.exists()


def test_a_database_without_the_view_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).close()
    sqlite3.connect(path).execute("CREATE TABLE T (A)").connection.close()

    with pytest.raises(HisUnavailable) as caught:
        ViewsHis(f"sqlite:///{path}").poll(CODE, "")

    assert str(caught.value).startswith("读取 HIS 数据库视图 V_PT_JZZT 失败（")
    assert "no such table: V_PT_JZZT" in str(caught.value)


def test_a_bad_row_comes_back_as_rejected_raw_json_beside_the_good_ones(
    simulator: ViewsHisSimulator,
) -> None:
    simulator.emit(event(1))
    simulator.insert_log_row(
        CODE,
        {
            "LSH": "ZT0002",
            "JGDM": CODE,
            "JZHM": "MZ0001",
            "JDLX": "02",
            "ZTDM": "6",
            "FSSJ": "2026-11-26 09:40:00",
            "GXSJ": "2099-01-01 00:00:00.000000",
        },
    )

    result = ViewsHis(simulator.database_url(CODE)).poll(CODE, "")

    assert [e.source_event_id for e in result.events] == ["ZT0001"]
    [(raw, error)] = result.rejected
    assert error.code == "unknown_status"
    assert '"LSH": "ZT0002"' in raw
    assert '"XM": "王建国"' in raw
    assert result.watermark == "2099-01-01 00:00:00.000000|ZT0002"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://his/db", "数据库视图地址须以 sqlite:/// 或 postgresql:// 开头"),
        ("sqlite:///", "SQLite 地址须写成 sqlite:///数据库文件路径"),
        ("postgresql://his-db", "PostgreSQL 地址须写成 postgresql://用户@主机:端口/数据库"),
    ],
)
def test_database_urls_we_cannot_read_are_refused_in_chinese(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_database_url(url)


POSTGRES_URL = os.environ.get("JINGAN_DATABASE_URL", "")


@pytest.mark.skipif(
    not POSTGRES_URL.startswith(("postgresql://", "postgres://")),
    reason="services mode only: needs JINGAN_DATABASE_URL on PostgreSQL",
)
def test_views_on_postgresql_are_polled_the_same_way() -> None:
    import psycopg

    schema = f"his_views_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            admin.execute(
                f"CREATE TABLE {schema}.pt_ztrz (lsh text primary key, jgdm text, jzhm text,"
                " jdlx text, ztdm text, xmbh text default '', fssj timestamp, gxsj timestamp,"
                " czlx integer default 0, ylsh text, xm text, sfzh text, kh text, ksdm text,"
                " ksmc text, ysxm text, mx text)"
            )
            admin.execute(f"CREATE VIEW {schema}.v_pt_jzzt AS SELECT * FROM {schema}.pt_ztrz")
            # The HIS column is a zone-less local time, as HIS databases keep them.
            base = datetime(2026, 11, 26, 9, 0)  # noqa: DTZ001
            for n, (node_type, status) in enumerate((("02", "0"), ("02", "1"), ("03", "1"))):
                admin.execute(
                    f"INSERT INTO {schema}.pt_ztrz (lsh, jgdm, jzhm, jdlx, ztdm, fssj, gxsj,"
                    " xm, ksmc, mx) VALUES (%s, %s, 'MZ9', %s, %s, %s, %s, '王建国', '内科', %s)",
                    (
                        f"P{n}",
                        CODE,
                        node_type,
                        status,
                        base + timedelta(minutes=n),
                        base + timedelta(minutes=n, seconds=1),
                        '{"GHJE": "25.00"}',
                    ),
                )
            his = ViewsHis(POSTGRES_URL, view=f"{schema}.V_PT_JZZT")

            first = his.poll(CODE, "", limit=2)
            second = his.poll(CODE, first.watermark, limit=2)
            tested = his.test_connection(CODE)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")

    assert [e.source_event_id for e in first.events] == ["P0", "P1"]
    assert first.watermark == "2026-11-26 09:01:01.000000|P1"
    assert [e.source_event_id for e in second.events] == ["P0", "P1", "P2"]
    assert second.events[0].occurred_at == datetime(2026, 11, 26, 9, 0, tzinfo=HIS_ZONE)
    assert second.events[0].payload == {"department_name": "内科", "fee": "25.00"}
    assert second.events[2].status == "checked_in"
    assert tested.ok is True
