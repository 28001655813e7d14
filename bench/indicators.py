"""Supervision indicators on district-scale data: generation, recompute, dashboard reads.

Figures and same-run baselines:

* Seconds and peak memory (``ru_maxrss``) to load the demo window through the real
  pipeline: the ``supervision-data`` demo step (feed simulator in-process, then
  ``pipeline.run_day`` per day: collect → clean, then the indicators and alerts once
  over the window). The bare
  synthetic generation of the same days is timed first, so the pipeline's own share
  shows. Goal (district, 365 days): < 15 min and < 4 GB.
* Seconds for a full recompute of every declared indicator (``runner.compute()``) and
  for one incremental day (goal: recompute < 60 s).
* p50/p95 of the dashboard read ``queries.series`` over a year for the headline codes.
* The same indicator SQL on PostgreSQL (127.0.0.1:5432, user postgres, a temporary
  schema loaded with the clean rows by COPY) against DuckDB over the Parquet lake, as
  a ratio (goal: DuckDB ≥ 5× faster). Skipped with a note when PostgreSQL is away;
  indicators whose SQL uses DuckDB-only syntax are counted and left out of the ratio.

    .venv/bin/python bench/indicators.py [--scale district] [--days 365] [--requests 40]

Runs in a temporary data directory on a temporary SQLite database.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

HEADLINE_CODES = ("pa_dau", "pa_registered_cumulative", "pa_sessions_daily", "appt_bookings")
PG_TYPES = {
    "VARCHAR": "text",
    "TIMESTAMP": "timestamp",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.perf_counter()

    def advance(self, count: int) -> None:
        self.done += count
        width = 30
        filled = width * self.done // max(self.total, 1)
        elapsed = time.perf_counter() - self.started
        print(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {elapsed:6.0f}s",
            end="",
            flush=True,
        )
        if self.done >= self.total:
            print()


def bench_generation(scale: Any, days: list[date], seed: int) -> None:
    from jingan.integrations.feeds import synthetic

    started = time.perf_counter()
    rows = 0
    for day in days:
        for name in synthetic.DATASET_NAMES:
            rows += synthetic.generate(name, day, scale=scale, seed=seed).num_rows
    seconds = time.perf_counter() - started
    print(
        f"synthetic generation: {len(days)} days × {len(synthetic.DATASET_NAMES)} datasets, "
        f"{rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)"
    )


def bench_demo(scale: Any, days: list[date]) -> None:
    from jingan.supervision import demo

    original = demo.demo_days
    demo.demo_days = lambda s, today=None: days  # type: ignore[assignment]
    try:
        progress = Progress("demo step (collect → clean → indicators → alerts)", len(days))
        started = time.perf_counter()
        demo.load_supervision_data(scale, progress.advance)
        seconds = time.perf_counter() - started
    finally:
        demo.demo_days = original  # type: ignore[assignment]
    print(
        f"demo step: {len(days)} days in {seconds:.0f} s ({seconds / 60:.1f} min, "
        f"{seconds / len(days):.2f} s/day); peak memory {peak_mb():,.0f} MB "
        f"(goal < 15 min, < 4096 MB)"
    )


def bench_recompute(last_day: date) -> None:
    from jingan.supervision.indicators.catalogue import INDICATORS
    from jingan.supervision.indicators.runner import compute

    started = time.perf_counter()
    run = compute(trigger="manual")
    full = time.perf_counter() - started
    print(
        f"full recompute: {len(INDICATORS)} indicators in {full:.1f} s "
        f"({run.status}, {run.rows_out} values; goal < 60 s)"
    )
    started = time.perf_counter()
    run = compute(days=(last_day, last_day), trigger="manual")
    print(f"incremental day {last_day}: {time.perf_counter() - started:.2f} s ({run.status})")


def bench_series(days: list[date], requests: int) -> None:
    from jingan.core.access.models import Role
    from jingan.core.access.services import grant_role
    from jingan.core.accounts.models import User
    from jingan.supervision.indicators import queries

    user = User.objects.create(username="bench-regulator", display_name="区卫健委", is_staff=True)
    grant_role(
        actor=None,
        user=user,
        role=Role.objects.get(code="district_regulator"),
        institution_id=None,
    )
    samples: list[float] = []
    points = 0
    for index in range(requests):
        code = HEADLINE_CODES[index % len(HEADLINE_CODES)]
        started = time.perf_counter()
        points += len(queries.series(user, code, grain="day", start=days[0], end=days[-1]))
        samples.append((time.perf_counter() - started) * 1000)
    print(
        f"dashboard series (a year, {', '.join(HEADLINE_CODES)}): "
        f"p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms "
        f"over {requests} reads ({points / requests:.0f} points each)"
    )


def postgresql_dialect(sql: str) -> str:
    """The indicator SQL in PostgreSQL's dialect: same plan shape, different spellings."""
    import re

    sql = re.sub(
        r"FROM range\((.*?) \+ INTERVAL 1 DAY, INTERVAL 1 DAY\)",
        r"FROM generate_series(\1, INTERVAL '1 day') AS range",
        sql,
    )
    sql = re.sub(r"INTERVAL (\d+) (DAY|MONTH)S?\b", r"INTERVAL '\1 \2'", sql)
    return re.sub(r"\bAS DOUBLE\)", "AS double precision)", sql)


