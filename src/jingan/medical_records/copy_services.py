"""The copy document (MR-A4, MR-P4): build, watermark, store and hand out the PDF copy.

An approved application is assembled into one PDF: a cover page, then the chosen sections
of each admission in the order of the chosen sections, every page stamped with a
watermark and a page footer. The PDF is stored SM4-encrypted under DATA_DIR with the SM3
digest of its clear bytes; residents download it through a short-lived signed link.
"""

from __future__ import annotations

import datetime
import io
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
)

from jingan.core.public import (
    DecryptionError,
    decrypt_file_bytes,
    encrypt_file_bytes,
    label_for,
    notify_permission_holders,
    record_event,
    record_personal_data_read,
    sm3_hex,
)
from jingan.lib.masking import mask_name
from jingan.medical_records import services
from jingan.medical_records.archive_services import ArchiveSyncError, read_section_pdf
from jingan.medical_records.models import (
    ApplicationEvent,
    ApplicationStatus,
    ArchivedSection,
    CopyApplication,
    CopyDocument,
    DeliveryMethod,
)
from jingan.medical_records.services import ApplicationError

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "medical_records.view_copyapplication"
LINK_SALT = "jingan.medical_records.copy-download"
FOOTER_BRAND = "静安区便捷就医"
DOWNLOADABLE = (ApplicationStatus.READY, ApplicationStatus.COMPLETED)

_WATERMARK_LINE_HEIGHT = 64.0  # points between watermark rows (overlay.html)
_WATERMARK_REPEAT_WIDTH = 300.0  # points one watermark text takes, roughly
_FOOTER_FROM_BOTTOM = 20.0
_WATERMARK_NAME = NameObject("/JinganCopyWatermark")
_FOOTER_NAME = NameObject("/JinganCopyFooter")


class CopyBuildError(Exception):
    """The copy cannot be built now; the message says why, in Chinese."""


class CopyLinkError(Exception):
    """A download the resident cannot have; ``str()`` is the Chinese text, ``status`` the HTTP code."""

    def __init__(self, message: str, *, status: int = 403, title: str = "无法下载") -> None:
        super().__init__(message)
        self.status = status
        self.title = title


@dataclass(frozen=True)
class Watermark:
    """What is printed across and under every page of a copy."""

    application_number: str
    masked_name: str
    issued_on: datetime.date
    purpose_label: str

    @property
    def line(self) -> str:
        return (
            f"{self.application_number}　{self.masked_name}　"
            f"{self.issued_on:%Y-%m-%d}　{self.purpose_label}"
        )

    def footer(self, page: int, total: int) -> str:
        return f"{FOOTER_BRAND} · 病案复印件 {self.application_number} · 第 {page} / {total} 页"


# -- settings --------------------------------------------------------------------------


def link_seconds() -> int:
    return int(settings.MEDICAL_RECORDS_COPY_LINK_SECONDS)


def retention_days() -> int:
    return int(settings.MEDICAL_RECORDS_COPY_RETENTION_DAYS)


def copies_dir() -> Path:
    return Path(settings.DATA_DIR) / "medical_records" / "copies"


def copy_path(document: CopyDocument) -> Path:
    return copies_dir() / f"{document.file_key}.bin"


# -- the PDF -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PageSize:
    name: str
    width: float
    height: float

    @property
    def diagonal(self) -> float:
        return math.ceil(math.hypot(self.width, self.height))

    def template_context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": f"{self.width:.2f}",
            "height": f"{self.height:.2f}",
            "diagonal": self.diagonal,
            "offset_x": f"{(self.width - self.diagonal) / 2:.2f}",
            "offset_y": f"{(self.height - self.diagonal) / 2:.2f}",
            "footer_top": f"{self.height - _FOOTER_FROM_BOTTOM:.2f}",
        }


def _render_overlay(sizes: Sequence[_PageSize], pages: Sequence[dict[str, Any]]) -> PdfReader:
    from weasyprint import HTML

    html = render_to_string(
        "medical_records/copy/overlay.html",
        {"sizes": [size.template_context() for size in sizes], "pages": pages},
    )
    return PdfReader(io.BytesIO(HTML(string=html).write_pdf()))


