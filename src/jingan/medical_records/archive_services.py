"""Archive sync: ingest pushed or pulled admissions, fetch their documents, replay rejects.

Every write here is idempotent: an admission is keyed by (institution, admission number)
and carries the SM3 digest of its canonical payload, so the same archive arriving twice
(a retried push, an overlapping pull) changes nothing, and a changed one updates in place.
A payload that cannot be accepted is kept, encrypted, with a specific Chinese reason, and
can be processed again once the cause is fixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jingan.core.public import (
    DecryptionError,
    decrypt_file_bytes,
    dictionary_entries,
    encrypt_file_bytes,
    record_event,
    sm3_hex,
)
from jingan.integrations.archives.adapter import ArchiveSourceConfig, HttpArchiveAdapter
from jingan.integrations.archives.port import (
    ArchiveError,
    ArchivePayload,
    ArchivePort,
    canonical_json,
    parse_payload,
)
from jingan.medical_records.archive_models import (
    ArchiveChannel,
    ArchivedAdmission,
    ArchivedSection,
    ArchiveMode,
    ArchiveSource,
    RejectedArchivePayload,
    UploadStatus,
)

logger = logging.getLogger(__name__)

Outcome = Literal["accepted", "updated", "unchanged", "rejected"]
MAX_PAGES_PER_POLL = 500
ARCHIVE_DIR = "archives"


class ArchiveSyncError(Exception):
    """An archive action cannot be done; the message says why, in Chinese."""


@dataclass(frozen=True)
class IngestResult:
    """What became of one payload."""

    outcome: Outcome
    admission_no: str
    reason: str = ""
    admission_id: int | None = None
    rejected_id: int | None = None


@dataclass
class PollResult:
    """What one pull of an institution's archive brought."""

    pages: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


AdapterFactory = Callable[[ArchiveSource], ArchivePort]


def default_adapter(source: ArchiveSource) -> ArchivePort:
    """The HTTP adapter for a source's configured archive URL."""
    return HttpArchiveAdapter(
        ArchiveSourceConfig(base_url=source.base_url, institution_code=source.institution.code)
    )


# -- ingest ------------------------------------------------------------------------------


def _admission_no_of(payload: Any) -> str:
    if isinstance(payload, dict):
        value = payload.get("admission_no")
        if isinstance(value, str | int):
            return str(value)[:64]
    return ""


def _keep_rejected(
    *, payload: Any, channel: str, institution_id: int | None, reason: str
) -> RejectedArchivePayload:
    rejected = RejectedArchivePayload.objects.create(
        institution_id=institution_id,
        channel=channel,
        admission_no=_admission_no_of(payload),
        payload=json.dumps(payload, ensure_ascii=False, default=str),
        reason=reason,
    )
    if institution_id is not None:
        ArchiveSource.objects.unscoped().filter(institution_id=institution_id).update(
            rejected_count=F("rejected_count") + 1
        )
    record_event(
        action="medical_records.archive.reject",
        object_type="medical_records.rejectedarchivepayload",
        object_id=str(rejected.pk),
        institution_id=institution_id,
        outcome="failure",
        detail={"channel": channel, "admission_no": rejected.admission_no, "reason": reason[:500]},
    )
    return rejected


def _rule_problems(parsed: ArchivePayload, institution_code: str) -> list[str]:
    problems = []
    if parsed.institution_code != institution_code:
        problems.append(
            f"机构编码 {parsed.institution_code} 与接收机构编码 {institution_code} 不符"
        )
    known = {code for code, _ in dictionary_entries("record_section")}
    unknown = [s.code for s in parsed.sections if s.code not in known]
    if unknown:
        problems.append(
            f"病案组成部分编码 {'、'.join(unknown)} 不在数据字典“病案复印内容”（record_section）中"
        )
    return problems


def ingest_archive_payload(
    *, payload: Any, channel: str, institution_id: int, actor: Any = None
) -> IngestResult:
    """Accept, update, ignore (same digest) or reject-and-keep one admission payload."""
    from jingan.medical_records.archive_queries import institution_code_of

    if channel not in ArchiveChannel.values:
        raise ValueError(f"unknown channel {channel!r}")
    institution_code = institution_code_of(institution_id)
    parsed, reason = parse_payload(payload)
    if parsed is not None:
        reason = "；".join(_rule_problems(parsed, institution_code))
    if parsed is None or reason:
        with transaction.atomic():
            rejected = _keep_rejected(
                payload=payload, channel=channel, institution_id=institution_id, reason=reason
            )
        return IngestResult("rejected", _admission_no_of(payload), reason, rejected_id=rejected.pk)
    return _store(parsed, channel=channel, institution_id=institution_id, actor=actor)


