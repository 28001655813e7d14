"""The indicator catalogue, runner and store queries (SB-4, SP-1 … SP-7).

The tests write small clean partitions of their own, run the runner, and compare every
stored value with the same figure computed here in plain Python from the rows written
(never by the indicator SQL).
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from django.apps import apps

from jingan.supervision.datasets import AGE_GROUPS, MODULES, clean_columns, dataset
from jingan.supervision.indicators import catalogue, queries, runner
from jingan.supervision.indicators.catalogue import INDICATORS, Indicator, indicator
from jingan.supervision.lake import store
from jingan.supervision.models import IndicatorState, IndicatorValue

FIRST = date(2025, 1, 1)
LAST = date(2025, 2, 14)
DAYS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
INSTITUTIONS = ("310106001", "310106002")
SNAPSHOTS = Path(__file__).parent / "snapshots"
SNAPSHOT_RANGE = (date(2025, 1, 1), date(2025, 1, 31))

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}


# --- Writing the clean lake ------------------------------------------------------------


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _age_group(age: int) -> str:
    return next((name for name, low, high in AGE_GROUPS if low <= age <= high), "unknown")


def write_clean(name: str, rows: Iterable[dict[str, Any]], days: Iterable[date]) -> None:
    """Write ``rows`` as clean partitions by their ``day``; every day in ``days`` gets a
    partition (empty when it has no rows), as a delivered but quiet day would."""
    columns = clean_columns(dataset(name))
    schema = pa.schema([(column.name, _ARROW_TYPES[column.type]) for column in columns])
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["day"]].append(row)
    for day in sorted(set(days) | set(by_day)):
        found = by_day.get(day, [])
        table = pa.table(
            {column.name: [row.get(column.name) for row in found] for column in columns},
            schema=schema,
        )
        store.write_partition("clean", name, day, table)


def _person(rng: random.Random, on: date) -> dict[str, Any]:
    birth = date(rng.randint(1925, 2022), rng.randint(1, 12), rng.randint(1, 28))
    if rng.random() < 0.05:
        birth = date(1960, on.month, on.day)  # a birthday on the event day itself
    age = _age(birth, on)
    return {
        "person_id": f"p{rng.randint(1, 10**9)}",
        "gender": rng.choice(["1", "2", "1", "2", None]),
        "birth_date": birth,
        "age": age,
        "age_group": _age_group(age),
    }


def _moment(rng: random.Random, day: date) -> datetime:
    # The lake holds local wall-clock times without a zone (datasets.py), so naive on purpose.
    hour, minute = rng.randint(0, 23), rng.randint(0, 59)
    return datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001


def make_lake(seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """A deterministic small lake; returns the rows written, per dataset."""
    rng = random.Random(seed)
    registrations = []
    for number in range(240):
        registered = _moment(rng, rng.choice(DAYS))
        deregistered = None
        if rng.random() < 0.15:
            deregistered = registered + timedelta(hours=rng.randint(0, 24 * 30))
        registrations.append(
            {
                "account_id": f"a{number:04d}",
                "registered_at": registered,
                "channel": rng.choice(["menu", "scan", "share", "search"]),
                "deregistered_at": deregistered,
                "day": registered.date(),
            }
        )
    accounts = [row["account_id"] for row in registrations]

    realname = []
    for number in range(260):
        submitted = _moment(rng, rng.choice(DAYS))
        outcome = rng.choice(["approved", "approved", "approved", "rejected", "pending"])
        decided = None if outcome == "pending" else submitted + timedelta(hours=rng.randint(0, 72))
        realname.append(
            {
                "application_id": f"r{number:04d}",
                # Fewer accounts than applications: some apply twice (a second approval
                # must not count again).
                "account_id": rng.choice(accounts[:150]),
                "submitted_at": submitted,
                "method": rng.choice(["face", "manual"]),
                "outcome": outcome,
                "decided_at": decided,
                **_person(rng, submitted.date()),
                "day": submitted.date(),
            }
        )

    sessions = []
    visits = []
    for number in range(900):
        started = _moment(rng, rng.choice(DAYS))
        session = {
            "session_id": f"s{number:05d}",
            "account_id": rng.choice(accounts),
            "started_at": started,
            "ended_at": started + timedelta(minutes=rng.randint(1, 90)),
            "page_views": rng.choice([0, 1, 2, 3, 5]),
            "is_staff": rng.random() < 0.08,
            "day": started.date(),
        }
        sessions.append(session)
        for visit in range(rng.randint(0, 3)):
            visited = started + timedelta(minutes=rng.randint(0, 30))
            visits.append(
                {
                    "visit_id": f"v{number:05d}-{visit}",
                    "session_id": session["session_id"],
                    "account_id": session["account_id"],
                    "module": rng.choice(list(MODULES)),
                    "visited_at": visited,
                    "institution_code": rng.choice([*INSTITUTIONS, None, None]),
                    "day": visited.date(),
                }
            )

    appointments = []
    for number in range(200):
        created = _moment(rng, rng.choice(DAYS))
        appointments.append(
            {
                "appointment_id": f"ap{number:04d}",
                "account_id": rng.choice(accounts),
                "institution_code": rng.choice(INSTITUTIONS),
                "department_code": "03",
                "channel": "jingan",
                "created_at": created,
                "slot_date": created.date() + timedelta(days=rng.randint(0, 7)),
                "status": rng.choice(["booked", "attended", "no_show", "cancelled"]),
                **_person(rng, created.date()),
                "day": created.date(),
            }
        )

    consultations = []
    for number in range(180):
        paid = _moment(rng, rng.choice(DAYS))
        status = rng.choice(["completed", "completed", "refused", "timeout", "cancelled"])
        accepted = paid + timedelta(minutes=rng.randint(1, 2000)) if status == "completed" else None
        consultations.append(
            {
                "consultation_id": f"c{number:04d}",
                "institution_code": rng.choice(INSTITUTIONS),
                "doctor_code": "d1",
                "mode": rng.choice(["text", "voice", "video"]),
                "paid_at": paid,
                "accepted_at": accepted,
                "closed_at": None,
                "status": status,
                "fee": 20.0,
                **_person(rng, paid.date()),
                "day": paid.date(),
            }
        )

    written = {
        "pa_registrations": registrations,
        "pa_realname": realname,
        "pa_sessions": sessions,
        "pa_module_visits": visits,
        "appointments": appointments,
        "consultations": consultations,
    }
    for name, rows in written.items():
        write_clean(name, rows, DAYS)
    return written


# --- Independent expectations (plain Python over the written rows) ----------------------


def _in_range(day: date) -> bool:
    return FIRST <= day <= LAST


def _first_approvals(realname: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for row in realname:
        if row["outcome"] != "approved" or row["decided_at"] is None:
            continue
        known = first.get(row["account_id"])
        if known is None or row["decided_at"] < known["decided_at"]:
            first[row["account_id"]] = row
    return first


def _active_sessions(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in sessions if not s["is_staff"] and s["page_views"] >= 1]


def _resident_visits(lake: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    staff = {s["session_id"] for s in lake["pa_sessions"] if s["is_staff"]}
    return [v for v in lake["pa_module_visits"] if v["session_id"] not in staff]


def _months() -> list[date]:
    return sorted({day.replace(day=1) for day in DAYS})


def expected_values(
    lake: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[tuple[date, str], float]]:
    """Every indicator's expected stored rows: (period_start, dimensions_key) → value."""
    expected: dict[str, dict[tuple[date, str], float]] = {}
    registrations = lake["pa_registrations"]
    realname = lake["pa_realname"]
    first = _first_approvals(realname)
    active = _active_sessions(lake["pa_sessions"])
    visits = [v for v in _resident_visits(lake) if _in_range(v["visited_at"].date())]

    def per_day(function: Callable[[date], float]) -> dict[tuple[date, str], float]:
        return {(day, ""): float(function(day)) for day in DAYS}

    def per_month(function: Callable[[date], float]) -> dict[tuple[date, str], float]:
        return {(month, ""): float(function(month)) for month in _months()}

    def same_month(moment: datetime, month: date) -> bool:
        return moment.date().replace(day=1) == month and moment.date() <= LAST

    expected["pa_registered_daily"] = per_day(
        lambda d: sum(r["registered_at"].date() == d for r in registrations)
    )
    expected["pa_registered_gross_cumulative"] = per_day(
        lambda d: sum(r["registered_at"].date() <= d for r in registrations)
    )
    expected["pa_registered_cumulative"] = per_day(
        lambda d: (
            sum(r["registered_at"].date() <= d for r in registrations)
            - sum(
                r["deregistered_at"] is not None and r["deregistered_at"].date() <= d
                for r in registrations
            )
        )
    )
    expected["pa_realname_daily"] = per_day(
        lambda d: sum(r["decided_at"].date() == d for r in first.values())
    )
    expected["pa_realname_cumulative"] = per_day(
        lambda d: sum(r["decided_at"].date() <= d for r in first.values())
    )
    by_gender: dict[tuple[date, str], float] = {}
    by_age: dict[tuple[date, str], float] = {}
    for day in DAYS:
        so_far = [r for r in first.values() if r["decided_at"].date() <= day]
        for gender in ("1", "2", "0", "9"):
            by_gender[(day, f"gender={gender}")] = float(
                sum((r["gender"] or "0") == gender for r in so_far)
            )
        for group in (*(name for name, _, _ in AGE_GROUPS), "unknown"):
            by_age[(day, f"age_group={group}")] = float(
                sum(
                    _age_group(_age(r["birth_date"], r["decided_at"].date())) == group
                    for r in so_far
                )
            )
    expected["pa_realname_by_gender"] = by_gender
    expected["pa_realname_by_age_group"] = by_age

    manual = [r for r in realname if r["method"] == "manual"]
    decided_manual = [r for r in manual if r["outcome"] in ("approved", "rejected")]
    expected["pa_manual_review_submitted"] = per_day(
        lambda d: sum(r["submitted_at"].date() == d for r in manual)
    )
    expected["pa_manual_review_handled"] = per_day(
        lambda d: sum(r["decided_at"].date() == d for r in decided_manual)
    )
    expected["pa_manual_review_pending"] = per_day(
        lambda d: sum(
            r["submitted_at"].date() <= d
            and not (r in decided_manual and r["decided_at"].date() <= d)
            for r in manual
        )
    )
    rates = {}
    for day in DAYS:
        that_day = [r for r in decided_manual if r["decided_at"].date() == day]
        if that_day:
            approved = sum(r["outcome"] == "approved" for r in that_day)
            rates[(day, "")] = 100.0 * approved / len(that_day)
    expected["pa_manual_review_approval_rate"] = rates

    expected["pa_registered_monthly"] = per_month(
        lambda m: sum(same_month(r["registered_at"], m) for r in registrations)
    )
    expected["pa_realname_monthly"] = per_month(
        lambda m: sum(same_month(r["decided_at"], m) for r in first.values())
    )
    expected["pa_dau"] = per_day(
        lambda d: len({s["account_id"] for s in active if s["started_at"].date() == d})
    )
    expected["pa_mau"] = per_month(
        lambda m: len({s["account_id"] for s in active if same_month(s["started_at"], m)})
    )
    expected["pa_active_30d"] = per_day(
        lambda d: len(
            {
                s["account_id"]
                for s in active
                if d - timedelta(days=29) <= s["started_at"].date() <= d
            }
        )
    )
    expected["pa_sessions_daily"] = per_day(
        lambda d: sum(s["started_at"].date() == d for s in active)
    )

    module_visits: dict[tuple[date, str], float] = {}
    module_visitors: dict[tuple[date, str], float] = {}
    for day in DAYS:
        that_day = [v for v in visits if v["visited_at"].date() == day]
        module_visits[(day, "")] = float(len(that_day))
        module_visitors[(day, "")] = float(len({v["account_id"] for v in that_day}))
        for module in MODULES:
            in_module = [v for v in that_day if v["module"] == module]
            module_visits[(day, f"module={module}")] = float(len(in_module))
            module_visitors[(day, f"module={module}")] = float(
                len({v["account_id"] for v in in_module})
            )
    expected["pa_module_visits"] = module_visits
    expected["pa_module_visitors"] = module_visitors
    by_institution: dict[tuple[date, str], float] = defaultdict(float)
    for v in visits:
        if v["institution_code"] is not None:
            key = f"institution={v['institution_code']}|module={v['module']}"
            by_institution[(v["visited_at"].date(), key)] += 1
    expected["pa_module_visits_by_institution"] = dict(by_institution)

    for code, wanted in (("appt_bookings", False), ("appt_cancellations", True)):
        counts: dict[tuple[date, str], float] = defaultdict(float)
        for a in lake["appointments"]:
            if (a["status"] == "cancelled") != wanted:
                continue
            counts[(a["created_at"].date(), "")] += 1
            counts[(a["created_at"].date(), f"institution={a['institution_code']}")] += 1
        expected[code] = dict(counts)

    accepted: dict[tuple[date, str], float] = defaultdict(float)
    for c in lake["consultations"]:
        if c["accepted_at"] is None or not _in_range(c["accepted_at"].date()):
            continue
        day, institution, mode = c["accepted_at"].date(), c["institution_code"], c["mode"]
        for key in (
            "",
            f"institution={institution}",
            f"mode={mode}",
            f"institution={institution}|mode={mode}",
        ):
            accepted[(day, key)] += 1
    expected["ih_consultations_accepted"] = dict(accepted)
    return expected