def _as_form(page: Any, writer: PdfWriter) -> IndirectObject:
    """One page of an overlay as a Form XObject of ``writer`` (its resources cloned once)."""
    form = DecodedStreamObject()
    form.set_data(page._get_contents_as_bytes() or b"")
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = ArrayObject([FloatObject(value) for value in page.mediabox])
    resources = page.get("/Resources")
    form[NameObject("/Resources")] = (
        resources.get_object().clone(writer) if resources is not None else DictionaryObject()
    )
    # pypdf has no public way to add an indirect object to a writer.
    return writer._add_object(form)


def _stream(writer: PdfWriter, data: bytes) -> IndirectObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def _stamp(
    writer: PdfWriter,
    page: Any,
    *,
    watermark: IndirectObject,
    footer: IndirectObject,
    origin: tuple[float, float],
) -> None:
    # A shared /Resources dict would carry one page's footer onto every page: copy it.
    inherited = page.get("/Resources")
    resources = DictionaryObject(inherited.get_object() if inherited is not None else {})
    xobjects = resources.get("/XObject")
    xobjects = DictionaryObject(xobjects.get_object() if xobjects is not None else {})
    xobjects[_WATERMARK_NAME] = watermark
    xobjects[_FOOTER_NAME] = footer
    resources[NameObject("/XObject")] = xobjects
    page[NameObject("/Resources")] = resources
    contents = page.get("/Contents")
    existing: list[Any] = []
    if contents is not None:
        resolved = contents.get_object()
        existing = list(resolved) if isinstance(resolved, ArrayObject) else [contents]
    x, y = origin
    # The page's own content is wrapped in q/Q so a graphics state it leaves behind
    # cannot move or hide the overlay drawn after it.
    after = (
        f"\nQ\nq 1 0 0 1 {x:.2f} {y:.2f} cm {_WATERMARK_NAME} Do Q\n"
        f"q 1 0 0 1 {x:.2f} {y:.2f} cm {_FOOTER_NAME} Do Q\n"
    ).encode("ascii")
    page[NameObject("/Contents")] = ArrayObject(
        [_stream(writer, b"q\n"), *existing, _stream(writer, after)]
    )


