import csv
import gzip
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes

from jingan.integrations.feeds import synthetic
from jingan.integrations.feeds.simulator import FeedSimulator
from jingan.supervision.datasets import DATASETS, MODULES, dataset

SEED = 7
WORKDAY = date(2026, 10, 14)  # a Wednesday
HOLIDAY = date(2026, 10, 2)  # National Day holiday
SOURCE_DATASETS = [d.name for d in DATASETS if d.name != "platform_residents"]
ARROW_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp[s]",
    "BIGINT": "int64",
    "DOUBLE": "double",
    "BOOLEAN": "bool",
    "DATE": "date32[day]",
}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def check_digit(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def sm3(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"))))


@pytest.fixture
def feeds() -> Iterator[FeedSimulator]:
    simulator = FeedSimulator(
        scale="tiny", seed=SEED, first_day=date(2026, 10, 1), last_day=date(2026, 10, 20)
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.mark.parametrize("name", SOURCE_DATASETS)
def test_columns_are_the_declared_names_types_and_order(name):
    table = synthetic.generate(name, WORKDAY, scale="tiny", seed=SEED)
    declared = dataset(name)
    assert table.column_names == list(declared.column_names)
    assert [str(field.type) for field in table.schema] == [
        ARROW_TYPES[column.type] for column in declared.columns
    ]


def test_platform_residents_are_not_synthetic():
    assert "platform_residents" not in synthetic.COLUMNS
    with pytest.raises(KeyError):
        synthetic.generate("platform_residents", WORKDAY, scale="tiny", seed=SEED)


@pytest.mark.parametrize("name", SOURCE_DATASETS)
def test_a_day_depends_only_on_seed_scale_dataset_and_day(name):
    later = synthetic.generate(name, WORKDAY + timedelta(days=3), scale="tiny", seed=SEED)
    first = synthetic.generate(name, WORKDAY, scale="tiny", seed=SEED)
    synthetic._sessions.cache_clear()
    synthetic._appointments.cache_clear()
    synthetic.population.cache_clear()
    again = synthetic.generate(name, WORKDAY, scale="tiny", seed=SEED)
    assert first.equals(again)
    assert synthetic.to_csv_gz(first) == synthetic.to_csv_gz(again)
    assert not first.equals(later) or first.num_rows == 0
    other_seed = synthetic.generate(name, WORKDAY, scale="tiny", seed=SEED + 1)
    assert not first.equals(other_seed) or first.num_rows == 0


def test_id_numbers_have_valid_check_digits_area_codes_and_birth_dates():
    numbers: list[str] = []
    for name in ("pa_realname", "appointments", "registrations", "consultations"):
        table = synthetic.generate(name, WORKDAY, scale="small", seed=SEED)
        numbers += [n for n in table.column("id_number").to_pylist() if n is not None]
    assert len(numbers) > 300
    for number in numbers:
        assert re.fullmatch(r"\d{17}[\dX]", number), number
        assert number[:6] in ("310106", "310108")
        assert number[17] == check_digit(number[:17]), number
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        assert date(1920, 1, 1) < born <= WORKDAY


def test_id_numbers_are_unique_per_resident():
    pop = synthetic.population("small", SEED)
    import numpy as np

    numbers = pop.id_numbers(np.arange(pop.size)).to_pylist()
    assert len(set(numbers)) == pop.size == 20_000


def test_district_population_is_jingan_sized_and_aged():
    import numpy as np

    pop = synthetic.population("district", 20260101)
    assert pop.size == 975_707
    numbers = pop.id_numbers(np.arange(pop.size)).to_pylist()
    on = date(2026, 6, 1)
    # Age in full years from the ID number's birth date, computed independently.
    aged_60 = 0
    for number in numbers:
        year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
        age = on.year - year - ((on.month, on.day) < (month, day))
        aged_60 += age >= 60
    assert 0.27 <= aged_60 / pop.size <= 0.31
    # ~60 % of residents eventually register on the public account.
    assert 0.55 <= len(pop.account_resident) / pop.size <= 0.66


def test_district_daily_active_users_are_in_the_tens_of_thousands():
    sessions = synthetic.generate("pa_sessions", WORKDAY, scale="district", seed=20260101)
    residents = {
        account
        for account, staff in zip(
            sessions.column("account_id").to_pylist(),
            sessions.column("is_staff").to_pylist(),
            strict=True,
        )
        if not staff and account is not None
    }
    assert 10_000 <= len(residents) <= 99_999
    staff_share = sum(sessions.column("is_staff").to_pylist()) / sessions.num_rows
    assert 0.02 <= staff_share <= 0.04


def test_workdays_have_more_volume_than_holidays():
    assert synthetic.day_type(WORKDAY) == "workday"
    assert synthetic.day_type(HOLIDAY) == "holiday"
    assert synthetic.day_type(date(2026, 10, 17)) == "weekend"
    # chinese_calendar's make-up workday (调休) counts as a workday.
    assert synthetic.day_type(date(2026, 9, 20)) == "workday"
    # Outside the calendar's data years: Mon–Fri.
    assert synthetic.day_type(date(2031, 1, 6)) == "workday"
    assert synthetic.day_type(date(2031, 1, 4)) == "weekend"
    for name in ("pa_sessions", "appointments", "registrations", "consultations"):
        workday = synthetic.generate(name, WORKDAY, scale="small", seed=SEED).num_rows
        holiday = synthetic.generate(name, HOLIDAY, scale="small", seed=SEED).num_rows
        assert workday > holiday, name


def test_morning_is_the_peak_of_sessions():
    sessions = synthetic.generate("pa_sessions", WORKDAY, scale="small", seed=SEED)
    hours = [started.hour for started in sessions.column("started_at").to_pylist()]
    by_hour = [hours.count(h) for h in range(24)]
    assert max(range(24), key=lambda h: by_hour[h]) in (8, 9, 10)
    assert by_hour[9] > 4 * by_hour[3]


def test_module_visits_belong_to_that_days_sessions_and_name_institutions():
    sessions = synthetic.generate("pa_sessions", WORKDAY, scale="small", seed=SEED)
    visits = synthetic.generate("pa_module_visits", WORKDAY, scale="small", seed=SEED)
    session_accounts = dict(
        zip(
            sessions.column("session_id").to_pylist(),
            sessions.column("account_id").to_pylist(),
            strict=True,
        )
    )
    with_institution = {"outpatient_booking", "inpatient_service", "vaccination", "physical_exam"}
    for row in visits.to_pylist():
        assert row["session_id"] in session_accounts
        if row["account_id"] is not None:
            assert session_accounts[row["session_id"]] in (row["account_id"], None)
        if row["module"] in with_institution:
            assert re.fullmatch(r"310106(0[0-2]\d)", row["institution_code"])
        elif row["module"] in MODULES:
            assert row["institution_code"] is None
    modules = set(visits.column("module").to_pylist())
    assert set(MODULES) <= modules


def test_registered_accounts_open_the_account_only_after_registering():
    day = date(2026, 10, 12)
    registered_at = {
        row["account_id"]: row["registered_at"]
        for row in synthetic.generate(
            "pa_registrations", day, scale="district", seed=20260101
        ).to_pylist()
    }
    assert registered_at
    sessions = synthetic.generate("pa_sessions", day, scale="district", seed=20260101).to_pylist()
    same_day = [s for s in sessions if s["account_id"] in registered_at]
    for session in same_day:
        assert session["started_at"] >= registered_at[session["account_id"]]


def test_realname_is_mostly_face_with_manual_reviews_deciding_later():
    rows = []
    for offset in range(14):
        day = date(2026, 9, 1) + timedelta(days=offset)
        rows += synthetic.generate("pa_realname", day, scale="district", seed=20260101).to_pylist()
    manual = [r for r in rows if r["method"] == "manual"]
    assert 0.015 <= len(manual) / len(rows) <= 0.05
    assert {r["outcome"] for r in rows} >= {"approved", "rejected"}
    for row in manual:
        if row["decided_at"] is not None:
            assert row["decided_at"] - row["submitted_at"] >= timedelta(hours=2)
    face = [r for r in rows if r["method"] == "face" and r["decided_at"] is not None]
    assert all(r["decided_at"] - r["submitted_at"] < timedelta(minutes=1) for r in face)


def test_internet_care_patients_are_mostly_aged_60_and_over():
    rows = synthetic.generate("consultations", WORKDAY, scale="district", seed=20260101)
    numbers = rows.column("id_number").to_pylist()
    ages = [
        WORKDAY.year
        - int(n[6:10])
        - ((WORKDAY.month, WORKDAY.day) < (int(n[10:12]), int(n[12:14])))
        for n in numbers
    ]
    assert sum(age >= 60 for age in ages) / len(ages) >= 0.5


def test_bad_rows_are_rare_but_present_at_small_scale():
    bad = total = 0
    for offset in range(21):
        day = date(2026, 9, 1) + timedelta(days=offset)
        for data in DATASETS:
            if data.name == "platform_residents":
                continue
            for row in synthetic.generate(data.name, day, scale="small", seed=SEED).to_pylist():
                total += 1
                missing = any(row[c.name] is None for c in data.columns if c.required)
                unknown_module = data.name == "pa_module_visits" and row["module"] not in MODULES
                negative = any(
                    row.get(name) is not None and row[name] < 0 for name in ("fee", "amount")
                )
                bad += missing or unknown_module or negative
    assert 0 < bad
    assert bad / total < 0.002


@pytest.mark.req("SB-1")
def test_feed_serves_gzip_csv_with_sm3_and_row_count(feeds):
    response = httpx.get(
        f"{feeds.url}/public-account/v1/feeds/pa_sessions", params={"date": "2026-10-14"}
    )
    assert response.status_code == 200
    assert response.headers["X-Content-SM3"] == sm3(response.content)
    rows = csv_rows(response.content)
    assert rows[0] == list(dataset("pa_sessions").column_names)
    assert int(response.headers["X-Row-Count"]) == len(rows) - 1 > 0
    expected = synthetic.generate("pa_sessions", WORKDAY, scale="tiny", seed=SEED)
    assert [r[0] for r in rows[1:]] == expected.column("session_id").to_pylist()
    for row in rows[1:]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[2])
        assert row[5] in ("true", "false")


@pytest.mark.req("SB-1")
def test_internet_hospital_feed_writes_nulls_as_empty_fields(feeds):
    response = httpx.get(
        f"{feeds.url}/internet-hospital/v1/feeds/consultations", params={"date": "2026-10-14"}
    )
    assert response.status_code == 200
    assert response.headers["X-Content-SM3"] == sm3(response.content)
    rows = csv_rows(response.content)
    header = rows[0]
    assert header == list(dataset("consultations").column_names)
    expected = synthetic.generate("consultations", WORKDAY, scale="tiny", seed=SEED).to_pylist()
    for row, want in zip(rows[1:], expected, strict=True):
        accepted = row[header.index("accepted_at")]
        assert (accepted == "") == (want["accepted_at"] is None)


@pytest.mark.req("SB-1")
def test_regional_files_are_listed_with_digest_rows_and_size(feeds):
    listing = httpx.get(f"{feeds.url}/regional/v1/files/2026-10-14/").json()
    assert [entry["name"] for entry in listing] == [
        "appointments-20261014.csv.gz",
        "registrations-20261014.csv.gz",
    ]
    for entry in listing:
        body = httpx.get(f"{feeds.url}/regional/v1/files/2026-10-14/{entry['name']}").content
        assert entry["sm3"] == sm3(body)
        assert entry["size"] == len(body)
        assert entry["rows"] == len(csv_rows(body)) - 1
        assert csv_rows(body)[0] == list(dataset(entry["dataset"]).column_names)


@pytest.mark.req("SB-1")
def test_outage_mode_answers_503_until_lifted(feeds):
    path = f"{feeds.url}/public-account/v1/feeds/pa_registrations"
    assert httpx.post(f"{feeds.url}/simulator/outage", json={"down": True}).json() == {"down": True}
    down = httpx.get(path, params={"date": "2026-10-14"})
    assert down.status_code == 503
    assert down.json() == {"message": "数据源维护中，请稍后重试"}
    assert httpx.get(f"{feeds.url}/regional/v1/files/2026-10-14/").status_code == 503
    httpx.post(f"{feeds.url}/simulator/outage", json={"down": False})
    assert httpx.get(path, params={"date": "2026-10-14"}).status_code == 200
    refused = httpx.post(f"{feeds.url}/simulator/outage", json={"down": "yes"})
    assert refused.status_code == 400


@pytest.mark.req("SB-1")
def test_unknown_dataset_file_or_day_is_404_with_a_chinese_reason(feeds):
    unknown = httpx.get(
        f"{feeds.url}/public-account/v1/feeds/prescriptions", params={"date": "2026-10-14"}
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "未知数据集：prescriptions"}
    # Each source serves only its own datasets.
    wrong_source = httpx.get(
        f"{feeds.url}/public-account/v1/feeds/consultations", params={"date": "2026-10-14"}
    )
    assert wrong_source.status_code == 404
    outside = httpx.get(
        f"{feeds.url}/internet-hospital/v1/feeds/renewals", params={"date": "2026-10-21"}
    )
    assert outside.status_code == 404
    assert outside.json() == {
        "message": "2026-10-21 的数据不存在（可提供 2026-10-01 至 2026-10-20）"
    }
    missing_file = httpx.get(f"{feeds.url}/regional/v1/files/2026-10-14/other-20261014.csv.gz")
    assert missing_file.json() == {"message": "文件不存在：other-20261014.csv.gz"}
    bad_date = httpx.get(
        f"{feeds.url}/internet-hospital/v1/feeds/renewals", params={"date": "14/10/2026"}
    )
    assert bad_date.status_code == 400


def test_simulators_declare_the_feeds_for_jingan_simulate(settings, tmp_path):
    from jingan.supervision.simulators import SIMULATORS

    # A data directory where no demo recorded its synthetic world: the defaults apply.
    settings.SUPERVISION = {**settings.SUPERVISION, "lake_dir": tmp_path / "lake"}

    [(name, title, factory, base_url)] = SIMULATORS
    assert name == "feeds"
    assert base_url == "http://127.0.0.1:8105"
    simulator = factory()
    assert isinstance(simulator, FeedSimulator)
    assert (simulator.scale, simulator.seed) == ("small", 20260101)