def _store(
    parsed: ArchivePayload, *, channel: str, institution_id: int, actor: Any
) -> IngestResult:
    digest = sm3_hex(canonical_json(parsed))
    now = timezone.now()
    with transaction.atomic():
        admission = (
            ArchivedAdmission.objects.unscoped()
            .select_for_update()
            .filter(institution_id=institution_id, admission_no=parsed.admission_no)
            .first()
        )
        if admission is not None and admission.source_digest == digest:
            return IngestResult("unchanged", parsed.admission_no, admission_id=admission.pk)
        outcome: Outcome = "accepted" if admission is None else "updated"
        if admission is None:
            admission = ArchivedAdmission(
                institution_id=institution_id, admission_no=parsed.admission_no
            )
        admission.patient_name = parsed.patient.name
        admission.patient_id_number = parsed.patient.id_number
        admission.admitted_on = parsed.admitted_on
        admission.discharged_on = parsed.discharged_on
        admission.department_code = parsed.department.code
        admission.department_name = parsed.department.name
        admission.diagnoses = json.dumps(
            [d.model_dump() for d in parsed.diagnoses], ensure_ascii=False
        )
        admission.archived_at = parsed.archived_at
        admission.synced_at = now
        admission.channel = channel
        admission.source_digest = digest
        admission.save()
        stale_files = _sync_sections(admission, parsed)
        ArchiveSource.objects.unscoped().filter(institution_id=institution_id).update(
            received_count=F("received_count") + 1
        )
        record_event(
            action=f"medical_records.archive.{outcome}",
            actor=actor,
            object_type="medical_records.archivedadmission",
            object_id=str(admission.pk),
            institution_id=institution_id,
            detail={"channel": channel, "admission_no": parsed.admission_no},
        )
        transaction.on_commit(lambda: _remove_files(stale_files))
    return IngestResult(outcome, parsed.admission_no, admission_id=admission.pk)


def _sync_sections(admission: ArchivedAdmission, parsed: ArchivePayload) -> list[str]:
    """Bring the sections in line with the payload; return files no longer needed."""
    existing = {section.code: section for section in admission.sections.all()}
    stale: list[str] = []
    for item in parsed.sections:
        section = existing.pop(item.code, None)
        if section is None:
            section = ArchivedSection(admission=admission, code=item.code)
        elif (
            section.document_digest != item.document_sm3
            or section.document_ref != item.document_ref
        ):
            # Another document: the stored copy is out of date and is fetched again.
            if section.stored_path:
                stale.append(section.stored_path)
            section.stored_path = ""
            section.upload_status = UploadStatus.PENDING
            section.upload_error = ""
            section.upload_attempts = 0
        section.title = item.title
        section.page_count = item.page_count
        section.document_ref = item.document_ref
        section.document_digest = item.document_sm3
        section.save()
    for section in existing.values():
        if section.stored_path:
            stale.append(section.stored_path)
        section.delete()
    return stale


def _remove_files(relative_paths: list[str]) -> None:
    for relative in relative_paths:
        try:
            (Path(settings.DATA_DIR) / relative).unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove stale archive file %s", relative)


# -- pulling -----------------------------------------------------------------------------


def _source_for(institution_id: int) -> ArchiveSource:
    source = (
        ArchiveSource.objects.unscoped()
        .select_related("institution")
        .filter(institution_id=institution_id)
        .first()
    )
    if source is None:
        raise ArchiveSyncError("该机构尚未配置病案归档接口")
    return source