def bench_postgresql(days: list[date], work_dir: Path) -> None:
    import psycopg

    from jingan.supervision.datasets import DATASETS, clean_columns
    from jingan.supervision.indicators.catalogue import INDICATORS
    from jingan.supervision.indicators.runner import sql_for
    from jingan.supervision.lake.store import connect

    try:
        postgres = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3
        )
    except psycopg.OperationalError as error:
        print(f"PostgreSQL unreachable ({str(error).strip()[:80]}): ratio skipped")
        return
    duck = connect()
    schema = f"bench_indicators_{os.getpid()}"
    postgres.autocommit = True
    try:
        postgres.execute(f"CREATE SCHEMA {schema}")
        postgres.execute(f"SET search_path = {schema}")
        postgres.execute("SET TimeZone = 'Asia/Shanghai'")
        started = time.perf_counter()
        loaded = 0
        for data in DATASETS:
            columns = clean_columns(data)
            table = f"clean_{data.name}"
            postgres.execute(
                f"CREATE TABLE {table} ("
                + ", ".join(f"{c.name} {PG_TYPES[c.type]}" for c in columns)
                + ")"
            )
            export = work_dir / f"{table}.csv"
            duck.execute(f"COPY (SELECT * FROM {table}) TO '{export}' (HEADER false)")
            with (
                postgres.cursor() as cursor,
                cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy,
                export.open("rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            loaded += postgres.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            export.unlink()
        postgres.execute("ANALYZE")
        print(f"PostgreSQL load: {loaded:,} clean rows in {time.perf_counter() - started:.0f} s")
        duck_total = pg_total = 0.0
        compared, dialect = 0, []
        for item in INDICATORS:
            sql = sql_for(item, start=days[0], end=days[-1])
            started = time.perf_counter()
            duck.execute(sql).fetchall()
            duck_seconds = time.perf_counter() - started
            try:
                started = time.perf_counter()
                postgres.execute(postgresql_dialect(sql)).fetchall()
                pg_seconds = time.perf_counter() - started
            except psycopg.Error as error:
                dialect.append(f"{item.code} ({str(error).splitlines()[0][:60]})")
                continue
            duck_total += duck_seconds
            pg_total += pg_seconds
            compared += 1
        if not compared:
            print("no indicator SQL runs on PostgreSQL unchanged: ratio skipped")
            print(f"  DuckDB-only SQL ({len(dialect)}): {'; '.join(dialect)}")
            return
        print(
            f"indicator SQL over {len(days)} days, {compared} indicators on both: DuckDB "
            f"{duck_total:.2f} s, PostgreSQL {pg_total:.2f} s, ratio {pg_total / duck_total:.1f}× "
            f"(goal ≥ 5×)"
        )
        if dialect:
            print(f"  DuckDB-only SQL, not compared ({len(dialect)}): {', '.join(dialect)}")
    finally:
        postgres.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        postgres.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="district", choices=("tiny", "small", "district"))
    parser.add_argument("--days", type=int, default=None, help="default: the demo window")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            {
                "JINGAN_DATA_DIR": data_dir,
                "DJANGO_SETTINGS_MODULE": "jingan.config.settings_test",
                "JINGAN_DEV_CHECKOUT": "1",
            }
        )
        import logging

        import django

        django.setup()
        # Each run logs a line; a year of days would bury the figures.
        logging.getLogger("jingan").setLevel(logging.WARNING)
        from django.conf import settings
        from django.core.management import call_command

        from jingan.supervision.demo import DAYS, demo_days

        call_command("migrate", verbosity=0, interactive=False)
        count = args.days or DAYS[args.scale]
        days = (
            demo_days(args.scale)[-count:]
            if count <= DAYS[args.scale]
            else [demo_days(args.scale)[-1] - timedelta(days=count - 1 - n) for n in range(count)]
        )
        seed = int(str(settings.SUPERVISION["synthetic_seed"]))
        print(f"scale {args.scale}, {len(days)} days {days[0]} … {days[-1]}, seed {seed}")
        bench_generation(args.scale, days, seed)
        bench_demo(args.scale, days)
        bench_recompute(days[-1])
        bench_series(days, args.requests)
        bench_postgresql(days, Path(data_dir))
        print(f"peak memory of the whole bench: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
