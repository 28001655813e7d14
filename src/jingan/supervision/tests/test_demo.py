import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jingan.integrations.feeds import synthetic
from jingan.supervision import demo
from jingan.supervision.datasets import DATASETS
from jingan.supervision.lake import store
from jingan.supervision.models import ExchangeFile, IndicatorValue, JobKind, JobRun, JobStatus


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.SUPERVISION = {
        **settings.SUPERVISION,
        "lake_dir": tmp_path / "lake",
        "exchange_dir": tmp_path / "exchange",
    }
    return tmp_path


def _rows(zone: str, name: str, day: date) -> int:
    path = store.partition_path(zone, name, day)
    return pq.read_metadata(path).num_rows if path.exists() else 0


def test_demo_window_ends_yesterday():
    assert demo.demo_days("tiny", today=date(2026, 3, 10)) == [
        date(2026, 3, 3) + timedelta(days=n) for n in range(7)
    ]
    assert len(demo.demo_days("small")) == 60
    district = demo.demo_days("district", today=date(2026, 3, 10))
    assert (len(district), district[-1]) == (365, date(2026, 3, 9))
    assert [step.size("district") for step in demo.STEPS] == [365 + 1]


@pytest.mark.req("SB-1")
@pytest.mark.django_db(transaction=True)
def test_tiny_demo_pulls_every_day_through_the_pipeline_once(lake):
    seed = 20260101
    progress: list[int] = []
    demo.load_supervision_data("tiny", progress.append)
    days = demo.demo_days("tiny")
    assert sum(progress) == 7 + 1  # seven days, then the one indicator computation
    marker = json.loads((lake / "synthetic-sources.json").read_text())
    assert marker == {"scale": "tiny", "seed": seed}
    for day in days:
        assert demo.day_is_loaded(day)
        for data in DATASETS:
            if data.name == "platform_residents":
                continue
            generated = synthetic.generate(data.name, day, scale="tiny", seed=seed).num_rows
            # Every row the source sent was landed or kept as a reject, none lost.
            assert _rows("raw", data.name, day) + _rows("rejects/raw", data.name, day) == generated
    clean_runs = JobRun.objects.filter(kind=JobKind.CLEAN, day__in=days)
    assert clean_runs.count() == 7 * len(DATASETS)
    assert not clean_runs.filter(status=JobStatus.FAILED).exists()
    assert JobRun.objects.filter(kind=JobKind.INDICATORS).exists()
    assert IndicatorValue.objects.unscoped().exists()

    runs, files = JobRun.objects.count(), ExchangeFile.objects.count()
    values = IndicatorValue.objects.unscoped().count()
    again: list[int] = []
    demo.load_supervision_data("tiny", again.append)
    assert sum(again) == 7 + 1
    # One indicator computation over the whole range, not one per day.
    assert JobRun.objects.filter(kind=JobKind.INDICATORS).count() == 1
    assert JobRun.objects.count() == runs
    assert ExchangeFile.objects.count() == files
    assert IndicatorValue.objects.unscoped().count() == values