def poll_institution(
    *, institution_id: int, adapter_factory: AdapterFactory = default_adapter
) -> PollResult:
    """Pull new archives page by page; record the outcome on the institution's source."""
    source = _source_for(institution_id)
    if not source.can_poll:
        raise ArchiveSyncError("该机构未配置归档接口地址，无法拉取")
    adapter = adapter_factory(source)
    result = PollResult()
    since = source.last_archived_at
    cursor = source.last_cursor or None
    newest: datetime | None = since
    ArchiveSource.objects.unscoped().filter(pk=source.pk).update(last_polled_at=timezone.now())
    try:
        while result.pages < MAX_PAGES_PER_POLL:
            page = adapter.list_admissions(since=since, cursor=cursor)
            result.pages += 1
            for item in page.items:
                if newest is None or item.archived_at > newest:
                    newest = item.archived_at
                problems = _rule_problems(item, source.institution.code)
                if problems:
                    with transaction.atomic():
                        _keep_rejected(
                            payload=item.model_dump(mode="json"),
                            channel=ArchiveChannel.POLL,
                            institution_id=institution_id,
                            reason="；".join(problems),
                        )
                    result.add("rejected")
                    continue
                stored = _store(
                    item, channel=ArchiveChannel.POLL, institution_id=institution_id, actor=None
                )
                result.add(stored.outcome)
            for rejected in page.rejected:
                with transaction.atomic():
                    _keep_rejected(
                        payload=rejected.raw,
                        channel=ArchiveChannel.POLL,
                        institution_id=institution_id,
                        reason=rejected.reason,
                    )
                result.add("rejected")
            cursor = page.next_cursor
            ArchiveSource.objects.unscoped().filter(pk=source.pk).update(last_cursor=cursor or "")
            if cursor is None:
                break
    except ArchiveError as error:
        result.error = error.message
        ArchiveSource.objects.unscoped().filter(pk=source.pk).update(
            last_failure_at=timezone.now(), last_failure_reason=error.message
        )
        return result
    ArchiveSource.objects.unscoped().filter(pk=source.pk).update(
        last_success_at=timezone.now(), last_archived_at=newest, last_cursor=""
    )
    return result


def record_push_success(*, institution_id: int) -> None:
    """A push was received from the institution: it is alive."""
    ArchiveSource.objects.unscoped().filter(institution_id=institution_id).update(
        last_success_at=timezone.now()
    )


def poll_due_sources(*, now: datetime | None = None) -> list[int]:
    """Pull every enabled poll source whose interval has passed; returns the institutions."""
    moment = now or timezone.now()
    polled = []
    for source in (
        ArchiveSource.objects.unscoped()
        .filter(is_enabled=True, mode=ArchiveMode.POLL)
        .exclude(base_url="")
    ):
        last = source.last_polled_at
        if (
            last is not None
            and (moment - last).total_seconds() < source.poll_interval_minutes * 60 - 5
        ):
            continue
        try:
            poll_institution(institution_id=source.institution_id)
        except Exception:
            # One institution's broken archive must not stop the others' sync.
            logger.exception("archive poll failed for institution %s", source.institution_id)
        polled.append(source.institution_id)
    return polled


# -- documents ---------------------------------------------------------------------------


def _relative_path(section: ArchivedSection) -> str:
    admission = section.admission
    return f"{ARCHIVE_DIR}/{admission.institution_id}/{admission.row_key}/{section.code}.pdf.sm4"


def _context(section: ArchivedSection) -> str:
    return f"medical_records.archivedsection:{section.admission.row_key}:{section.code}"


