"""The visit event centre: sustained events/s end to end and emit-to-commit latency.

For each database (SQLite, the embedded default; PostgreSQL at 127.0.0.1:5432 when it
answers) and each layout (1 sub-centre, 4 sub-centre processes), a producer ingests a
clinic's stream of visit events through ``journal.ingest`` (the function every input
uses) while the sub-centres fold them: visit state, to-dos, wait estimates, and the
notifications of the 20 % of visits whose patient is a verified resident.

* Sustained throughput: N events produced as fast as the producer can, in batches of
  50, from the first emit to the last commit (events/s).
* Latency at a fixed rate (default 500 events/s): p50/p99 of emit (``emitted_at``, set
  by the producer just before ingest) to the commit of the fold.
* Baseline in the same run, on the same database: a naive single worker that folds
  one event per transaction (``process_batch(limit=1)``), the processor without its
  batching; printed as a ratio.

Targets (issue 5): >= 2,000 events/s on PostgreSQL on this 2-core machine; p99 < 250 ms
at 500 events/s.

    .venv/bin/python bench/event_centre.py [--events 20000] [--rate 500] [--seconds 10]
        [--databases sqlite,postgresql]

Each database runs in a child process of its own with a temporary data directory (and a
temporary PostgreSQL database, dropped afterwards).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CODES = ("310106001", "310106004", "310106010", "310106020", "310106007", "310106015")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# -- the stream ------------------------------------------------------------------------


def clinic_stream(count: int, seed: int, id_numbers: list[str]) -> list[Any]:
    """``count`` events of interleaved visits, in the order a clinic morning emits them."""
    from jingan.integrations.his.port import PatientRef
    from jingan.integrations.his.scenarios import patient_name, plan_visit, visit_script

    rng = random.Random(seed)
    scripts: list[list[Any]] = []
    total = 0
    index = 0
    while total < count:
        linked = index % 5 == 0 and id_numbers
        plan = plan_visit(
            rng,
            institution_code=CODES[index % len(CODES)],
            dialect="B",
            visit_key=f"B{seed}-{index:06d}",
            arrive_at=datetime(2026, 11, 26, 0, 30, tzinfo=UTC) + timedelta(seconds=index * 7),
            patient=PatientRef(name=patient_name(rng), id_number=rng.choice(id_numbers))
            if linked
            else None,
        )
        script = visit_script(plan, rng)
        scripts.append(script)
        total += len(script)
        index += 1
    # Interleave: each visit advances a step at a time, like many patients in one clinic.
    stream: list[Any] = []
    cursors = [0] * len(scripts)
    live = list(range(min(60, len(scripts))))
    waiting = list(range(len(live), len(scripts)))
    while live and len(stream) < count:
        position = rng.randrange(len(live))
        visit = live[position]
        stream.append(scripts[visit][cursors[visit]])
        cursors[visit] += 1
        if cursors[visit] == len(scripts[visit]):
            live.pop(position)
            if waiting:
                live.append(waiting.pop(0))
    return stream[:count]


def stamped(events: list[Any]) -> list[Any]:
    from dataclasses import replace

    from django.utils import timezone

    now = timezone.now()
    return [replace(event, emitted_at=now) for event in events]


# -- the workers -----------------------------------------------------------------------


def _subcentre_process(name: str, batch_size: int, stop: Any, results: Any) -> None:
    import django
    from django.db import connections

    django.setup()
    connections.close_all()
    from jingan.accompaniment.visits.centre.subcentre import SubCentre

    centre = SubCentre(name=name, batch_size=batch_size, idle_wait=0.01, lease_seconds=5)
    centre.keep_batches = True
    stopping = threading.Event()
    watcher = threading.Thread(target=lambda: (stop.wait(), stopping.set()), daemon=True)
    watcher.start()
    centre.run(stopping)
    latencies = [value for batch in centre.batches for value in batch.latencies]
    results.put({"name": name, "processed": centre.processed, "latencies": latencies})


def reset_tables() -> None:
    from jingan.accompaniment.visits.models import (
        PartitionHead,
        PartitionLease,
        SubCentreMember,
        Visit,
        VisitEvent,
        VisitTodo,
        WaitEstimate,
    )
    from jingan.core.messaging.models import Message, OutboxEntry

    OutboxEntry.objects.all().delete()
    Message.objects.all().delete()
    WaitEstimate.objects.all().delete()
    VisitTodo.objects.all().delete()
    Visit.objects.unscoped().all().delete()
    VisitEvent.objects.unscoped().all().delete()
    PartitionLease.objects.all().delete()
    PartitionHead.objects.all().delete()
    SubCentreMember.objects.all().delete()


def processed_total() -> int:
    from django.db.models import Sum

    from jingan.accompaniment.visits.models import PartitionLease

    return int(PartitionLease.objects.aggregate(total=Sum("processed"))["total"] or 0)


def run_layout(
    stream: list[Any], *, workers: int, batch_size: int, rate: float | None, label: str
) -> dict[str, Any]:
    """Produce ``stream`` (as fast as possible, or at ``rate`` events/s) while ``workers``
    sub-centre processes fold it; return throughput and latency."""
    from django.db import connections

    from jingan.accompaniment.visits.centre import journal
    from jingan.accompaniment.visits.centre.processor import ensure_leases

    reset_tables()
    ensure_leases()
    connections.close_all()
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_subcentre_process, args=(f"{label}-{i}", batch_size, stop, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    # Start once the sub-centres have shared the partitions out (each holds a fair share).
    from jingan.accompaniment.visits.models import PartitionLease

    settle = time.monotonic() + 20
    while time.monotonic() < settle:
        owners = list(PartitionLease.objects.exclude(owner="").values_list("owner", flat=True))
        if len(owners) == len(PartitionLease.objects.all()) and len(set(owners)) == workers:
            break
        time.sleep(0.1)
    chunk = 50 if rate is None else max(1, int(rate / 50))
    started = time.perf_counter()
    for start in range(0, len(stream), chunk):
        journal.ingest(stamped(stream[start : start + chunk]))
        if rate is not None:
            due = started + (start + chunk) / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    produced = time.perf_counter()
    deadline = produced + 600
    while processed_total() < len(stream) and time.perf_counter() < deadline:
        time.sleep(0.01)
    finished = time.perf_counter()
    stop.set()
    latencies: list[float] = []
    for _ in processes:
        latencies.extend(results.get(timeout=60)["latencies"])
    for process in processes:
        process.join(timeout=30)
    done = processed_total()
    return {
        "label": label,
        "events": done,
        "seconds": round(finished - started, 2),
        "events_per_second": round(done / (finished - started), 1),
        "produce_seconds": round(produced - started, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1) if latencies else None,
    }


def child(database: str, events: int, rate: float, seconds: float) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from jingan.core.residents.models import Resident
    from jingan.integrations.his.scenarios import id_number, patient_name

    rng = random.Random(5)
    id_numbers = []
    for index in range(100):
        number = id_number(rng)
        resident = Resident(openid=f"bench-{index}", nickname="压测居民")
        resident.name = patient_name(rng)
        resident.id_number = number
        resident.is_verified = True
        resident.save()
        id_numbers.append(number)
    stream = clinic_stream(events, 1, id_numbers)
    naive_stream = clinic_stream(max(events // 8, 1000), 2, id_numbers)
    paced = clinic_stream(int(rate * seconds), 3, id_numbers)
    figures: dict[str, Any] = {"database": database, "runs": []}
    print(f"[{database}] naive single worker, {len(naive_stream)} events ...", flush=True)
    figures["runs"].append(
        run_layout(naive_stream, workers=1, batch_size=1, rate=None, label="naive")
    )
    for workers in (1, 4):
        print(f"[{database}] {workers} sub-centre(s), {len(stream)} events ...", flush=True)
        figures["runs"].append(
            run_layout(stream, workers=workers, batch_size=500, rate=None, label=f"sc{workers}")
        )
        print(f"[{database}] {workers} sub-centre(s) at {rate:.0f} events/s ...", flush=True)
        figures["runs"].append(
            run_layout(
                paced, workers=workers, batch_size=500, rate=rate, label=f"sc{workers}@{rate:.0f}"
            )
        )
    return figures


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    if args.child:
        figures = child(args.child, args.events, args.rate, args.seconds)
        Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(figures), encoding="utf-8")
        return
    results = []
    for database in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix="jingan-bench-ec-") as scratch:
            env = {
                **os.environ,
                "JINGAN_DATA_DIR": scratch,
                "JINGAN_LOG_LEVEL": "WARNING",
                "BENCH_RESULT": str(Path(scratch) / "result.json"),
                "DJANGO_SETTINGS_MODULE": "jingan.config.settings",
            }
            env.pop("JINGAN_DATABASE_URL", None)
            env.pop("JINGAN_REDIS_URL", None)
            env.pop("JINGAN_AMQP_URL", None)
            name = f"jingan_bench_{os.getpid()}"
            if database == "postgresql":
                if not postgres_available():
                    print("PostgreSQL is not answering on 127.0.0.1:5432: skipped")
                    continue
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                env["JINGAN_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
                env["JINGAN_SECRET_KEY"] = "bench-only-secret-key-0123456789abcdefghijkl"
                keyring = Path(scratch) / "keyring.json"
                subprocess.run(
                    [
                        str(Path(sys.executable).with_name("jingan")),
                        "init-keyring",
                        "--path",
                        str(keyring),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                env["JINGAN_KEYRING"] = str(Path(scratch) / "keyring.json")
            try:
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        database,
                        "--events",
                        str(args.events),
                        "--rate",
                        str(args.rate),
                        "--seconds",
                        str(args.seconds),
                    ],
                    env=env,
                    check=True,
                )
                results.append(json.loads(Path(env["BENCH_RESULT"]).read_text(encoding="utf-8")))
            finally:
                if database == "postgresql":
                    import psycopg

                    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print()
    print(
        f"{'database':<11}{'layout':<12}{'events':>8}{'s':>8}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    )
    for figures in results:
        naive = next(run for run in figures["runs"] if run["label"] == "naive")
        for run in figures["runs"]:
            print(
                f"{figures['database']:<11}{run['label']:<12}{run['events']:>8}"
                f"{run['seconds']:>8}{run['events_per_second']:>10}"
                f"{run['p50_ms'] if run['p50_ms'] is not None else '-':>9}"
                f"{run['p99_ms'] if run['p99_ms'] is not None else '-':>9}"
            )
        for run in figures["runs"]:
            if run["label"] in ("sc1", "sc4"):
                ratio = run["events_per_second"] / max(naive["events_per_second"], 0.001)
                print(
                    f"  {figures['database']} {run['label']}: {ratio:.1f}x the naive single "
                    "worker (one event per transaction)"
                )


if __name__ == "__main__":
    main()
