"""The internet → government-network exchange area (SB-2).

Files from the internet-side sources are dropped into ``inbox/`` together with a
manifest written on the sending side (what the source declared: SM3 digest, size, row
count, columns). On this side every file is checked against its manifest: SM3 digest,
gzip integrity, header = the dataset's declared columns, row count. A file that passes
moves to ``accepted/`` and is landed; any other goes to ``quarantine/`` with the reason.
Nothing is deleted: the register (``ExchangeFile``) and the files say what happened.

Layout under ``settings.SUPERVISION["exchange_dir"]``::

    <area>/<dataset>/<YYYY-MM-DD>/<id>-<filename>            the file
    <area>/<dataset>/<YYYY-MM-DD>/<id>-<filename>.manifest.json

The register id in the stored name keeps a re-sent file from overwriting an earlier one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from jingan.core.public import sm3_hex
from jingan.supervision.collection import landing
from jingan.supervision.datasets import dataset
from jingan.supervision.models import ExchangeFile, ExchangeState, JobRun

logger = logging.getLogger("jingan.supervision")

AREAS = ("inbox", "accepted", "quarantine")
MANIFEST_SUFFIX = ".manifest.json"


def exchange_dir() -> Path:
    return Path(str(settings.SUPERVISION["exchange_dir"]))


def _safe_filename(filename: str) -> str:
    # The name comes from a source: never let it climb out of its folder.
    name = Path(filename.replace("\\", "/")).name.strip()
    return name or "file.csv.gz"


def file_path(record: ExchangeFile, area: str | None = None) -> Path:
    """Where ``record``'s file lies (in its current area unless ``area`` is given)."""
    if area is None:
        area = {
            ExchangeState.INBOX: "inbox",
            ExchangeState.ACCEPTED: "accepted",
            ExchangeState.QUARANTINED: "quarantine",
        }[ExchangeState(record.state)]
    folder = exchange_dir() / area / record.dataset / record.day.isoformat()
    return folder / f"{record.pk}-{_safe_filename(record.filename)}"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _describe(content: bytes) -> tuple[int | None, list[str]]:
    """(row count, header) of a feed body as the sender sees it; (None, []) if unreadable."""
    try:
        text = landing.decompress(content)
        header = landing.read_header(text)
    except landing.UnreadableFile:
        return None, []
    try:
        records = sum(1 for _ in csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        return None, header
    return max(records - 1, 0), header


def submit(
    dataset_name: str,
    day: date,
    content: bytes,
    *,
    filename: str,
    source: str,
    sm3: str | None = None,
    rows: int | None = None,
) -> ExchangeFile:
    """Drop a file into the exchange inbox with its manifest.

    ``sm3`` and ``rows`` are what the source declared (e.g. its X-Content-SM3 and
    X-Row-Count headers); when absent the manifest describes ``content`` as sent.
    """
    data = dataset(dataset_name)
    counted_rows, header = _describe(content)
    manifest: dict[str, Any] = {
        "dataset": data.name,
        "day": day.isoformat(),
        "filename": _safe_filename(filename),
        "sm3": (sm3 or sm3_hex(content)).strip().lower(),
        "size": len(content),
        "rows": rows if rows is not None else counted_rows,
        "columns": header,
        "source": source,
        "submitted_at": timezone.now().isoformat(),
    }
    record = ExchangeFile.objects.create(
        dataset=data.name,
        day=day,
        filename=manifest["filename"],
        sm3=manifest["sm3"],
        size=len(content),
        rows_declared=manifest["rows"] or 0,
        state=ExchangeState.INBOX,
        received_at=timezone.now(),
    )
    path = file_path(record, "inbox")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, content)
    _write_atomically(
        manifest_path(path), json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    )
    return record


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def check_file(record: ExchangeFile, content: bytes, manifest: dict[str, Any]) -> str:
    """Why ``content`` fails its manifest, in Chinese; "" when it passes every check."""
    actual = sm3_hex(content)
    declared = str(manifest.get("sm3", "")).lower()
    if actual != declared:
        return f"SM3 摘要不符：清单为 {declared[:16]}…，文件实际为 {actual[:16]}…（文件可能被篡改或传输不完整）"
    if manifest.get("size") is not None and int(manifest["size"]) != len(content):
        return f"文件大小不符：清单为 {manifest['size']} 字节，实际为 {len(content)} 字节"
    if content[:2] != b"\x1f\x8b":
        return "文件不是 gzip 压缩格式"
    try:
        text = landing.decompress(content)
        problem = landing.header_problem(dataset(record.dataset), landing.read_header(text))
    except landing.UnreadableFile as error:
        return str(error)
    if problem:
        return problem
    try:
        text_rows, broken = landing.read_text_rows(dataset(record.dataset), text)
    except landing.UnreadableFile as error:
        return str(error)
    counted = text_rows.num_rows + len(broken)
    declared_rows = manifest.get("rows")
    if declared_rows is None or int(declared_rows) != counted:
        return f"行数不符：清单为 {declared_rows} 行，文件实际为 {counted} 行"
    return ""


def _move(record: ExchangeFile, source: Path, area: str) -> None:
    target = file_path(record, area)
    target.parent.mkdir(parents=True, exist_ok=True)
    for old, new in ((source, target), (manifest_path(source), manifest_path(target))):
        if old.exists():
            shutil.move(str(old), str(new))


def process_inbox(*, trigger: str = "schedule", actor: Any = None) -> list[ExchangeFile]:
    """Check every file waiting in the inbox; accept and land, or quarantine with a reason.

    Each returned accepted file carries the run that landed it as ``landing_run``.
    """
    processed: list[ExchangeFile] = []
    waiting = ExchangeFile.objects.filter(state=ExchangeState.INBOX, processed_at__isnull=True)
    for record in waiting.order_by("received_at", "pk"):
        # Claim the file first so two workers never land it twice.
        claimed = ExchangeFile.objects.filter(
            pk=record.pk, state=ExchangeState.INBOX, processed_at__isnull=True
        ).update(processed_at=timezone.now())
        if not claimed:
            continue
        record.refresh_from_db()
        processed.append(_process(record, trigger=trigger, actor=actor))
    return processed


def _process(record: ExchangeFile, *, trigger: str, actor: Any) -> ExchangeFile:
    path = file_path(record, "inbox")
    reason = ""
    content = b""
    manifest: dict[str, Any] = {}
    if not path.exists():
        reason = "交换区中找不到该文件"
    else:
        content = path.read_bytes()
        try:
            manifest = json.loads(manifest_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            reason = "缺少清单文件或清单无法解析"
        else:
            reason = check_file(record, content, manifest)
    run: JobRun | None = None
    if reason:
        record.state = ExchangeState.QUARANTINED
        record.reason = reason
        _move(record, path, "quarantine")
        logger.warning("exchange file %s quarantined: %s", record.pk, reason)
    else:
        record.state = ExchangeState.ACCEPTED
        _move(record, path, "accepted")
    record.processed_at = timezone.now()
    record.save(update_fields=["state", "reason", "processed_at"])
    if not reason:
        run = landing.land_raw(
            record.dataset,
            record.day,
            content,
            trigger=trigger,
            actor=actor,
            detail={
                "exchange_file": record.pk,
                "filename": record.filename,
                "source": manifest.get("source", ""),
            },
        )
    record.landing_run = run  # type: ignore[attr-defined]
    return record