def _fetch_one(section: ArchivedSection, adapter: ArchivePort) -> bool:
    try:
        body = adapter.fetch_document(section.document_ref)
    except ArchiveError as error:
        _mark_failed(section, error.message)
        return False
    digest = sm3_hex(body)
    if digest != section.document_digest:
        _mark_failed(
            section,
            f"文档 SM3 摘要不符：归档索引声明 {section.document_digest[:16]}…，"
            f"实际收到 {digest[:16]}…（{len(body)} 字节），文档可能在传输中损坏或被篡改",
        )
        return False
    if not body.startswith(b"%PDF-"):
        _mark_failed(section, "文档不是 PDF 文件")
        return False
    relative = _relative_path(section)
    target = Path(settings.DATA_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    temporary.write_bytes(encrypt_file_bytes(body, context=_context(section)))
    temporary.replace(target)
    with transaction.atomic():
        ArchivedSection.objects.filter(pk=section.pk).update(
            upload_status=UploadStatus.UPLOADED,
            upload_error="",
            stored_path=relative,
            upload_attempts=F("upload_attempts") + 1,
            updated_at=timezone.now(),
        )
        record_event(
            action="medical_records.archive.document_stored",
            object_type="medical_records.archivedsection",
            object_id=str(section.pk),
            institution_id=section.admission.institution_id,
            detail={"admission_no": section.admission.admission_no, "code": section.code},
        )
    section.refresh_from_db()
    return True


def _mark_failed(section: ArchivedSection, reason: str) -> None:
    ArchivedSection.objects.filter(pk=section.pk).update(
        upload_status=UploadStatus.FAILED,
        upload_error=reason,
        upload_attempts=F("upload_attempts") + 1,
        updated_at=timezone.now(),
    )
    section.refresh_from_db()


def fetch_pending_documents(
    *,
    institution_id: int,
    limit: int = 50,
    include_failed: bool = False,
    admission_ids: Sequence[int] | None = None,
    adapter_factory: AdapterFactory = default_adapter,
) -> dict[str, int]:
    """Download, verify (SM3) and store (SM4) up to ``limit`` pending section documents.

    ``admission_ids`` narrows the fetch to those admissions (a copy about to be made).
    """
    source = _source_for(institution_id)
    if not source.can_poll:
        return {"uploaded": 0, "failed": 0}
    statuses = [UploadStatus.PENDING] + ([UploadStatus.FAILED] if include_failed else [])
    pending = ArchivedSection.objects.select_related("admission").filter(
        admission__institution_id=institution_id, upload_status__in=statuses
    )
    if admission_ids is not None:
        pending = pending.filter(admission_id__in=list(admission_ids))
    sections = list(pending.order_by("pk")[:limit])
    adapter = adapter_factory(source)
    counts = {"uploaded": 0, "failed": 0}
    for section in sections:
        counts["uploaded" if _fetch_one(section, adapter) else "failed"] += 1
    return counts


def fetch_all_pending_documents(*, limit_per_institution: int = 200) -> dict[int, dict[str, int]]:
    """The periodic job: pending documents of every enabled source with an archive URL."""
    done = {}
    for source in ArchiveSource.objects.unscoped().filter(is_enabled=True).exclude(base_url=""):
        try:
            done[source.institution_id] = fetch_pending_documents(
                institution_id=source.institution_id, limit=limit_per_institution
            )
        except Exception:
            logger.exception("document fetch failed for institution %s", source.institution_id)
    return done


def read_section_pdf(section: ArchivedSection) -> bytes:
    """The section's PDF in clear; fetched from the institution first if not yet stored."""
    if section.upload_status != UploadStatus.UPLOADED or not section.stored_path:
        source = _source_for(section.admission.institution_id)
        if not source.can_poll:
            raise ArchiveSyncError("该机构未配置归档接口地址，无法获取病案文档")
        if not _fetch_one(section, default_adapter(source)):
            raise ArchiveSyncError(f"病案文档获取失败：{section.upload_error}")
    blob = (Path(settings.DATA_DIR) / section.stored_path).read_bytes()
    try:
        return decrypt_file_bytes(blob, context=_context(section))
    except DecryptionError as error:
        raise ArchiveSyncError("病案文档解密失败，文件可能已损坏") from error


# -- replaying rejects ---------------------------------------------------------------------


def replay_rejected(
    *, actor: Any, rejected_id: int, adapter_factory: AdapterFactory = default_adapter
) -> IngestResult:
    """Process a kept payload again; a pulled one is re-read from its source if still bad."""
    rejected = RejectedArchivePayload.objects.unscoped().filter(pk=rejected_id).first()
    if rejected is None:
        raise ArchiveSyncError("拒收记录不存在")
    if rejected.is_resolved:
        raise ArchiveSyncError("该记录已重新处理成功，无需再次处理")
    if rejected.institution_id is None:
        raise ArchiveSyncError("该记录未能识别所属机构，请由机构重新推送")
    payload = json.loads(rejected.payload)
    parsed, reason = parse_payload(payload)
    institution_code = _source_institution_code(rejected.institution_id)
    if parsed is not None:
        reason = "；".join(_rule_problems(parsed, institution_code))
    if (parsed is None or reason) and rejected.channel == ArchiveChannel.POLL:
        fresh = _refetch(rejected, adapter_factory)
        if fresh is not None:
            payload = fresh
            parsed, reason = parse_payload(payload)
            if parsed is not None:
                reason = "；".join(_rule_problems(parsed, institution_code))
    now = timezone.now()
    if parsed is None or reason:
        with transaction.atomic():
            RejectedArchivePayload.objects.unscoped().filter(pk=rejected.pk).update(
                replayed_at=now, replay_result=f"仍无法接收：{reason}"
            )
            record_event(
                action="medical_records.archive.replay",
                actor=actor,
                object_type="medical_records.rejectedarchivepayload",
                object_id=str(rejected.pk),
                institution_id=rejected.institution_id,
                outcome="failure",
                detail={"reason": reason[:500]},
            )
        return IngestResult("rejected", rejected.admission_no, reason, rejected_id=rejected.pk)
    result = _store(
        parsed, channel=rejected.channel, institution_id=rejected.institution_id, actor=actor
    )
    labels = {"accepted": "已接收", "updated": "已更新", "unchanged": "与已有归档一致，无需更新"}
    with transaction.atomic():
        RejectedArchivePayload.objects.unscoped().filter(pk=rejected.pk).update(
            replayed_at=now, replay_result=labels[result.outcome], is_resolved=True
        )
        record_event(
            action="medical_records.archive.replay",
            actor=actor,
            object_type="medical_records.rejectedarchivepayload",
            object_id=str(rejected.pk),
            institution_id=rejected.institution_id,
            detail={"outcome": result.outcome, "admission_no": result.admission_no},
        )
    return IngestResult(
        result.outcome,
        result.admission_no,
        admission_id=result.admission_id,
        rejected_id=rejected.pk,
    )


def _source_institution_code(institution_id: int) -> str:
    from jingan.medical_records.archive_queries import institution_code_of

    return institution_code_of(institution_id)


def _refetch(rejected: RejectedArchivePayload, adapter_factory: AdapterFactory) -> Any | None:
    """The source's current version of a rejected pulled item, walking its whole index."""
    if not rejected.admission_no or rejected.institution_id is None:
        return None
    source = (
        ArchiveSource.objects.unscoped()
        .select_related("institution")
        .filter(institution_id=rejected.institution_id)
        .first()
    )
    if source is None or not source.can_poll:
        return None
    adapter = adapter_factory(source)
    cursor = None
    try:
        for _ in range(MAX_PAGES_PER_POLL):
            page = adapter.list_admissions(since=None, cursor=cursor)
            for item in page.items:
                if item.admission_no == rejected.admission_no:
                    return item.model_dump(mode="json")
            for bad in page.rejected:
                if _admission_no_of(bad.raw) == rejected.admission_no:
                    return bad.raw
            cursor = page.next_cursor
            if cursor is None:
                return None
    except ArchiveError:
        return None
    return None


# -- configuration (MR-C1) ----------------------------------------------------------------


def configure_archive_source(
    *,
    actor: Any,
    institution_id: int,
    mode: str,
    base_url: str,
    api_app_id: str,
    poll_interval_minutes: int,
    is_enabled: bool,
) -> ArchiveSource:
    """Create or change how an inpatient institution's archive reaches the platform."""
    from jingan.medical_records.archive_queries import institution_is_inpatient

    if not institution_is_inpatient(institution_id):
        raise ArchiveSyncError("只有开展住院业务且已启用的机构才能配置病案归档接口")
    if mode not in ArchiveMode.values:
        raise ArchiveSyncError("请选择同步方式")
    if mode == ArchiveMode.POLL and not base_url:
        raise ArchiveSyncError("平台定时拉取方式必须填写归档接口地址")
    if mode == ArchiveMode.PUSH and not api_app_id:
        raise ArchiveSyncError("机构推送方式必须填写推送接入应用标识")
    with transaction.atomic():
        source, created = ArchiveSource.objects.unscoped().update_or_create(
            institution_id=institution_id,
            defaults={
                "mode": mode,
                "base_url": base_url.rstrip("/"),
                "api_app_id": api_app_id,
                "poll_interval_minutes": poll_interval_minutes,
                "is_enabled": is_enabled,
            },
        )
        record_event(
            action="medical_records.archive_source." + ("create" if created else "change"),
            actor=actor,
            object_type="medical_records.archivesource",
            object_id=str(source.pk),
            institution_id=institution_id,
            detail={
                "mode": mode,
                "base_url": source.base_url,
                "api_app_id": api_app_id,
                "enabled": is_enabled,
            },
        )
    return source


def sync_now(*, actor: Any, institution_id: int) -> PollResult:
    """The console's "立即同步": pull now (push sources too, as a catch-up), then documents."""
    source = _source_for(institution_id)
    if not source.is_enabled:
        raise ArchiveSyncError("该机构的归档接口已停用")
    with transaction.atomic():
        record_event(
            action="medical_records.archive.sync_now",
            actor=actor,
            object_type="medical_records.archivesource",
            object_id=str(source.pk),
            institution_id=institution_id,
        )
    result = poll_institution(institution_id=institution_id)
    if not result.error:
        fetch_pending_documents(institution_id=institution_id, limit=200)
    return result