def stored(code: str) -> dict[tuple[date, str], float]:
    return {
        (row.period_start, row.dimensions_key): row.value
        for row in IndicatorValue.objects.unscoped().filter(indicator=code)
    }


# --- Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def lake_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SUPERVISION = {**settings.SUPERVISION, "lake_dir": tmp_path / "lake"}
    return tmp_path / "lake"


@pytest.fixture
def lake(lake_dir: Path, db: None) -> dict[str, list[dict[str, Any]]]:
    return make_lake()


@pytest.fixture
def computed(lake: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    run = runner.compute(trigger="test")
    return {"lake": lake, "run": run, "expected": expected_values(lake)}


def _institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


# --- SP values -------------------------------------------------------------------------------


def _assert_indicator(code: str, computed: dict[str, Any]) -> None:
    expected = computed["expected"][code]
    assert expected, f"the test lake gives {code} nothing to check"
    assert stored(code) == pytest.approx(expected), code


@pytest.mark.req("SP-1")
@pytest.mark.parametrize(
    "code",
    [
        "pa_registered_daily",
        "pa_registered_cumulative",
        "pa_registered_gross_cumulative",
        "pa_realname_daily",
        "pa_realname_cumulative",
    ],
)
def test_registration_and_realname_counts_match_the_rows(
    code: str, computed: dict[str, Any]
) -> None:
    _assert_indicator(code, computed)


@pytest.mark.req("SP-1")
def test_net_cumulative_is_gross_minus_deregistered(computed: dict[str, Any]) -> None:
    gross, net = stored("pa_registered_gross_cumulative"), stored("pa_registered_cumulative")
    deregistered = sum(
        row["deregistered_at"] is not None and row["deregistered_at"].date() <= LAST
        for row in computed["lake"]["pa_registrations"]
    )
    assert deregistered > 0
    assert gross[(LAST, "")] - net[(LAST, "")] == deregistered
    assert gross[(LAST, "")] == len(computed["lake"]["pa_registrations"])


@pytest.mark.req("SP-1")
def test_an_account_approved_twice_counts_once(computed: dict[str, Any]) -> None:
    approvals: dict[str, int] = defaultdict(int)
    for row in computed["lake"]["pa_realname"]:
        if row["outcome"] == "approved" and row["decided_at"].date() <= LAST:
            approvals[row["account_id"]] += 1
    assert any(count > 1 for count in approvals.values())
    assert stored("pa_realname_cumulative")[(LAST, "")] == len(approvals)


@pytest.mark.req("SP-2")
@pytest.mark.parametrize(
    "code",
    [
        "pa_realname_by_gender",
        "pa_realname_by_age_group",
        "pa_manual_review_submitted",
        "pa_manual_review_handled",
        "pa_manual_review_pending",
        "pa_manual_review_approval_rate",
    ],
)
def test_realname_structure_and_manual_reviews_match_the_rows(
    code: str, computed: dict[str, Any]
) -> None:
    _assert_indicator(code, computed)


@pytest.mark.req("SP-2")
def test_gender_and_age_structures_add_up_to_the_cumulative(computed: dict[str, Any]) -> None:
    total = stored("pa_realname_cumulative")
    for code in ("pa_realname_by_gender", "pa_realname_by_age_group"):
        sums: dict[date, float] = defaultdict(float)
        for (day, _key), value in stored(code).items():
            sums[day] += value
        assert all(sums[day] == total[(day, "")] for day in DAYS), code


@pytest.mark.req("SP-3")
@pytest.mark.parametrize("code", ["pa_registered_monthly", "pa_realname_monthly"])
def test_monthly_trends_match_the_rows(code: str, computed: dict[str, Any]) -> None:
    _assert_indicator(code, computed)
    daily = {
        "pa_registered_monthly": "pa_registered_daily",
        "pa_realname_monthly": "pa_realname_daily",
    }
    february = sum(v for (day, _), v in stored(daily[code]).items() if day.month == 2)
    assert stored(code)[(date(2025, 2, 1), "")] == february


@pytest.mark.req("SP-4")
def test_dau_counts_distinct_resident_accounts_with_a_page_view(computed: dict[str, Any]) -> None:
    _assert_indicator("pa_dau", computed)
    sessions = computed["lake"]["pa_sessions"]
    # The lake holds what DAU must leave out: staff sessions and sessions without a view.
    assert any(s["is_staff"] and s["page_views"] >= 1 for s in sessions)
    assert any(not s["is_staff"] and s["page_views"] == 0 for s in sessions)


@pytest.mark.req("SP-5")
@pytest.mark.parametrize("code", ["pa_mau", "pa_active_30d"])
def test_mau_and_rolling_30_days_match_the_rows(code: str, computed: dict[str, Any]) -> None:
    _assert_indicator(code, computed)


@pytest.mark.req("SP-6")
def test_activity_trend_by_day_and_month(computed: dict[str, Any], make_staff: Any) -> None:
    _assert_indicator("pa_sessions_daily", computed)
    regulator = make_staff("regulator", permissions=("supervision.view_indicatorvalue",))
    # The month view of DAU is the mean over its days (DAU cannot be added up).
    points = queries.series(regulator, "pa_dau", grain="month", start=FIRST, end=LAST)
    january = [v for (day, _), v in computed["expected"]["pa_dau"].items() if day.month == 1]
    assert [point.period_start for point in points] == [date(2025, 1, 1), date(2025, 2, 1)]
    assert points[0].value == pytest.approx(sum(january) / len(january))
    sessions = queries.series(regulator, "pa_sessions_daily", grain="month", start=FIRST, end=LAST)
    expected_january = sum(
        v for (day, _), v in computed["expected"]["pa_sessions_daily"].items() if day.month == 1
    )
    assert sessions[0].value == expected_january


@pytest.mark.req("SP-7")
@pytest.mark.parametrize(
    "code", ["pa_module_visits", "pa_module_visitors", "pa_module_visits_by_institution"]
)
def test_module_visits_and_visitors_match_the_rows(code: str, computed: dict[str, Any]) -> None:
    _assert_indicator(code, computed)


@pytest.mark.req("SP-7")
def test_module_rows_by_institution_belong_to_the_institution(computed: dict[str, Any]) -> None:
    rows = IndicatorValue.objects.unscoped().filter(indicator="pa_module_visits_by_institution")
    assert rows.exists()
    for row in rows:
        assert row.institution is not None
        assert row.dimensions_key.startswith(f"institution={row.institution.code}|module=")
        assert json.loads(row.dimensions)["institution"] == row.institution.code
    district = IndicatorValue.objects.unscoped().filter(indicator="pa_module_visits")
    assert not district.filter(institution__isnull=False).exists()


@pytest.mark.req("SB-4")
@pytest.mark.parametrize(
    "code", ["appt_bookings", "appt_cancellations", "ih_consultations_accepted"]
)
def test_later_dashboards_only_need_declarations(code: str, computed: dict[str, Any]) -> None:
    _assert_indicator(code, computed)


# --- Runner -------------------------------------------------------------------------------


@pytest.mark.req("SB-4")
def test_a_full_run_is_recorded_with_freshness(computed: dict[str, Any]) -> None:
    run = computed["run"]
    assert (run.kind, run.status, run.trigger, run.error) == ("indicators", "succeeded", "test", "")
    assert run.rows_out == IndicatorValue.objects.unscoped().count()
    detail = json.loads(run.detail)
    assert set(detail["indicators"]) == {item.code for item in INDICATORS}
    for item in INDICATORS:
        state = queries.freshness(item.code)
        assert (state.data_through, state.last_error) == (LAST, "")
        assert state.last_run_at is not None


@pytest.mark.req("SB-4")
def test_recomputing_a_day_replaces_it_and_carries_cumulatives_forward(
    computed: dict[str, Any],
) -> None:
    lake = computed["lake"]
    day = date(2025, 1, 20)
    added = [
        {
            "account_id": f"late{n}",
            "registered_at": datetime(2025, 1, 20, 9, n),  # noqa: DTZ001 (local wall clock)
            "channel": "menu",
            "deregistered_at": None,
            "day": day,
        }
        for n in range(3)
    ]
    rows = [r for r in lake["pa_registrations"] if r["day"] == day] + added
    write_clean("pa_registrations", rows, [day])
    before = stored("pa_registered_daily")

    run = runner.compute(
        ["pa_registered_daily", "pa_registered_cumulative", "pa_registered_monthly"],
        days=(day, day),
        trigger="test",
    )

    assert (run.status, run.day) == ("succeeded", day)
    lake["pa_registrations"] = lake["pa_registrations"] + added
    expected = expected_values(lake)
    daily = stored("pa_registered_daily")
    assert daily == pytest.approx(expected["pa_registered_daily"])
    assert daily[(day, "")] == before[(day, "")] + 3
    assert {k: v for k, v in daily.items() if k[0] != day} == {
        k: v for k, v in before.items() if k[0] != day
    }
    assert stored("pa_registered_cumulative") == pytest.approx(expected["pa_registered_cumulative"])
    assert stored("pa_registered_monthly") == pytest.approx(expected["pa_registered_monthly"])
    # One row per point: the range was replaced, not appended to.
    assert IndicatorValue.objects.unscoped().filter(indicator="pa_registered_daily").count() == len(
        DAYS
    )


@pytest.mark.req("SB-4")
def test_compute_range_widens_months_and_cumulatives() -> None:
    available = (FIRST, LAST)
    day = date(2025, 1, 20)
    assert runner.compute_range(indicator("pa_dau"), (day, day), available) == runner.ComputeRange(
        day, day, day, day
    )
    month = runner.compute_range(indicator("pa_mau"), (day, day), available)
    assert month == runner.ComputeRange(
        date(2025, 1, 1), date(2025, 1, 31), date(2025, 1, 1), date(2025, 1, 1)
    )
    cumulative = runner.compute_range(indicator("pa_registered_cumulative"), (day, day), available)
    assert cumulative == runner.ComputeRange(day, LAST, day, LAST)
    assert runner.compute_range(indicator("pa_dau"), (date(2025, 3, 1),) * 2, available) is None


@pytest.mark.req("SB-4")
def test_a_failing_indicator_does_not_stop_the_others(
    lake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Indicator(
        code="broken_indicator",
        name="错误示例",
        description="",
        requirement="SB-4",
        datasets=("pa_sessions",),
        grain="day",
        dimensions=(),
        unit="次",
        kind="count",
        sql="SELECT :start AS period_start, no_such_column AS value FROM clean_pa_sessions "
        "WHERE day <= :end",
    )
    monkeypatch.setattr(runner, "INDICATORS", (broken, indicator("pa_dau")))

    run = runner.compute(trigger="test")

    assert run.status == "partial"
    assert run.error.startswith("broken_indicator: BinderException")
    assert IndicatorState.objects.get(indicator="broken_indicator").last_error.startswith(
        "BinderException"
    )
    assert stored("pa_dau") == pytest.approx(expected_values(lake)["pa_dau"])
    assert not IndicatorValue.objects.unscoped().filter(indicator="broken_indicator").exists()


@pytest.mark.req("SB-4")
def test_an_empty_lake_stores_nothing_and_says_so(lake_dir: Path, db: None) -> None:
    run = runner.compute(["pa_dau"], trigger="test")
    assert run.status == "succeeded"
    assert json.loads(run.detail)["indicators"]["pa_dau"] == {
        "rows": 0,
        "skipped": "尚无清洗后数据",
    }
    assert IndicatorValue.objects.unscoped().count() == 0
    assert queries.freshness("pa_dau").data_through is None


def test_dimensions_key_is_canonical() -> None:
    assert runner.dimensions_key({"module": "renewal", "institution": "310106001"}) == (
        "institution=310106001|module=renewal"
    )
    assert runner.dimensions_key({}) == ""


def test_declarations_are_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="grain"):
        Indicator("x", "x", "", "SB-4", ("pa_sessions",), "week", (), "人", "count", ":start :end")
    with pytest.raises(KeyError, match="nope"):
        catalogue.indicator("nope")


# --- Queries and scope ------------------------------------------------------------------------


@pytest.mark.req("SB-4")
def test_month_of_a_day_ratio_is_sum_of_numerators_over_sum_of_denominators(
    computed: dict[str, Any], make_staff: Any
) -> None:
    regulator = make_staff("regulator", permissions=("supervision.view_indicatorvalue",))
    decided = [
        r
        for r in computed["lake"]["pa_realname"]
        if r["method"] == "manual"
        and r["outcome"] in ("approved", "rejected")
        and r["decided_at"].month == 1
        and r["decided_at"].year == 2025
    ]
    approved = sum(r["outcome"] == "approved" for r in decided)

    points = queries.series(
        regulator, "pa_manual_review_approval_rate", grain="month", start=FIRST, end=LAST
    )

    january = points[0]
    assert (january.period_start, january.numerator, january.denominator) == (
        date(2025, 1, 1),
        approved,
        len(decided),
    )
    assert january.value == pytest.approx(100.0 * approved / len(decided))


@pytest.mark.req("SP-7")
def test_breakdown_by_module_sums_the_range(computed: dict[str, Any], make_staff: Any) -> None:
    regulator = make_staff("regulator", permissions=("supervision.view_indicatorvalue",))
    start, end = date(2025, 1, 10), date(2025, 1, 16)
    counts: dict[str, int] = defaultdict(int)
    for visit in _resident_visits(computed["lake"]):
        if start <= visit["visited_at"].date() <= end:
            counts[visit["module"]] += 1

    items = queries.breakdown(
        regulator, "pa_module_visits", grain="day", start=start, end=end, dimension="module"
    )

    assert {item.key: item.value for item in items} == {m: float(counts[m]) for m in MODULES}
    assert [item.value for item in items] == sorted((item.value for item in items), reverse=True)
    assert {item.label for item in items} == set(MODULES.values())


@pytest.mark.req("SP-2")
def test_gender_breakdown_is_as_of_the_period_end(
    computed: dict[str, Any], make_staff: Any
) -> None:
    regulator = make_staff("regulator", permissions=("supervision.view_indicatorvalue",))
    end = date(2025, 1, 31)
    first = _first_approvals(computed["lake"]["pa_realname"])
    women = sum(r["decided_at"].date() <= end and r["gender"] == "2" for r in first.values())

    items = queries.breakdown(
        regulator, "pa_realname_by_gender", grain="period", start=FIRST, end=end, dimension="gender"
    )

    by_key = {item.key: item for item in items}
    assert (by_key["2"].label, by_key["2"].value) == ("女", women)


@pytest.mark.req("SB-4")
def test_institution_staff_see_only_their_institution(
    computed: dict[str, Any], make_staff: Any
) -> None:
    central = _institution(INSTITUTIONS[0])
    admin = make_staff(
        "central-admin", permissions=("supervision.view_indicatorvalue",), institution=central
    )
    outsider = make_staff("outsider")

    points = queries.series(
        admin,
        "pa_module_visits_by_institution",
        grain="day",
        start=FIRST,
        end=LAST,
        dimensions_key="*",
    )
    expected = {
        key: value
        for key, value in computed["expected"]["pa_module_visits_by_institution"].items()
        if key[1].startswith(f"institution={central.code}|")
    }
    assert {(p.period_start, p.dimensions_key): p.value for p in points} == expected
    # District totals carry no institution: invisible to institution staff.
    assert queries.series(admin, "pa_dau", grain="day", start=FIRST, end=LAST) == []
    assert queries.latest(admin, "pa_dau") is None
    items = queries.breakdown(
        admin, "appt_bookings", grain="day", start=FIRST, end=LAST, dimension="institution"
    )
    assert [item.key for item in items] == [central.code]
    assert items[0].label == (central.short_name or central.name)
    assert (
        queries.series(
            outsider,
            "pa_module_visits_by_institution",
            grain="day",
            start=FIRST,
            end=LAST,
            dimensions_key="*",
        )
        == []
    )


@pytest.mark.req("SB-4")
def test_series_selects_one_series_or_a_prefix(computed: dict[str, Any], make_staff: Any) -> None:
    regulator = make_staff("regulator", permissions=("supervision.view_indicatorvalue",))
    total = queries.series(regulator, "pa_module_visits", grain="day", start=FIRST, end=FIRST)
    assert [(p.dimensions_key, p.value) for p in total] == [
        ("", computed["expected"]["pa_module_visits"][(FIRST, "")])
    ]
    modules = queries.series(
        regulator,
        "pa_module_visits",
        grain="day",
        start=FIRST,
        end=FIRST,
        dimensions_key="module=*",
    )
    assert {p.dimensions["module"] for p in modules} == set(MODULES)
    latest = queries.latest(regulator, "pa_registered_cumulative")
    assert latest is not None
    assert (latest.period_start, latest.value) == (
        LAST,
        computed["expected"]["pa_registered_cumulative"][(LAST, "")],
    )
    with pytest.raises(ValueError, match="不支持"):
        queries.series(regulator, "pa_mau", grain="day", start=FIRST, end=LAST)


# --- SQL snapshots --------------------------------------------------------------------------


@pytest.mark.req("SB-4")
@pytest.mark.parametrize("item", INDICATORS, ids=lambda item: item.code)
def test_generated_sql_matches_its_snapshot(item: Indicator) -> None:
    generated = runner.sql_for(item, start=SNAPSHOT_RANGE[0], end=SNAPSHOT_RANGE[1])
    path = SNAPSHOTS / f"{item.code}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(generated, encoding="utf-8")
    assert path.exists(), f"no snapshot for {item.code}: run with UPDATE_SNAPSHOTS=1"
    assert generated == path.read_text(encoding="utf-8")


def test_every_snapshot_belongs_to_a_declared_indicator() -> None:
    assert {path.stem for path in SNAPSHOTS.glob("*.sql")} == {item.code for item in INDICATORS}
