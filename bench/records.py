"""One-click records: the record-room list with 100k applications, and a 200-page copy.

Figures and same-run baselines:

* p50/p95 of the record-room application list (``GET /console/records/applications/``,
  the full request: session, scope, filters, counts per status, one page of 25) over
  100,000 applications in 18 institutions, for a reviewer (one institution) and the
  district regulator, with and without a status filter. The baseline is the same
  requests after dropping the indexes this context declares on ``CopyApplication``
  (``Meta.indexes``); the ratio says what they buy.
* Seconds to build a 200-page watermarked copy (merge the section PDFs, render the cover
  and the watermark with WeasyPrint, stamp every page) against merging the same pages
  without cover or watermark; the ratio is the watermark's cost.

    .venv/bin/python bench/records.py [--applications 100000] [--requests 60]

Runs on a temporary SQLite database unless ``JINGAN_DATABASE_URL`` is set.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LIST_URL = "/console/records/applications/"
PAGE_TARGET = 200


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
    if done >= total:
        print()


def load_applications(count: int) -> None:
    from django.apps import apps
    from django.utils import timezone

    from jingan.medical_records.models import ApplicationStatus, CopyApplication

    institution_model = apps.get_model("institutions", "Institution")
    resident_model = apps.get_model("residents", "Resident")
    institutions = list(institution_model.objects.unscoped().filter(has_inpatient=True))
    rng = random.Random(7)
    residents = resident_model.objects.bulk_create(
        resident_model(
            openid=f"bench-{n:06d}",
            name="王秀英",
            id_number=f"3101061980{n:04d}123X",
            is_verified=True,
        )
        for n in range(2000)
    )
    statuses = [s for s, _ in ApplicationStatus.choices]
    weights = [3, 2, 1, 8, 4, 1, 2, 2, 70, 7]
    purposes = ["reimbursement", "insurance_claim", "transfer", "judicial", "other"]
    now = timezone.now()
    batch = 5000
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(count, start + batch)):
            submitted = now - datetime.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
            rows.append(
                CopyApplication(
                    number=f"BA{submitted:%Y%m%d}{n:06d}",
                    resident=residents[n % len(residents)],
                    institution=institutions[n % len(institutions)],
                    applicant_type="self",
                    patient_name="王秀英",
                    patient_id_number=f"3101061980{n % len(residents):04d}123X",
                    applicant_relation="本人",
                    purpose=rng.choice(purposes),
                    sections=["front_page", "discharge_summary"],
                    copies=1,
                    delivery_method="electronic",
                    status=rng.choices(statuses, weights)[0],
                    submitted_at=submitted,
                )
            )
        CopyApplication.objects.bulk_create(rows)
        # auto_now_add overwrote the submission times: spread them over the year again.
        progress("applications", min(count, start + batch), count)
    _spread_submission_times(rng)


def _spread_submission_times(rng: random.Random) -> None:
    from django.db import connection
    from django.utils import timezone

    from jingan.medical_records.models import CopyApplication

    table = CopyApplication._meta.db_table
    now = timezone.now()
    ids = list(CopyApplication.objects.unscoped().values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET submitted_at = %s WHERE id = %s",  # noqa: S608 (our own table)
            [(now - datetime.timedelta(minutes=rng.randint(0, 365 * 24 * 60)), pk) for pk in ids],
        )


def analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("ANALYZE")
        elif connection.vendor == "postgresql":
            cursor.execute("ANALYZE")


def staff_client(username: str, role_code: str, institution: Any) -> Any:
    from django.test import Client
    from django.utils import timezone

    from jingan.core.access.models import Role
    from jingan.core.access.services import grant_role
    from jingan.core.accounts.models import StaffSession, User
    from jingan.core.accounts.sessions import mark_fully_authenticated

    user = User.objects.create(
        username=username,
        display_name=username,
        institution=institution,
        is_staff=True,
        must_change_password=False,
        password_changed_at=timezone.now(),
    )
    role = Role.objects.get(code=role_code)
    grant_role(
        actor=None,
        user=user,
        role=role,
        institution_id=institution.pk if institution is not None else None,
    )
    client = Client()
    client.force_login(user, backend="jingan.core.access.backends.RoleBackend")
    session = client.session
    mark_fully_authenticated(session)
    session.save()
    StaffSession.objects.create(user=user, session_key=session.session_key or "")
    return client


def time_list(clients: dict[str, Any], requests: int) -> dict[str, list[float]]:
    queries = {"全部": "", "待审核": "?status=submitted", "已完成": "?status=completed&page=3"}
    timings: dict[str, list[float]] = {}
    for who, client in clients.items():
        for label, query in queries.items():
            samples = []
            client.get(LIST_URL + query)  # warm
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(LIST_URL + query)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
            timings[f"{who} {label}"] = samples
    return timings


def drop_indexes() -> list[str]:
    from django.db import connection

    from jingan.medical_records.models import CopyApplication

    dropped = []
    with connection.schema_editor() as editor:
        for index in CopyApplication._meta.indexes:
            editor.remove_index(CopyApplication, index)
            dropped.append(index.name)
    return dropped


def bench_list(count: int, requests: int) -> None:
    from django.apps import apps

    institution = (
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(has_inpatient=True)
        .order_by("code")
        .first()
    )
    load_applications(count)
    analyse()
    clients = {
        "审核员": staff_client("bench-reviewer", "record_room_reviewer", institution),
        "监管": staff_client("bench-regulator", "district_regulator", None),
    }
    with_indexes = time_list(clients, requests)
    dropped = drop_indexes()
    analyse()
    without = time_list(clients, requests)
    print(f"\napplication list, {count:,} applications, {requests} requests each")
    print(f"indexes dropped for the baseline: {', '.join(dropped)}")
    all_with: list[float] = []
    all_without: list[float] = []
    for key, samples in with_indexes.items():
        base = without[key]
        all_with += samples
        all_without += base
        print(
            f"  {key:<10} p50 {statistics.median(samples) * 1000:7.1f} ms  "
            f"p95 {percentile(samples, 0.95) * 1000:7.1f} ms   "
            f"(no indexes p95 {percentile(base, 0.95) * 1000:7.1f} ms)"
        )
    p95, base95 = percentile(all_with, 0.95), percentile(all_without, 0.95)
    print(
        f"list p95 {p95 * 1000:.1f} ms with indexes, {base95 * 1000:.1f} ms without: "
        f"ratio {base95 / p95:.2f}x"
    )


def section_pdfs(pages: int) -> list[bytes]:
    """Ten sections of twenty pages each, as the archive simulator makes them."""
    from jingan.integrations.archives.pdf import Line, build_pdf

    per_section = 20
    return [
        build_pdf(
            [
                [Line("住院病历", 14)]
                + [Line(f"第 {page + 1} 页 病程记录：患者一般情况可，继续观察。", 9)] * 30
                for page in range(per_section)
            ],
            footers=[f"section {number} {page + 1}/{per_section}" for page in range(per_section)],
            title=f"section {number}",
        )
        for number in range(pages // per_section)
    ]


def bench_copy() -> None:
    from pypdf import PdfReader, PdfWriter

    from jingan.medical_records import copy_services

    sections = section_pdfs(PAGE_TARGET)

    def plain() -> int:
        writer = PdfWriter()
        for blob in sections:
            writer.append(PdfReader(io.BytesIO(blob)))
        out = io.BytesIO()
        writer.write(out)
        return len(writer.pages)

    watermark = copy_services.Watermark(
        "BA20261125000001", "王**", datetime.date(2026, 11, 25), "保险理赔"
    )
    started = time.perf_counter()
    copy_services.build_watermarked_pdf(
        sections[:1], watermark=watermark, cover=lambda total: "<h1>封面</h1>"
    )
    print(f"\nfirst build in this process (fonts loading): {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    plain_pages = plain()
    plain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    _, pages = copy_services.build_watermarked_pdf(
        sections, watermark=watermark, cover=lambda total: f"<h1>病案复印件 共 {total} 页</h1>"
    )
    seconds = time.perf_counter() - started
    print(f"watermarked copy: {pages} pages in {seconds:.2f} s ({pages / seconds:.0f} pages/s)")
    print(
        f"plain merge of the same {plain_pages} pages: {plain_seconds:.2f} s; "
        f"ratio watermarked/plain {seconds / plain_seconds:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            {
                "JINGAN_DATA_DIR": data_dir,
                "DJANGO_SETTINGS_MODULE": "jingan.config.settings_test",
                "JINGAN_DEV_CHECKOUT": "1",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        bench_copy()
        bench_list(args.applications, args.requests)


if __name__ == "__main__":
    main()
