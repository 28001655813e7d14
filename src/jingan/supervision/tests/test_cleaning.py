"""Cleaning rules, de-duplication, person derivation and masking (SB-3)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.apps import apps

from jingan.core.public import blind_index
from jingan.supervision.cleaning.runner import clean_day
from jingan.supervision.collection.collectors import platform_csv
from jingan.supervision.collection.landing import land_raw
from jingan.supervision.datasets import clean_columns, dataset
from jingan.supervision.lake import store
from jingan.supervision.models import JobStatus

DAY = date(2026, 3, 2)


def wall(text: str) -> datetime:
    """A lake time: local wall-clock, naive on purpose (as landed from the wire format)."""
    return datetime.fromisoformat(text)


WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(birth: str, sequence: str) -> str:
    """A valid Jing'an ID number (GB 11643 check digit computed here, independently)."""
    body = f"310106{birth}{sequence}"
    total = sum(int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.SUPERVISION = {
        **settings.SUPERVISION,
        "lake_dir": tmp_path / "lake",
        "exchange_dir": tmp_path / "exchange",
    }
    return tmp_path / "lake"


def land(name: str, rows: list[dict[str, Any]]) -> None:
    run = land_raw(name, DAY, platform_csv(dataset(name), rows), trigger="test")
    assert run.rows_rejected == 0, run.detail


def consultation(number: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "consultation_id": f"C{number}",
        "institution_code": "310106001",
        "doctor_code": "D1",
        "mode": "video",
        "paid_at": wall(f"2026-03-02 09:00:{number:02d}"),
        "accepted_at": wall(f"2026-03-02 09:10:{number:02d}"),
        "closed_at": wall(f"2026-03-02 09:30:{number:02d}"),
        "status": "completed",
        "fee": 20.0,
        "prescription_amount": None,
        "delivery": False,
        "delivered_at": None,
        "review_stars": 5,
        "diagnosis_code": "I10",
        "id_number": id_number("19800101", "001"),
    }
    row.update(overrides)
    return row


def clean_rows(name: str) -> list[dict[str, Any]]:
    table = store.read_partition("clean", name, DAY)
    assert table is not None
    return table.to_pylist()


def rejects(name: str) -> list[dict[str, Any]]:
    table = store.read_partition("rejects/clean", name, DAY)
    assert table is not None
    return table.to_pylist()


def expected_age(birth: date, on: date) -> int:
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_id_numbers_become_person_columns_and_never_reach_the_clean_lake(lake: Path) -> None:
    # Born the day itself 60 years ago, the day after, a girl of 6, a man of 80.
    people = {
        "C1": id_number("19660302", "011"),  # male (odd 17th digit), turns 60 today
        "C2": id_number("19660303", "022"),  # female, 59 until tomorrow
        "C3": id_number("20190815", "042"),  # female, 6
        "C4": id_number("19451231", "113"),  # male, 80
    }
    land(
        "consultations",
        [
            consultation(i + 1, consultation_id=key, id_number=value)
            for i, (key, value) in enumerate(people.items())
        ],
    )

    run = clean_day("consultations", DAY, trigger="test")

    assert (run.status, run.rows_in, run.rows_out, run.rows_rejected) == ("succeeded", 4, 4, 0)
    rows = {row["consultation_id"]: row for row in clean_rows("consultations")}
    resident = apps.get_model("residents", "Resident")
    for key, number in people.items():
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        age = expected_age(birth, DAY)
        assert rows[key]["person_id"] == blind_index(resident, "id_number_index", number)
        assert rows[key]["gender"] == ("1" if int(number[16]) % 2 else "2")
        assert rows[key]["birth_date"] == birth
        assert rows[key]["age"] == age
        assert rows[key]["day"] == DAY
    assert [rows[k]["age"] for k in people] == [60, 59, 6, 80]
    assert [rows[k]["age_group"] for k in people] == ["60-79", "45-59", "0-6", "80+"]
    assert [rows[k]["gender"] for k in people] == ["1", "2", "2", "1"]
    # The files themselves: declared clean columns, and no ID number in any cell.
    path = Path(json.loads(run.detail)["partition"])
    table = pq.read_table(path)
    assert table.column_names == [c.name for c in clean_columns(dataset("consultations"))]
    assert "id_number" not in table.column_names
    cells = {str(value) for column in table.columns for value in column.to_pylist()}
    assert not cells & set(people.values())
    for number in people.values():
        assert number.encode() not in path.read_bytes()


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_rule_violations_are_refused_with_rule_and_reason(lake: Path) -> None:
    bad_id = id_number("19800101", "001")[:-1] + (
        "0" if id_number("19800101", "001")[-1] != "0" else "1"
    )
    land(
        "consultations",
        [
            consultation(1),
            consultation(2, mode="fax"),
            consultation(3, fee=-1.0),
            consultation(4, review_stars=6),
            consultation(5, accepted_at=wall("2026-03-02 08:00:00")),
            consultation(6, institution_code="999999999"),
            consultation(7, id_number=bad_id),
            consultation(8, status="lost", fee=-2.5),
        ],
    )

    run = clean_day("consultations", DAY, trigger="test")

    assert (run.status, run.rows_in, run.rows_out, run.rows_rejected) == ("partial", 8, 1, 7)
    assert [row["consultation_id"] for row in clean_rows("consultations")] == ["C1"]
    refused = {
        row["consultation_id"]: (row["rule"], row["reason"]) for row in rejects("consultations")
    }
    assert refused == {
        "C2": (
            "allowed.mode",
            "mode（问诊方式）的值“fax”不在代码表中（允许：text、voice、video）",
        ),
        "C3": ("range.fee", "fee（问诊费（元））的值 -1.0 超出范围（应 ≥ 0）"),
        "C4": ("range.review_stars", "review_stars（评价星级）的值 6 超出范围（应在 1–5 之间）"),
        "C5": ("order.accepted_at", "accepted_at（接诊时间） 早于 paid_at（支付时间）"),
        "C6": (
            "code.institution_code",
            "institution_code（医疗机构）的值“999999999”不是本区医疗机构编码",
        ),
        "C7": ("id_number", "id_number（患者身份证号）无效：身份证号校验位不正确"),
        "C8": (
            "allowed.status,range.fee",
            "status（状态）的值“lost”不在代码表中（允许：completed、refused、timeout、cancelled）"
            "；fee（问诊费（元））的值 -2.5 超出范围（应 ≥ 0）",
        ),
    }
    assert json.loads(run.detail)["rules"] == {
        "allowed.mode": 1,
        "allowed.status": 1,
        "code.institution_code": 1,
        "id_number": 1,
        "order.accepted_at": 1,
        "range.fee": 2,
        "range.review_stars": 1,
    }
    # Rejects keep the row (with its raw position) but never the plain ID number.
    kept = {row["consultation_id"]: row for row in rejects("consultations")}
    assert kept["C7"]["id_number"] == bad_id[:3] + "*" * 11 + bad_id[-4:]
    assert kept["C7"]["raw_position"] == 7
    assert kept["C2"]["fee"] == 20.0


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_duplicates_on_the_key_keep_the_last_delivered_row(lake: Path) -> None:
    land(
        "consultations",
        [
            consultation(1, fee=10.0),
            consultation(2),
            consultation(1, fee=30.0),
            consultation(1, fee=50.0),
        ],
    )

    run = clean_day("consultations", DAY, trigger="test")

    rows = clean_rows("consultations")
    assert [(row["consultation_id"], row["fee"]) for row in rows] == [("C2", 20.0), ("C1", 50.0)]
    assert (run.rows_in, run.rows_out, run.rows_rejected) == (4, 2, 2)
    assert [(r["fee"], r["rule"], r["reason"]) for r in rejects("consultations")] == [
        (10.0, "dedupe", "重复记录（consultation_id=C1）：已保留最后送达的一条"),
        (30.0, "dedupe", "重复记录（consultation_id=C1）：已保留最后送达的一条"),
    ]


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_cleaning_again_snapshots_the_partition_it_replaces(lake: Path) -> None:
    land("consultations", [consultation(1), consultation(2)])
    first = clean_day("consultations", DAY, trigger="test")
    land("consultations", [consultation(3)])

    second = clean_day("consultations", DAY, trigger="test")

    assert json.loads(first.detail)["snapshot"] is None
    snapshot = Path(json.loads(second.detail)["snapshot"])
    assert snapshot.is_relative_to(lake / "snapshots")
    assert pq.read_table(snapshot).column("consultation_id").to_pylist() == ["C1", "C2"]
    assert [row["consultation_id"] for row in clean_rows("consultations")] == ["C3"]
    assert store.days("clean", "consultations") == [DAY]


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_session_rules_and_code_lists(lake: Path) -> None:
    names = dataset("pa_sessions").column_names
    start = wall("2026-03-02 08:00:00")

    def session(number: int, **overrides: Any) -> dict[str, Any]:
        row = dict(zip(names, (f"S{number}", f"A{number}", start, start, 1, False), strict=True))
        row.update(overrides)
        return row

    land(
        "pa_sessions",
        [
            session(1),
            session(2, page_views=0),
            session(3, ended_at=wall("2026-03-02 07:59:59")),
        ],
    )
    visits = dataset("pa_module_visits").column_names
    land(
        "pa_module_visits",
        [
            dict(zip(visits, ("V1", "S1", "A1", "drug_lookup", start, None), strict=True)),
            dict(zip(visits, ("V2", "S1", "A1", "games", start, None), strict=True)),
            dict(zip(visits, ("V3", "S1", "A1", "vaccination", start, "310106026"), strict=True)),
        ],
    )

    sessions = clean_day("pa_sessions", DAY, trigger="test")
    module_visits = clean_day("pa_module_visits", DAY, trigger="test")

    assert [r["session_id"] for r in clean_rows("pa_sessions")] == ["S1"]
    assert [(r["session_id"], r["reason"]) for r in rejects("pa_sessions")] == [
        ("S2", "page_views（页面浏览数）的值 0 超出范围（应 ≥ 1）"),
        ("S3", "ended_at（结束时间） 早于 started_at（开始时间）"),
    ]
    assert sessions.status == module_visits.status == JobStatus.PARTIAL
    assert [r["visit_id"] for r in clean_rows("pa_module_visits")] == ["V1", "V3"]
    assert [r["rule"] for r in rejects("pa_module_visits")] == ["allowed.module"]


@pytest.mark.req("SB-3")
@pytest.mark.django_db
def test_a_day_without_raw_data_fails_to_clean_with_the_reason(lake: Path) -> None:
    run = clean_day("renewals", DAY, trigger="test")

    assert (run.status, run.error) == ("failed", "2026-03-02 尚无已采集的原始数据，请先采集")
