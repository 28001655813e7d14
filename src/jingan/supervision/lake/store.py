"""The Parquet lake on disk and the DuckDB connection that reads it (DESIGN §5).

Layout under ``settings.SUPERVISION["lake_dir"]``::

    raw/<dataset>/dt=YYYY-MM-DD/part-0.parquet        landed rows, declared columns and types
    rejects/raw/<dataset>/dt=YYYY-MM-DD/part-0.parquet  refused rows as text (+ reason)
    clean/<dataset>/dt=YYYY-MM-DD/part-0.parquet      clean rows (``datasets.clean_columns``)
    rejects/clean/<dataset>/dt=.../part-0.parquet     rows cleaning refused (+ rule, reason)
    snapshots/<run id>/<zone>/<dataset>/dt=.../part-0.parquet  what a run replaced (SEC-5)

A day's partition is always replaced whole and atomically: the new file is written
beside the old one and renamed over it, so a reader sees either the old day or the new.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from jingan.supervision.datasets import DATASETS, Dataset, clean_columns

ZONES = ("raw", "clean", "rejects/raw", "rejects/clean")
PART = "part-0.parquet"


def lake_dir() -> Path:
    return Path(str(settings.SUPERVISION["lake_dir"]))


def _check_zone(zone: str) -> None:
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; one of {ZONES}")


def dataset_dir(zone: str, dataset: str) -> Path:
    _check_zone(zone)
    return lake_dir() / zone / dataset


def partition_path(zone: str, dataset: str, day: date) -> Path:
    """Where ``dataset``'s partition for ``day`` lives in ``zone``."""
    return dataset_dir(zone, dataset) / f"dt={day.isoformat()}" / PART


def write_partition(zone: str, dataset: str, day: date, table: pa.Table) -> Path:
    """Replace the day's partition with ``table`` atomically; return its path."""
    target = partition_path(zone, dataset, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{PART}.{os.getpid()}.{threading.get_ident()}.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, target)
    return target


def read_partition(zone: str, dataset: str, day: date) -> pa.Table | None:
    path = partition_path(zone, dataset, day)
    return pq.read_table(path) if path.exists() else None


def days(zone: str, dataset: str) -> list[date]:
    """The days that have a partition, oldest first."""
    folder = dataset_dir(zone, dataset)
    if not folder.exists():
        return []
    found = [
        date.fromisoformat(child.name.removeprefix("dt="))
        for child in folder.iterdir()
        if child.name.startswith("dt=") and (child / PART).exists()
    ]
    return sorted(found)


def snapshot_partition(zone: str, dataset: str, day: date, run_id: str) -> Path | None:
    """Copy the partition a run is about to replace (SEC-5); None when there is none."""
    source = partition_path(zone, dataset, day)
    if not source.exists():
        return None
    target = lake_dir() / "snapshots" / run_id / zone / dataset / f"dt={day.isoformat()}" / PART
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


def new_run_id() -> str:
    return uuid.uuid4().hex


def _empty_select(columns: Any) -> str:
    fields = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in columns)
    return f"SELECT {fields} WHERE false"


def _view_sql(name: str, folder: Path, columns: Any) -> str:
    if any(folder.glob(f"dt=*/{PART}")):
        pattern = str(folder / "dt=*" / PART).replace("'", "''")
        # hive_partitioning would add a ``dt`` column; the rows carry their own day.
        names = ", ".join(c.name for c in columns)
        source = f"read_parquet('{pattern}', hive_partitioning = false, union_by_name = true)"
        return f"CREATE OR REPLACE VIEW {name} AS SELECT {names} FROM {source}"
    return f"CREATE OR REPLACE VIEW {name} AS {_empty_select(columns)}"


def connect(datasets: tuple[Dataset, ...] = DATASETS) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per dataset and zone.

    ``raw_<dataset>`` (declared columns as landed), ``clean_<dataset>`` (the clean
    columns). A dataset with no data yet still has its views, empty, so indicator SQL
    always runs.
    """
    connection = duckdb.connect(database=":memory:")
    connection.execute("SET TimeZone = 'Asia/Shanghai'")
    for data in datasets:
        connection.execute(
            _view_sql(f"raw_{data.name}", dataset_dir("raw", data.name), data.columns)
        )
        connection.execute(
            _view_sql(f"clean_{data.name}", dataset_dir("clean", data.name), clean_columns(data))
        )
    return connection