def build_watermarked_pdf(
    section_pdfs: Sequence[bytes],
    *,
    watermark: Watermark,
    cover: Callable[[int], str] | None = None,
) -> tuple[bytes, int]:
    """Cover (HTML, rendered by WeasyPrint) + sections, every page stamped; (PDF, pages).

    ``cover(total)`` gives the cover's HTML for a copy of ``total`` pages (the one-page
    cover included). The watermark is rendered once per distinct page size and drawn on
    every page as a shared Form XObject; the footers come from one WeasyPrint run of
    small pages. A 200-page copy takes about two seconds. Raises CopyBuildError for an
    unreadable PDF.
    """
    from weasyprint import HTML

    writer = PdfWriter()
    try:
        section_pages = [
            page for data in section_pdfs for page in PdfReader(io.BytesIO(data)).pages
        ]
        if cover is not None:
            cover_pdf = HTML(string=cover(len(section_pages) + 1)).write_pdf()
            for page in PdfReader(io.BytesIO(cover_pdf)).pages:
                writer.add_page(page)
        for page in section_pages:
            writer.add_page(page)
    except (PyPdfError, ValueError, KeyError) as error:
        raise CopyBuildError(f"病案文档无法解析：{error}") from error
    total = len(writer.pages)
    if total == 0:
        raise CopyBuildError("复印件没有任何页面")

    sizes: dict[tuple[float, float], _PageSize] = {}
    placement: list[tuple[_PageSize, tuple[float, float]]] = []
    for page in writer.pages:
        if page.rotation:
            page.transfer_rotation_to_content()
        box = page.cropbox
        key = (round(float(box.width), 1), round(float(box.height), 1))
        if key not in sizes:
            sizes[key] = _PageSize(f"size{len(sizes)}", key[0], key[1])
        placement.append((sizes[key], (float(box.left), float(box.bottom))))

    rows = {
        size.name: range(math.ceil(size.diagonal / _WATERMARK_LINE_HEIGHT) + 1)
        for size in sizes.values()
    }
    repeats = {
        size.name: math.ceil(size.diagonal / _WATERMARK_REPEAT_WIDTH) + 1 for size in sizes.values()
    }
    watermarks = _render_overlay(
        list(sizes.values()),
        [
            {
                "size": size.name,
                "watermark": True,
                "rows": rows[size.name],
                "line": "　　　".join([watermark.line] * repeats[size.name]),
            }
            for size in sizes.values()
        ],
    )
    footers = _render_overlay(
        list(sizes.values()),
        [
            {"size": size.name, "footer": watermark.footer(number, total)}
            for number, (size, _origin) in enumerate(placement, start=1)
        ],
    )
    forms = {
        size.name: _as_form(watermarks.pages[index], writer)
        for index, size in enumerate(sizes.values())
    }
    for index, page in enumerate(writer.pages):
        size, origin = placement[index]
        _stamp(
            writer,
            page,
            watermark=forms[size.name],
            footer=_as_form(footers.pages[index], writer),
            origin=origin,
        )
    writer.add_metadata(
        {
            "/Title": f"病案复印件 {watermark.application_number}",
            "/Producer": f"{FOOTER_BRAND}平台",
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total


# -- building an application's copy -------------------------------------------------------


@dataclass(frozen=True)
class _AdmissionPart:
    admission: Any
    sections: list[ArchivedSection]
    missing: list[str]


def _parts(application: CopyApplication) -> list[_AdmissionPart]:
    """Each admission (earliest stay first) with its chosen sections, in the chosen order."""
    admissions = [
        link.admission
        for link in application.admission_links.select_related("admission").order_by(
            "admission__admitted_on", "admission__pk"
        )
    ]
    by_admission: dict[int, dict[str, ArchivedSection]] = {a.pk: {} for a in admissions}
    for section in ArchivedSection.objects.select_related("admission").filter(
        admission__in=admissions
    ):
        by_admission[section.admission_id][section.code] = section
    parts = []
    for admission in admissions:
        by_code = by_admission[admission.pk]
        parts.append(
            _AdmissionPart(
                admission=admission,
                sections=[by_code[code] for code in application.sections if code in by_code],
                missing=[code for code in application.sections if code not in by_code],
            )
        )
    if not any(part.sections for part in parts):
        raise CopyBuildError("所选复印内容在归档病案中均不存在，请与医院病案室核对归档数据")
    return parts


def watermark_for(application: CopyApplication, issued_on: datetime.date) -> Watermark:
    return Watermark(
        application_number=application.number,
        masked_name=mask_name(application.patient_name),
        issued_on=issued_on,
        purpose_label=label_for("copy_purpose", application.purpose),
    )


def _cover_html(
    application: CopyApplication,
    parts: Sequence[_AdmissionPart],
    issued_on: datetime.date,
    total_pages: int,
) -> str:
    return render_to_string(
        "medical_records/copy/cover.html",
        {
            "application": application,
            "institution_name": application.institution.name,
            "purpose_label": label_for("copy_purpose", application.purpose),
            "section_labels": [label_for("record_section", code) for code in application.sections],
            "issued_on": issued_on,
            "total_pages": total_pages,
            "admissions": [
                {
                    "admission_no": part.admission.admission_no,
                    "admitted_on": part.admission.admitted_on,
                    "discharged_on": part.admission.discharged_on,
                    "department_name": part.admission.department_name,
                    "included": [label_for("record_section", s.code) for s in part.sections],
                    "missing": [label_for("record_section", code) for code in part.missing],
                }
                for part in parts
            ],
        },
    )


def build_copy(application: CopyApplication) -> CopyDocument:
    """Build the watermarked PDF of ``application`` and store it (replacing an older build)."""
    parts = _parts(application)
    section_pdfs: list[bytes] = []
    for part in parts:
        for section in part.sections:
            try:
                section_pdfs.append(read_section_pdf(section))
            except ArchiveSyncError as error:
                raise CopyBuildError(
                    f"住院号 {part.admission.admission_no} 的{section.title}：{error}"
                ) from error
    issued_on = timezone.localdate()
    pdf, pages = build_watermarked_pdf(
        section_pdfs,
        watermark=watermark_for(application, issued_on),
        cover=lambda total: _cover_html(application, parts, issued_on, total),
    )
    file_key = uuid.uuid4()
    target = copies_dir() / f"{file_key}.bin"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    temporary.write_bytes(encrypt_file_bytes(pdf, context=f"medical_records.copy:{file_key}"))
    temporary.replace(target)
    try:
        with transaction.atomic():
            document = (
                CopyDocument.objects.select_for_update().filter(application=application).first()
            )
            if document is None:
                document = CopyDocument(application=application)
            stale = copy_path(document) if document.pk and document.is_built else None
            document.file_key = file_key
            document.sm3 = sm3_hex(pdf)
            document.size = len(pdf)
            document.pages = pages
            document.built_at = timezone.now()
            document.build_error = ""
            document.purged_at = None
            document.build_attempts += 1
            document.save()
            record_event(
                action="medical_records.copy.build",
                resident_id=application.resident_id,
                object_type="medical_records.copyapplication",
                object_id=application.number,
                institution_id=application.institution_id,
                detail={"pages": pages, "size": len(pdf), "attempt": document.build_attempts},
            )
            if stale is not None:
                transaction.on_commit(lambda: stale.unlink(missing_ok=True))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return document


def _ready_note(application: CopyApplication) -> str:
    if application.delivery_method == DeliveryMethod.MAIL:
        return "复印件已制作完成，待邮寄"
    return f"复印件已制作完成，可下载（{retention_days()} 天内有效）"


def _record_failure(application: CopyApplication, reason: str, *, notify_staff: bool) -> None:
    with transaction.atomic():
        document, _ = CopyDocument.objects.select_for_update().get_or_create(
            application=application
        )
        document.build_error = reason
        document.build_attempts += 1
        document.save(update_fields=["build_error", "build_attempts"])
        status = ApplicationStatus(application.status)
        ApplicationEvent.objects.create(
            application=application,
            from_status=status,
            to_status=status,
            actor_kind=ApplicationEvent.ActorKind.SYSTEM,
            note=f"复印件制作未成功，病案室处理后将重新制作（{reason}）"[:200],
        )
        record_event(
            action="medical_records.copy.build_failed",
            resident_id=application.resident_id,
            object_type="medical_records.copyapplication",
            object_id=application.number,
            institution_id=application.institution_id,
            detail={"reason": reason, "attempt": document.build_attempts},
        )
        if notify_staff:
            notify_permission_holders(
                permission=services.REVIEW_PERMISSION,
                institution_id=application.institution_id,
                title=f"病案复印件制作失败：{application.number}",
                body=f"申请 {application.number} 的复印件未能制作：{reason}。"
                "处理后请在申请详情中点击“重新制作”。",
                category="medical_records",
                link=reverse("medical_records:console-application", args=[application.pk]),
                dedup_key=f"copy-build-failed:{application.number}:{document.build_attempts}",
            )


def _to_ready(
    application_id: int, *, actor: Any = None, request: HttpRequest | None = None
) -> CopyApplication:
    with transaction.atomic():
        application = CopyApplication.objects.unscoped().select_for_update().get(pk=application_id)
        if application.status == ApplicationStatus.PREPARING:
            services._transition(
                application,
                ApplicationStatus.READY,
                actor_kind=(
                    ApplicationEvent.ActorKind.STAFF
                    if actor is not None
                    else ApplicationEvent.ActorKind.SYSTEM
                ),
                actor=actor,
                note=_ready_note(application),
                request=request,
                action="medical_records.application.ready",
            )
    return application


def prepare_copy(application_id: int) -> CopyDocument | None:
    """The worker's job after approval: APPROVED → PREPARING → build → READY.

    Returns the document when this run made the application READY; None when there was
    nothing to do (not APPROVED/PREPARING any more) or the build failed — then the
    application stays PREPARING, the reason is kept and the record room is told.
    """
    with transaction.atomic():
        application = (
            CopyApplication.objects.unscoped()
            .select_for_update()
            .select_related("institution")
            .filter(pk=application_id)
            .first()
        )
        if application is None or application.status not in (
            ApplicationStatus.APPROVED,
            ApplicationStatus.PREPARING,
        ):
            return None
        if application.status == ApplicationStatus.APPROVED:
            services._transition(
                application,
                ApplicationStatus.PREPARING,
                actor_kind=ApplicationEvent.ActorKind.SYSTEM,
                note="正在制作复印件",
                action="medical_records.application.prepare",
            )
    try:
        document = build_copy(application)
    except CopyBuildError as error:
        _record_failure(application, str(error), notify_staff=True)
        return None
    except Exception:
        logger.exception("copy build failed for application %s", application_id)
        _record_failure(application, "复印件制作时发生系统错误", notify_staff=True)
        return None
    _to_ready(application_id)
    return document


def prepare_pending_copies(*, older_than_minutes: int = 10, limit: int = 50) -> list[int]:
    """Safety net for a lost queue entry: build approved applications nobody picked up."""
    cutoff = timezone.now() - datetime.timedelta(minutes=older_than_minutes)
    pending = list(
        CopyApplication.objects.unscoped()
        .filter(status=ApplicationStatus.APPROVED, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for application_id in pending:
        prepare_copy(application_id)
    return pending


def rebuild_copy(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> CopyDocument:
    """A reviewer has the copy made again (after a failure, or to refresh it)."""
    with transaction.atomic():
        application = services._for_reviewer(actor, application_id, services.REVIEW_PERMISSION)
        services._require(application, ApplicationStatus.PREPARING, ApplicationStatus.READY)
        record_event(
            action="medical_records.copy.rebuild",
            actor=actor,
            resident_id=application.resident_id,
            object_type="medical_records.copyapplication",
            object_id=application.number,
            institution_id=application.institution_id,
            request=request,
        )
    try:
        document = build_copy(application)
    except CopyBuildError as error:
        _record_failure(application, str(error), notify_staff=False)
        raise ApplicationError(f"复印件制作失败：{error}", code="copy_build_failed") from error
    _to_ready(application_id, actor=actor, request=request)
    return document


# -- reading a stored copy -------------------------------------------------------------------


def read_copy(document: CopyDocument) -> bytes:
    """The clear PDF of a built copy, checked against its SM3 digest."""
    if document.purged_at is not None:
        raise ApplicationError(
            f"复印件已超过保存期限（{retention_days()} 天），文件已于"
            f"{timezone.localtime(document.purged_at):%Y-%m-%d}清除",
            code="copy_purged",
        )
    if not document.is_built:
        raise ApplicationError("复印件尚未制作完成", code="copy_not_ready")
    try:
        data = decrypt_file_bytes(
            copy_path(document).read_bytes(), context=document.encryption_context
        )
    except (OSError, DecryptionError) as error:
        raise ApplicationError(
            "复印件文件无法读取，请联系医院病案室重新制作", code="copy_unreadable"
        ) from error
    if sm3_hex(data) != document.sm3:
        raise ApplicationError("复印件文件校验失败，请联系医院病案室重新制作", code="copy_digest")
    return data


def open_copy_for_staff(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> tuple[CopyDocument, bytes]:
    """The decrypted copy for a staff member in scope (view or review); the read is audited."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Http404("申请不存在或不在您的数据范围内")
    in_scope = any(
        CopyApplication.objects.restrict(actor, permission).filter(pk=application_id).exists()
        for permission in (VIEW_PERMISSION, services.REVIEW_PERMISSION)
    )
    if not in_scope:
        raise Http404("申请不存在或不在您的数据范围内")
    document = (
        CopyDocument.objects.select_related("application").filter(application_id=application_id)
    ).first()
    if document is None:
        raise ApplicationError("复印件尚未制作完成", code="copy_not_ready")
    data = read_copy(document)
    application = document.application
    with transaction.atomic():
        record_personal_data_read(
            actor=actor,
            resident_id=application.resident_id,
            what=f"病案复印申请 {application.number} 的复印件",
            request=request,
        )
    return document, data


def purge_expired_copies(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Delete the encrypted files of copies whose download period has ended; returns how many.

    The period runs from READY (``downloadable_until``); the row stays, with ``purged_at``,
    so the record room and the statistics still see that a copy was made and downloaded.
    """
    moment = now or timezone.now()
    cutoff = moment - datetime.timedelta(days=retention_days())
    candidates = CopyDocument.objects.select_related("application").filter(
        purged_at__isnull=True, built_at__isnull=False, built_at__lt=cutoff
    )[:limit]
    purged = 0
    for document in candidates:
        until = downloadable_until(document.application)
        if until is None or until > moment:
            continue
        copy_path(document).unlink(missing_ok=True)
        with transaction.atomic():
            CopyDocument.objects.filter(pk=document.pk).update(purged_at=moment)
            record_event(
                action="medical_records.copy.purge",
                object_type="medical_records.copyapplication",
                object_id=document.application.number,
                institution_id=document.application.institution_id,
                resident_id=document.application.resident_id,
                detail={"ready_until": until.isoformat(), "pages": document.pages},
            )
        purged += 1
    return purged


# -- residents' downloads -------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadState:
    """Whether the resident may download now, and what to tell them."""

    available: bool
    message: str = ""
    until: datetime.datetime | None = None


def downloadable_until(application: CopyApplication) -> datetime.datetime | None:
    """The end of the download period: READY time plus the retention days."""
    ready = (
        ApplicationEvent.objects.filter(application=application, to_status=ApplicationStatus.READY)
        .exclude(from_status=ApplicationStatus.READY)
        .order_by("occurred_at", "pk")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if ready is None:
        return None
    return ready + datetime.timedelta(days=retention_days())


def download_state(application: CopyApplication) -> DownloadState:
    if application.delivery_method != DeliveryMethod.ELECTRONIC:
        return DownloadState(False, "纸质件邮寄申请不提供电子版下载")
    if application.status not in DOWNLOADABLE:
        return DownloadState(False, "复印件制作完成后即可下载")
    document = CopyDocument.objects.filter(application=application).first()
    until = downloadable_until(application)
    if document is None or not document.is_built or until is None:
        return DownloadState(False, "复印件正在制作，请稍后再来下载")
    if timezone.now() >= until:
        return DownloadState(
            False,
            f"电子复印件的下载期限（制作完成后 {retention_days()} 天）已过，"
            "如仍需要请重新提交申请或联系医院病案室",
            until,
        )
    return DownloadState(True, "", until)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def issue_download_link(*, actor: Any, number: str) -> str:
    """A signed token for the resident's own copy, valid for ``link_seconds()``."""
    application = (
        CopyApplication.objects.unscoped()
        .filter(number=number, resident_id=getattr(actor, "pk", None))
        .first()
    )
    if application is None:
        raise Http404("申请不存在")
    state = download_state(application)
    if not state.available:
        raise CopyLinkError(state.message, status=410 if state.until else 403)
    document = CopyDocument.objects.get(application=application)
    return _signer().sign_object(
        {"n": application.number, "r": application.resident_id, "k": document.file_key.hex}
    )


def download_copy(
    *, actor: Any, token: str, request: HttpRequest | None = None
) -> tuple[CopyDocument, bytes]:
    """The resident's copy for a valid link; counts the download, the first completes it."""
    try:
        payload = _signer().unsign_object(token, max_age=link_seconds())
    except signing.SignatureExpired:
        raise CopyLinkError(
            f"下载链接已过期（有效期 {max(1, link_seconds() // 60)} 分钟），"
            "请返回申请详情重新点击下载",
            status=410,
            title="下载链接已过期",
        ) from None
    except signing.BadSignature:
        raise CopyLinkError(
            "下载链接无效，请返回申请详情重新点击下载", title="下载链接无效"
        ) from None
    if not isinstance(payload, dict) or payload.get("r") != getattr(actor, "pk", None):
        raise CopyLinkError("该下载链接不属于当前登录的账号", title="无权下载")
    application = (
        CopyApplication.objects.unscoped()
        .filter(number=str(payload.get("n", "")), resident_id=actor.pk)
        .first()
    )
    if application is None:
        raise CopyLinkError("下载链接无效，请返回申请详情重新点击下载", title="下载链接无效")
    document = CopyDocument.objects.filter(
        application=application, file_key=str(payload.get("k", ""))
    ).first()
    if document is None:
        raise CopyLinkError(
            "复印件已重新制作，请返回申请详情重新点击下载", status=410, title="下载链接已失效"
        )
    state = download_state(application)
    if not state.available:
        raise CopyLinkError(state.message, status=410 if state.until else 403)
    try:
        data = read_copy(document)
    except ApplicationError as error:
        raise CopyLinkError(str(error), status=503, title="暂时无法下载") from error
    with transaction.atomic():
        document = CopyDocument.objects.select_for_update().get(pk=document.pk)
        now = timezone.now()
        document.download_count += 1
        document.first_downloaded_at = document.first_downloaded_at or now
        document.last_downloaded_at = now
        document.save(update_fields=["download_count", "first_downloaded_at", "last_downloaded_at"])
        record_event(
            action="medical_records.copy.download",
            resident_id=actor.pk,
            object_type="medical_records.copyapplication",
            object_id=application.number,
            institution_id=application.institution_id,
            detail={"count": document.download_count},
            request=request,
        )
        if application.status == ApplicationStatus.READY:
            services.mark_downloaded(actor=actor, number=application.number, request=request)
    return document, data


__all__ = [
    "CopyBuildError",
    "CopyLinkError",
    "DownloadState",
    "Watermark",
    "build_copy",
    "build_watermarked_pdf",
    "download_copy",
    "download_state",
    "downloadable_until",
    "issue_download_link",
    "open_copy_for_staff",
    "prepare_copy",
    "prepare_pending_copies",
    "read_copy",
    "rebuild_copy",
    "watermark_for",
]
