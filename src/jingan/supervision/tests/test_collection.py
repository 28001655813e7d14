"""Collection, the exchange area and landing (SB-1, SB-2, SB-6)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.apps import apps
from django.utils import timezone

from jingan.core.public import resident_account_pseudonym, sm3_hex
from jingan.supervision.collection import exchange
from jingan.supervision.collection.collectors import collect_day
from jingan.supervision.collection.landing import land_raw
from jingan.supervision.datasets import dataset
from jingan.supervision.lake import store
from jingan.supervision.models import ExchangeFile, ExchangeState, JobKind, JobRun, JobStatus
from jingan.supervision.tests.feed_double import FeedDouble, csv_gz, running_feed_double

DAY = date(2026, 3, 2)


def wall(text: str) -> datetime:
    """A lake time: local wall-clock, naive on purpose (as landed from the wire format)."""
    return datetime.fromisoformat(text)


SESSIONS = dataset("pa_sessions").column_names
APPOINTMENTS = dataset("appointments").column_names


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.SUPERVISION = {
        **settings.SUPERVISION,
        "lake_dir": tmp_path / "lake",
        "exchange_dir": tmp_path / "exchange",
    }
    return tmp_path


@pytest.fixture
def feeds(settings: Any, lake: Path) -> Iterator[FeedDouble]:
    with running_feed_double() as double:
        settings.SUPERVISION = {**settings.SUPERVISION, "feeds_base_url": double.url}
        yield double


def session(number: int, **overrides: Any) -> list[Any]:
    row = {
        "session_id": f"S{number}",
        "account_id": f"A{number}",
        "started_at": f"2026-03-02 08:{number:02d}:00",
        "ended_at": f"2026-03-02 09:{number:02d}:00",
        "page_views": str(number),
        "is_staff": "false",
    }
    row.update(overrides)
    return [row[name] for name in SESSIONS]


def raw_rows(name: str, day: date = DAY) -> list[dict[str, Any]]:
    table = store.read_partition("raw", name, day)
    assert table is not None
    return table.to_pylist()


@pytest.mark.req("SB-1")
@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_feed_day_crosses_the_exchange_and_lands_with_declared_types(feeds: FeedDouble) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1), session(2, is_staff="true")])

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert (run.kind, run.target, run.day, run.status) == (
        "collect",
        "pa_sessions",
        DAY,
        "succeeded",
    )
    assert (run.rows_in, run.rows_out, run.rows_rejected) == (2, 2, 0)
    assert feeds.requests == ["/public-account/v1/feeds/pa_sessions?date=2026-03-02"]
    assert raw_rows("pa_sessions") == [
        {
            "session_id": "S1",
            "account_id": "A1",
            "started_at": wall("2026-03-02 08:01:00"),
            "ended_at": wall("2026-03-02 09:01:00"),
            "page_views": 1,
            "is_staff": False,
        },
        {
            "session_id": "S2",
            "account_id": "A2",
            "started_at": wall("2026-03-02 08:02:00"),
            "ended_at": wall("2026-03-02 09:02:00"),
            "page_views": 2,
            "is_staff": True,
        },
    ]
    record = ExchangeFile.objects.get()
    assert (record.dataset, record.day, record.state, record.rows_declared) == (
        "pa_sessions",
        DAY,
        "accepted",
        2,
    )
    accepted = exchange.file_path(record)
    assert accepted.parent == feeds_dir(accepted, "accepted")
    assert accepted.read_bytes() == feeds.feeds[("pa_sessions", DAY)]
    manifest = json.loads(exchange.manifest_path(accepted).read_text())
    assert manifest["sm3"] == sm3_hex(accepted.read_bytes())
    assert manifest["rows"] == 2
    assert manifest["columns"] == list(SESSIONS)
    assert manifest["source"] == "public_account"
    assert not list((accepted.parents[3] / "inbox").rglob("*.gz"))


def feeds_dir(path: Path, area: str) -> Path:
    root = Path(str(exchange.exchange_dir()))
    return root / area / "pa_sessions" / DAY.isoformat()


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_bad_rows_are_rejected_with_the_reason_and_kept(feeds: FeedDouble) -> None:
    good = session(1)
    missing = session(2, account_id="")
    not_an_integer = session(3, page_views="1.5")
    bad_time = session(4, ended_at="2026/03/02 09:00")
    other_day = session(5, started_at="2026-03-01 23:59:59")
    not_boolean = session(6, is_staff="yes")
    body = gzip.decompress(csv_gz(SESSIONS, [good, missing, not_an_integer, bad_time]))
    body += b"S9,A9\n"  # a row with too few fields
    body += gzip.decompress(csv_gz(SESSIONS, [other_day, not_boolean])).split(b"\n", 1)[1]
    feeds.feeds[("pa_sessions", DAY)] = gzip.compress(body)
    feeds.rows[("pa_sessions", DAY)] = 7

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert run.status == JobStatus.PARTIAL
    assert (run.rows_in, run.rows_out, run.rows_rejected) == (7, 1, 6)
    assert [row["session_id"] for row in raw_rows("pa_sessions")] == ["S1"]
    rejects = store.read_partition("rejects/raw", "pa_sessions", DAY)
    assert rejects is not None
    kept = {row["session_id"]: row["reason"] for row in rejects.to_pylist()}
    assert kept == {
        "S2": "缺少必填字段 account_id（账户标识）",
        "S3": "字段 page_views（页面浏览数）的值“1.5”不是有效的整数",
        "S4": "字段 ended_at（结束时间）的值“2026/03/02 09:00”不是有效的时间（yyyy-MM-dd HH:mm:ss）",
        "S5": "started_at（开始时间）为 2026-03-01 23:59:59，不属于该数据日期 2026-03-02",
        "S6": "字段 is_staff（工作人员或测试账户）的值“yes”不是有效的布尔值（true/false）",
        None: "第 6 行字段数少于声明的列数",
    }
    ragged = next(row for row in rejects.to_pylist() if row["session_id"] is None)
    assert ragged["raw_line"] == "S9,A9"
    assert json.loads(run.detail)["reasons"] == {
        "缺少必填字段 account_id（账户标识）": 1,
        "字段 page_views（页面浏览数） 类型不符": 1,
        "字段 ended_at（结束时间） 类型不符": 1,
        "started_at（开始时间） 不属于该数据日期": 1,
        "字段 is_staff（工作人员或测试账户） 类型不符": 1,
        "字段数少于声明的列数": 1,
    }


@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_body_whose_digest_differs_from_the_declared_sm3_is_quarantined(
    feeds: FeedDouble,
) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1)])
    assert collect_day("pa_sessions", DAY, trigger="test").status == JobStatus.SUCCEEDED
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1), session(2)])
    feeds.sm3_override[("pa_sessions", DAY)] = "0" * 64

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert run.status == JobStatus.FAILED
    actual = sm3_hex(feeds.feeds[("pa_sessions", DAY)])
    reason = (
        f"SM3 摘要不符：清单为 0000000000000000…，文件实际为 {actual[:16]}…"
        "（文件可能被篡改或传输不完整）"
    )
    assert run.error == f"文件已隔离：{reason}"
    quarantined = ExchangeFile.objects.get(state=ExchangeState.QUARANTINED)
    assert quarantined.reason == reason
    # Nothing is lost: the file stays in quarantine, byte for byte, with its manifest.
    path = exchange.file_path(quarantined)
    assert "quarantine" in path.parts
    assert path.read_bytes() == feeds.feeds[("pa_sessions", DAY)]
    assert exchange.manifest_path(path).exists()
    # The day landed earlier is untouched.
    assert [row["session_id"] for row in raw_rows("pa_sessions")] == ["S1"]


@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_file_altered_in_the_inbox_after_submission_is_quarantined(lake: Path) -> None:
    content = csv_gz(SESSIONS, [session(1)])
    record = exchange.submit("pa_sessions", DAY, content, filename="s.csv.gz", source="test")
    exchange.file_path(record).write_bytes(csv_gz(SESSIONS, [session(1), session(2)]))

    (processed,) = exchange.process_inbox(trigger="test")

    assert processed.state == ExchangeState.QUARANTINED
    assert processed.reason.startswith("SM3 摘要不符：清单为 " + sm3_hex(content)[:16])
    assert processed.landing_run is None  # type: ignore[attr-defined]
    assert store.read_partition("raw", "pa_sessions", DAY) is None
    assert JobRun.objects.count() == 0


@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_header_that_differs_from_the_declaration_is_quarantined(feeds: FeedDouble) -> None:
    header = ["session_id", "account_id", "started_at", "ended_at", "pageviews", "is_staff"]
    feeds.put("pa_sessions", DAY, header, [session(1)])

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert run.status == JobStatus.FAILED
    assert run.error == "文件已隔离：表头与数据集声明不符：缺少列 page_views；多出列 pageviews"
    assert ExchangeFile.objects.get().state == ExchangeState.QUARANTINED


@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_row_count_that_differs_from_the_manifest_is_quarantined(feeds: FeedDouble) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1), session(2)])
    feeds.rows[("pa_sessions", DAY)] = 3

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert run.error == "文件已隔离：行数不符：清单为 3 行，文件实际为 2 行"


@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_a_file_that_is_not_gzip_is_quarantined(lake: Path) -> None:
    plain = gzip.decompress(csv_gz(SESSIONS, [session(1)]))
    exchange.submit("pa_sessions", DAY, plain, filename="s.csv", source="test")

    (processed,) = exchange.process_inbox(trigger="test")

    assert (processed.state, processed.reason) == ("quarantined", "文件不是 gzip 压缩格式")


@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_collecting_a_day_again_replaces_its_partition(feeds: FeedDouble) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1), session(2)])
    first = collect_day("pa_sessions", DAY, trigger="test")
    feeds.put("pa_sessions", DAY, SESSIONS, [session(2), session(3), session(4)])

    second = collect_day("pa_sessions", DAY, trigger="test")

    assert [row["session_id"] for row in raw_rows("pa_sessions")] == ["S2", "S3", "S4"]
    assert store.days("raw", "pa_sessions") == [DAY]
    # What the second run replaced is kept as a snapshot.
    snapshot = json.loads(second.detail)["snapshot"]
    assert pq.read_table(snapshot).column("session_id").to_pylist() == ["S1", "S2"]
    assert json.loads(first.detail)["snapshot"] is None
    assert ExchangeFile.objects.filter(state="accepted").count() == 2


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_a_source_outage_fails_the_run_and_keeps_the_previous_partition(
    feeds: FeedDouble,
) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, [session(1)])
    collect_day("pa_sessions", DAY, trigger="test")
    feeds.down = True

    run = collect_day("pa_sessions", DAY, trigger="test")

    assert (run.kind, run.status) == (JobKind.COLLECT, JobStatus.FAILED)
    assert run.error == (
        "健康静安公众号平台暂停服务（HTTP 503），本日数据未更新，保留上一次采集的分区"
    )
    assert run.finished_at is not None
    assert [row["session_id"] for row in raw_rows("pa_sessions")] == ["S1"]
    assert ExchangeFile.objects.count() == 1


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_an_unknown_day_is_a_failed_run_naming_the_source_answer(feeds: FeedDouble) -> None:
    run = collect_day("consultations", DAY, trigger="test")

    assert run.status == JobStatus.FAILED
    assert run.error == "互联网医院平台拒绝请求（HTTP 404）：未知数据集或日期：consultations"
    assert feeds.requests == ["/internet-hospital/v1/feeds/consultations?date=2026-03-02"]


def appointment(number: int, **overrides: Any) -> list[Any]:
    row = {
        "appointment_id": f"P{number}",
        "account_id": "",
        "institution_code": "310106001",
        "department_code": "0301",
        "channel": "jingan",
        "created_at": "2026-03-02 10:00:00",
        "slot_date": "2026-03-05",
        "status": "booked",
        "id_number": "310106198001010011",
    }
    row.update(overrides)
    return [row[name] for name in APPOINTMENTS]


@pytest.mark.req("SB-1")
@pytest.mark.req("SB-2")
@pytest.mark.django_db
def test_regional_files_come_from_the_daily_listing(feeds: FeedDouble) -> None:
    feeds.put("appointments", DAY, APPOINTMENTS, [appointment(1), appointment(2)])
    feeds.put("registrations", DAY, dataset("registrations").column_names, [])

    run = collect_day("appointments", DAY, trigger="test")

    assert (run.status, run.rows_out) == (JobStatus.SUCCEEDED, 2)
    assert feeds.requests == [
        "/regional/v1/files/2026-03-02/",
        "/regional/v1/files/2026-03-02/appointments-20260302.csv.gz",
    ]
    rows = raw_rows("appointments")
    assert [(r["appointment_id"], r["slot_date"], r["account_id"]) for r in rows] == [
        ("P1", date(2026, 3, 5), None),
        ("P2", date(2026, 3, 5), None),
    ]
    assert ExchangeFile.objects.get().filename == "appointments-20260302.csv.gz"


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_a_regional_day_without_the_dataset_file_fails_with_the_reason(feeds: FeedDouble) -> None:
    feeds.put("registrations", DAY, dataset("registrations").column_names, [])

    run = collect_day("appointments", DAY, trigger="test")

    assert run.error == "区域卫生健康信息平台未提供 2026-03-02 的 appointments 文件"


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_an_unreadable_file_fails_the_landing_run(lake: Path) -> None:
    run = land_raw("pa_sessions", DAY, b"\x1f\x8bnot really gzip", trigger="test")

    assert run.status == JobStatus.FAILED
    assert run.error.startswith("gzip 压缩文件损坏，无法解压")
    assert store.read_partition("raw", "pa_sessions", DAY) is None


@pytest.mark.req("SB-1")
@pytest.mark.django_db
def test_own_residents_are_collected_under_pseudonyms(lake: Path) -> None:
    resident_model = apps.get_model("residents", "Resident")
    zone = timezone.get_current_timezone()
    verified = resident_model.objects.create(
        openid="o-verified-1",
        sex="F",
        birth_date=date(1950, 6, 1),
        is_verified=True,
        verified_at=datetime(2026, 3, 2, 10, 5, 7, tzinfo=zone),
    )
    plain = resident_model.objects.create(openid="o-plain-2")
    other_day = resident_model.objects.create(openid="o-other-3")
    resident_model.objects.filter(pk=verified.pk).update(
        created_at=datetime(2026, 3, 2, 0, 0, 0, tzinfo=zone)
    )
    resident_model.objects.filter(pk=plain.pk).update(
        created_at=datetime(2026, 3, 2, 23, 59, 59, tzinfo=zone)
    )
    resident_model.objects.filter(pk=other_day.pk).update(
        created_at=datetime(2026, 3, 3, 0, 0, 0, tzinfo=zone)
    )

    run = collect_day("platform_residents", DAY, trigger="test")

    assert (run.status, run.rows_in, run.rows_out) == (JobStatus.SUCCEEDED, 2, 2)
    rows = raw_rows("platform_residents")
    assert rows == [
        {
            "account_id": resident_account_pseudonym("o-verified-1"),
            "registered_at": wall("2026-03-02 00:00:00"),
            "verified_at": wall("2026-03-02 10:05:07"),
            "gender": "2",
            "birth_year": 1950,
        },
        {
            "account_id": resident_account_pseudonym("o-plain-2"),
            "registered_at": wall("2026-03-02 23:59:59"),
            "verified_at": None,
            "gender": None,
            "birth_year": None,
        },
    ]
    text = json.dumps(rows, default=str)
    assert "o-verified-1" not in text
    assert "o-plain-2" not in text
    assert rows[0]["account_id"] != rows[1]["account_id"]
    assert len(rows[0]["account_id"]) > 32
