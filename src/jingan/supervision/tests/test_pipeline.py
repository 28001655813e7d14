"""The day pipeline, manual re-runs, the schedule and the real feed simulator (SB-6, SB-7)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from jingan.supervision import pipeline, tasks
from jingan.supervision.datasets import DATASETS, Source, dataset
from jingan.supervision.lake import store
from jingan.supervision.models import IndicatorValue, JobRun, JobStatus
from jingan.supervision.tests.feed_double import FeedDouble, running_feed_double

DAY = date(2026, 3, 2)
SESSIONS = dataset("pa_sessions").column_names


@pytest.fixture
def feeds(settings: Any, tmp_path: Path) -> Iterator[FeedDouble]:
    with running_feed_double() as double:
        settings.SUPERVISION = {
            **settings.SUPERVISION,
            "lake_dir": tmp_path / "lake",
            "exchange_dir": tmp_path / "exchange",
            "feeds_base_url": double.url,
        }
        yield double


def session(number: int, account: str, *, staff: bool = False, views: int = 3) -> list[str]:
    return [
        f"S{number}",
        account,
        f"2026-03-02 08:{number:02d}:00",
        f"2026-03-02 08:{number + 1:02d}:00",
        str(views),
        "true" if staff else "false",
    ]


SESSION_ROWS = [
    session(1, "A1"),
    session(2, "A1"),
    session(3, "A2"),
    session(4, "A3", staff=True),
    session(5, "A4", views=0),  # refused by cleaning: a session has at least one page view
]


@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_a_day_runs_collect_then_clean_then_indicators(feeds: FeedDouble) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, SESSION_ROWS)

    runs = pipeline.run_day(DAY, datasets=["pa_sessions"], trigger="test")

    assert [(r.kind, r.target, r.status) for r in runs] == [
        ("collect", "pa_sessions", "succeeded"),
        ("clean", "pa_sessions", "partial"),
        ("indicators", runs[2].target, runs[2].status),
    ]
    assert (runs[1].rows_in, runs[1].rows_out, runs[1].rows_rejected) == (5, 4, 1)
    assert runs[2].status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL)
    assert all(r.trigger == "test" and r.day in (DAY, None) for r in runs[:2])
    # Independently of the indicator SQL: resident sessions (not staff) with page views.
    clean = store.read_partition("clean", "pa_sessions", DAY)
    assert clean is not None
    active = {row[1] for row in SESSION_ROWS if row[5] == "false" and int(row[4]) >= 1}
    assert active == {"A1", "A2"}
    dau = IndicatorValue.objects.unscoped().get(
        indicator="pa_dau", grain="day", period_start=DAY, dimensions_key=""
    )
    assert dau.value == len(active)


@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_a_failed_collection_is_not_cleaned_and_keeps_the_clean_day(feeds: FeedDouble) -> None:
    feeds.put("pa_sessions", DAY, SESSIONS, SESSION_ROWS)
    pipeline.run_day(DAY, datasets=["pa_sessions"], trigger="test")
    before = store.read_partition("clean", "pa_sessions", DAY)
    feeds.down = True

    runs = pipeline.run_day(DAY, datasets=["pa_sessions"], trigger="test")

    assert [(r.kind, r.status) for r in runs[:1]] == [("collect", "failed")]
    assert [r.kind for r in runs] == ["collect", "indicators"]
    assert store.read_partition("clean", "pa_sessions", DAY) == before
    assert store.read_partition("raw", "pa_sessions", DAY) is not None


@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_a_manual_rerun_is_triggered_manual_by_its_actor_and_audited(
    feeds: FeedDouble, make_staff: Any
) -> None:
    operator = make_staff("dataops-test", permissions=("supervision.rerun_jobrun",))
    feeds.put("pa_sessions", DAY, SESSIONS, SESSION_ROWS[:2])
    pipeline.run_day(DAY, datasets=["pa_sessions"], trigger="test")
    feeds.put("pa_sessions", DAY, SESSIONS, SESSION_ROWS[:3])

    runs = pipeline.rerun_day(DAY, actor=operator, datasets=["pa_sessions"])

    assert {(r.trigger, r.actor_id) for r in runs[:2]} == {("manual", operator.pk)}
    clean = store.read_partition("clean", "pa_sessions", DAY)
    assert clean is not None
    assert clean.column("session_id").to_pylist() == ["S1", "S2", "S3"]
    entry = apps.get_model("audit", "AuditEntry").objects.get(action="supervision.rerun_day")
    assert (entry.actor_id, entry.object_id, entry.outcome) == (
        operator.pk,
        "2026-03-02",
        "success",
    )


@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_the_queued_rerun_reads_the_actor_by_id(
    feeds: FeedDouble, make_staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = make_staff("dataops-queue", permissions=("supervision.rerun_jobrun",))
    feeds.put("pa_sessions", DAY, SESSIONS, SESSION_ROWS[:1])

    tasks.rerun_day_task("2026-03-02", operator.pk, ["pa_sessions"])

    run = JobRun.objects.get(kind="collect")
    assert (run.trigger, run.actor_id, run.day, run.rows_out) == ("manual", operator.pk, DAY, 1)


@pytest.mark.req("SB-7")
def test_the_nightly_run_and_the_freshness_check_are_scheduled() -> None:
    from huey.contrib.djhuey import HUEY

    from jingan.config import schedules

    jobs = {job.name: job for job in schedules.SCHEDULE}
    nightly = jobs["supervision.run_yesterday"]
    freshness = jobs["supervision.check_feed_freshness"]
    assert nightly.function is tasks.run_yesterday
    assert freshness.function is tasks.check_feeds_fresh
    zone = timezone.get_current_timezone()
    assert nightly.schedule(datetime(2026, 3, 3, 2, 30, tzinfo=zone))
    assert not nightly.schedule(datetime(2026, 3, 3, 2, 31, tzinfo=zone))
    assert not nightly.schedule(datetime(2026, 3, 3, 3, 30, tzinfo=zone))
    hourly = [datetime(2026, 3, 3, hour, 15, tzinfo=zone) for hour in range(24)]
    assert all(freshness.schedule(moment) for moment in hourly)
    assert not freshness.schedule(datetime(2026, 3, 3, 4, 16, tzinfo=zone))
    registered = {task.name for task in HUEY._registry.periodic_tasks}
    assert {
        "supervision.run_yesterday",
        "supervision.check_feed_freshness",
        "supervision.process_exchange_inbox",
    } <= registered


@pytest.mark.req("SB-7")
@pytest.mark.django_db
def test_the_nightly_job_runs_yesterday(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[date, str]] = []

    def record(day: date, *, trigger: str, **_: Any) -> list[JobRun]:
        seen.append((day, trigger))
        return []

    monkeypatch.setattr(pipeline, "run_day", record)

    tasks.run_yesterday()

    assert seen == [(timezone.localdate() - timedelta(days=1), "schedule")]


@pytest.mark.req("SB-1")
@pytest.mark.req("SB-6")
@pytest.mark.django_db
def test_every_dataset_of_a_day_from_the_feed_simulator(settings: Any, tmp_path: Path) -> None:
    from jingan.integrations.feeds import synthetic
    from jingan.integrations.feeds.simulator import FeedSimulator

    day = date(2026, 2, 10)
    simulator = FeedSimulator(scale="tiny", seed=7, first_day=day, last_day=day)
    url = simulator.start()
    settings.SUPERVISION = {
        **settings.SUPERVISION,
        "lake_dir": tmp_path / "lake",
        "exchange_dir": tmp_path / "exchange",
        "feeds_base_url": url,
    }
    try:
        runs = pipeline.run_day(day, trigger="test")
    finally:
        simulator.stop()

    collected = {r.target: r for r in runs if r.kind == "collect"}
    cleaned = {r.target: r for r in runs if r.kind == "clean"}
    assert set(collected) == {d.name for d in DATASETS}
    failures = {name: run.error for name, run in collected.items() if run.status == "failed"}
    assert failures == {}
    assert set(cleaned) == set(collected)
    for name, run in collected.items():
        assert run.rows_in == run.rows_out + run.rows_rejected
        assert cleaned[name].rows_in == run.rows_out
        assert cleaned[name].rows_in == cleaned[name].rows_out + cleaned[name].rows_rejected
    # Every row the source generated arrived: landed or refused with a reason.
    fed = [d.name for d in DATASETS if d.source != Source.PLATFORM]
    generated = {name: synthetic.generate(name, day, scale="tiny", seed=7).num_rows for name in fed}
    assert {name: collected[name].rows_in for name in fed} == generated
    assert all(generated[name] > 0 for name in ("pa_sessions", "appointments", "consultations"))
    for data in DATASETS:
        clean = store.read_partition("clean", data.name, day)
        assert clean is not None
        assert "id_number" not in clean.column_names
