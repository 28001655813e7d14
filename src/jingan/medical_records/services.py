"""Every write of copy applications: submit, review, track, cancel (MR-P1..P5, MR-A3/A4)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone

from jingan.core.public import (
    InvalidIdNumber,
    ResidentRecipient,
    WeChatPayload,
    check_id_number,
    decrypt_file_bytes,
    dictionary_entries,
    encrypt_file_bytes,
    institution_setting,
    notify,
    record_event,
    record_personal_data_read,
    sm3_hex,
)
from jingan.medical_records.models import (
    OPEN_STATUSES,
    ApplicantType,
    ApplicationAdmission,
    ApplicationEvent,
    ApplicationMaterial,
    ApplicationSequence,
    ApplicationStatus,
    CopyApplication,
    DeliveryMethod,
    MaterialKind,
)

REVIEW_PERMISSION = "medical_records.review_copyapplication"
SECOND_REVIEW_PERMISSION = "medical_records.second_review_copyapplication"
REVIEW_MODE_KEY = "medical_records.review_mode"
REJECT_REASON_CATEGORY = "copy_reject_reason"

DAILY_LIMIT_PER_RESIDENT = 5
DAILY_LIMIT_PER_IP = 20
MAX_MATERIAL_BYTES = 10 * 1024 * 1024
MAX_COPIES = 10

NO_ARCHIVE_MESSAGE = (
    "未在该机构查询到您的归档住院病案，请确认出院时间（一般出院后 7 个工作日内完成归档）"
    "或联系医院病案室"
)

# Each alternative group must be satisfied by one upload (MR-P2): the record-room rules
# of 医疗机构病历管理规定 for who may ask for someone else's record.
REQUIRED_MATERIALS: dict[str, list[tuple[str, ...]]] = {
    ApplicantType.SELF: [],
    ApplicantType.AGENT: [
        (MaterialKind.ID_CARD_FRONT,),
        (MaterialKind.AUTHORISATION_LETTER,),
        (MaterialKind.AGENT_ID_CARD,),
    ],
    ApplicantType.GUARDIAN: [(MaterialKind.GUARDIANSHIP_PROOF, MaterialKind.BIRTH_CERTIFICATE)],
    ApplicantType.HEIR: [(MaterialKind.DEATH_CERTIFICATE,), (MaterialKind.HEIR_PROOF,)],
}

# The sections a purpose usually needs, pre-selected on the form (residents may change them).
PURPOSE_SECTIONS: dict[str, list[str]] = {
    "reimbursement": ["front_page", "discharge_summary", "orders", "lab_report"],
    "insurance_claim": [
        "front_page",
        "admission_record",
        "discharge_summary",
        "operation_record",
        "pathology_report",
        "lab_report",
        "imaging_report",
    ],
    "transfer": [
        "front_page",
        "admission_record",
        "discharge_summary",
        "operation_record",
        "lab_report",
        "imaging_report",
        "orders",
    ],
    "judicial": [
        "front_page",
        "admission_record",
        "discharge_summary",
        "operation_record",
        "anaesthesia_record",
        "pathology_report",
        "lab_report",
        "imaging_report",
        "orders",
        "temperature_chart",
        "nursing_record",
        "consent",
    ],
    "personal": [
        "front_page",
        "admission_record",
        "discharge_summary",
        "operation_record",
        "lab_report",
        "imaging_report",
    ],
    "other": ["front_page", "discharge_summary"],
}

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


class ApplicationError(ValueError):
    """A request the service refuses; ``str()`` is the Chinese text for the page."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class MailAddress:
    recipient: str
    phone: str
    address: str


# -- helpers -------------------------------------------------------------------------


def materials_dir() -> Path:
    return Path(settings.DATA_DIR) / "medical_records" / "materials"


def material_path(material: ApplicationMaterial) -> Path:
    return materials_dir() / f"{material.file_key}.bin"


def sniff_content_type(head: bytes) -> str | None:
    """JPEG, PNG or PDF by their magic bytes, whatever the name or declared type says."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    return None


def check_material_upload(kind: str, upload: UploadedFile) -> tuple[bytes, str]:
    title = MaterialKind(kind).label
    size = upload.size or 0
    if size > MAX_MATERIAL_BYTES:
        raise ApplicationError(f"{title}文件过大：每个文件不超过 10 MB", code="file_too_large")
    data = upload.read()
    if len(data) > MAX_MATERIAL_BYTES:
        raise ApplicationError(f"{title}文件过大：每个文件不超过 10 MB", code="file_too_large")
    if not data:
        raise ApplicationError(f"{title}文件为空，请重新上传", code="file_empty")
    content_type = sniff_content_type(data[:8])
    if content_type is None:
        raise ApplicationError(
            f"{title}文件格式不支持：请上传 JPG、PNG 照片或 PDF 文件", code="file_type"
        )
    return data, content_type


def check_materials(applicant_type: str, kinds: set[str]) -> None:
    """Raise when an applicant type's required materials are missing."""
    for group in REQUIRED_MATERIALS[applicant_type]:
        if not kinds.intersection(group):
            names = "或".join(MaterialKind(kind).label for kind in group)
            raise ApplicationError(
                f"{ApplicantType(applicant_type).label}申请需上传{names}", code="materials_missing"
            )


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _ensure_sequence_row(day: datetime.date) -> None:
    """Create the day's counter before any submission transaction takes row locks.

    On MariaDB an UPDATE that finds no row takes a gap lock; two submissions doing that
    and then both inserting the row deadlock. With the row already there, the UPDATE in
    ``_next_number`` only ever locks that one row.
    """
    if ApplicationSequence.objects.filter(day=day).exists():
        return
    try:
        with transaction.atomic():
            ApplicationSequence.objects.create(day=day, last_value=0)
    except IntegrityError:
        pass  # another submission created it first


def _next_number(day: datetime.date) -> str:
    # An UPDATE … SET last_value = last_value + 1 takes the row's write lock on every
    # backend (SQLite included), so two submissions never draw the same number.
    for _ in range(3):
        updated = ApplicationSequence.objects.filter(day=day).update(last_value=F("last_value") + 1)
        if updated:
            value = ApplicationSequence.objects.get(day=day).last_value
            return f"BA{day:%Y%m%d}{value:06d}"
        try:
            with transaction.atomic():
                ApplicationSequence.objects.create(day=day, last_value=0)
        except IntegrityError:
            continue
    raise RuntimeError("could not draw an application number")


def _wechat_template_id() -> str:
    templates = getattr(settings, "WECHAT", {}).get("templates", {})
    return str(templates.get("copy_application_status", "MEDICAL_RECORD_COPY_STATUS"))


def _detail_link(application: CopyApplication) -> str:
    return reverse("medical_records:h5-application", args=[application.number])


def _notify_resident(application: CopyApplication, note: str = "") -> None:
    status_label = ApplicationStatus(application.status).label
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    body = f"申请编号 {application.number}，状态：{status_label}。"
    if note:
        body += note
    notify(
        recipients=[ResidentRecipient(application.resident_id)],
        title=f"病案复印申请{status_label}",
        body=body,
        category="medical_records",
        link=_detail_link(application),
        dedup_key=f"copy:{application.number}:{application.status}",
        wechat=WeChatPayload(
            kind="template",
            template_id=_wechat_template_id(),
            data={"keyword1": application.number, "keyword2": status_label, "keyword3": when},
            url=_detail_link(application),
        ),
    )


def _transition(
    application: CopyApplication,
    to_status: str,
    *,
    actor_kind: str,
    actor: Any = None,
    note: str = "",
    request: HttpRequest | None = None,
    action: str,
    detail: Mapping[str, object] | None = None,
) -> None:
    """Move, record the timeline step and the audit row, notify the resident on commit."""
    from_status = application.status
    application.status = to_status
    application.save()
    ApplicationEvent.objects.create(
        application=application,
        from_status=from_status,
        to_status=to_status,
        actor_kind=actor_kind,
        actor_id=getattr(actor, "pk", None),
        note=note[:200],
    )
    record_event(
        action=action,
        actor=actor if actor_kind == ApplicationEvent.ActorKind.STAFF else None,
        resident_id=application.resident_id,
        object_type="medical_records.copyapplication",
        object_id=application.number,
        institution_id=application.institution_id,
        detail={"from": from_status, "to": to_status, **(detail or {})},
        request=request,
    )
    # The notification rows join this transaction; WeChat delivery is queued on commit.
    _notify_resident(application, note)
    if to_status == ApplicationStatus.APPROVED:
        _enqueue_copy(application.pk)


def _enqueue_copy(application_id: int) -> None:
    """Have the worker build the copy (copy_services.prepare_copy) once the approval commits."""
    # Imported here: copy_tasks → copy_services → this module.
    from jingan.medical_records.copy_tasks import prepare_copy_task

    # robust: a queue hiccup must not fail the approval; prepare_pending_copies catches up.
    transaction.on_commit(lambda: prepare_copy_task(application_id), robust=True)


# -- submit --------------------------------------------------------------------------


def _patient_identity(
    *, actor: Any, applicant_type: str, patient_name: str, patient_id_number: str
) -> tuple[str, str, datetime.date]:
    if applicant_type == ApplicantType.SELF:
        facts = check_id_number(actor.id_number)
        return actor.name, facts.id_number, facts.birth_date
    name = (patient_name or "").strip()
    if not name or len(name) > 30:
        raise ApplicationError("请填写与患者身份证一致的姓名", code="patient_name")
    try:
        facts = check_id_number(patient_id_number or "")
    except InvalidIdNumber as error:
        raise ApplicationError(f"患者身份证号有误：{error}", code="patient_id_number") from None
    if facts.id_number == check_id_number(actor.id_number).id_number:
        raise ApplicationError("患者是您本人时，请选择“本人申请”", code="patient_is_applicant")
    return name, facts.id_number, facts.birth_date


def _age_on(birth_date: datetime.date, today: datetime.date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(before_birthday)


def _check_limits(actor: Any, ip: str | None) -> None:
    since = timezone.now() - datetime.timedelta(days=1)
    recent = CopyApplication.objects.unscoped().filter(submitted_at__gte=since)
    if recent.filter(resident=actor).count() >= DAILY_LIMIT_PER_RESIDENT:
        raise ApplicationError(
            f"您今天已提交 {DAILY_LIMIT_PER_RESIDENT} 份申请，已达每日上限，请明天再试",
            code="rate_limited_resident",
        )
    if ip and recent.filter(submitted_ip=ip).count() >= DAILY_LIMIT_PER_IP:
        raise ApplicationError("当前网络提交的申请过多，请稍后再试", code="rate_limited_ip")


def check_choices(
    *, purpose: str, sections: Sequence[str], copies: int, delivery_method: str
) -> list[str]:
    if purpose not in dict(dictionary_entries("copy_purpose")):
        raise ApplicationError("请选择复印用途", code="purpose")
    allowed = [code for code, _ in dictionary_entries("record_section")]
    chosen = [code for code in allowed if code in set(sections)]
    if not chosen or len(chosen) != len(set(sections)):
        raise ApplicationError("请至少选择一项复印内容", code="sections")
    if not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise ApplicationError(f"复印份数应为 1 至 {MAX_COPIES} 份", code="copies")
    if delivery_method not in DeliveryMethod.values:
        raise ApplicationError("请选择取件方式", code="delivery_method")
    return chosen


def check_mail(delivery_method: str, mail: MailAddress | None) -> MailAddress:
    if delivery_method != DeliveryMethod.MAIL:
        return MailAddress("", "", "")
    if mail is None or not mail.recipient.strip():
        raise ApplicationError("邮寄需填写收件人", code="mail_recipient")
    phone = (mail.phone or "").strip().replace(" ", "")
    if not _PHONE.match(phone):
        raise ApplicationError("请填写正确的收件人手机号或固定电话", code="mail_phone")
    address = (mail.address or "").strip()
    if len(address) < 8:
        raise ApplicationError("请填写详细的收件地址（含区、街道、门牌号）", code="mail_address")
    return MailAddress(mail.recipient.strip()[:30], phone, address[:200])


def archived_admissions_for(*, institution_id: int, id_number: str) -> list[Any]:
    """The archived admissions of this person at this institution (MR-P3), newest first."""
    from jingan.medical_records.archive_queries import admissions_for_person

    return admissions_for_person(institution_id=institution_id, id_number=id_number)


def check_institution(institution_id: int) -> Any:
    """The active inpatient institution with this id, else ApplicationError."""
    from django.apps import apps

    institution_model = apps.get_model("institutions", "Institution")
    institution = (
        institution_model.objects.unscoped()
        .filter(pk=institution_id, is_active=True, has_inpatient=True)
        .first()
    )
    if institution is None:
        raise ApplicationError("请选择开展住院业务的医疗机构", code="institution")
    return institution


def submit_application(
    *,
    actor: Any,
    institution_id: int,
    admission_ids: Sequence[int],
    applicant_type: str,
    purpose: str,
    sections: Sequence[str],
    copies: int,
    delivery_method: str,
    patient_name: str = "",
    patient_id_number: str = "",
    applicant_relation: str = "",
    mail: MailAddress | None = None,
    materials: Mapping[str, UploadedFile] | None = None,
    request: HttpRequest | None = None,
) -> CopyApplication:
    """Check and file a resident's copy application (MR-P1..P3); returns it."""
    if actor is None or not actor.is_verified:
        raise ApplicationError("请先完成实名认证再申请", code="not_verified")
    if applicant_type not in ApplicantType.values:
        raise ApplicationError("请选择申请人类型", code="applicant_type")
    uploads = dict(materials or {})
    unknown = set(uploads) - set(MaterialKind.values)
    if unknown:
        raise ApplicationError("上传的材料类型无效", code="materials_unknown")
    ip = _client_ip(request)
    # Early, so junk stops before any lookup; checked again under the lock below.
    _check_limits(actor, ip)
    institution = check_institution(institution_id)
    name, id_number, birth_date = _patient_identity(
        actor=actor,
        applicant_type=applicant_type,
        patient_name=patient_name,
        patient_id_number=patient_id_number,
    )
    today = timezone.localdate()
    if applicant_type == ApplicantType.GUARDIAN and _age_on(birth_date, today) >= 18:
        if MaterialKind.GUARDIANSHIP_PROOF not in uploads:
            raise ApplicationError(
                "患者已成年：监护人申请需上传法院或居（村）委会出具的监护关系证明",
                code="materials_missing",
            )
    check_materials(applicant_type, set(uploads))
    chosen_sections = check_choices(
        purpose=purpose, sections=sections, copies=copies, delivery_method=delivery_method
    )
    address = check_mail(delivery_method, mail)
    files = {kind: check_material_upload(kind, upload) for kind, upload in uploads.items()}

    archived = archived_admissions_for(institution_id=institution.pk, id_number=id_number)
    if not archived:
        raise ApplicationError(NO_ARCHIVE_MESSAGE, code="no_archive")
    by_id = {admission.pk: admission for admission in archived}
    wanted = list(dict.fromkeys(int(pk) for pk in admission_ids))
    if not wanted:
        raise ApplicationError("请至少选择一次住院记录", code="admissions")
    if any(pk not in by_id for pk in wanted):
        raise ApplicationError(
            "所选住院记录不属于该患者或不在该机构，请重新选择", code="admissions"
        )

    _ensure_sequence_row(today)
    written: list[Path] = []
    try:
        with transaction.atomic():
            # Lock the admissions: two submissions for the same stay queue up here, so
            # the duplicate check below sees the first one's rows.
            list(
                type(archived[0])
                .objects.unscoped()
                .select_for_update()
                .filter(pk__in=wanted)
                .values_list("pk", flat=True)
            )
            _check_limits(actor, ip)
            duplicate = (
                ApplicationAdmission.objects.filter(
                    admission_id__in=wanted,
                    application__purpose=purpose,
                    application__status__in=OPEN_STATUSES,
                )
                .select_related("application")
                .first()
            )
            if duplicate is not None:
                raise ApplicationError(
                    f"该住院记录已有相同用途的申请正在办理（申请编号 {duplicate.application.number}），"
                    "请勿重复提交",
                    code="duplicate",
                )
            application = CopyApplication(
                number=_next_number(today),
                resident=actor,
                institution=institution,
                applicant_type=applicant_type,
                patient_name=name,
                patient_id_number=id_number,
                applicant_relation=(
                    "本人" if applicant_type == ApplicantType.SELF else applicant_relation[:32]
                ),
                purpose=purpose,
                sections=chosen_sections,
                copies=copies,
                delivery_method=delivery_method,
                mail_recipient=address.recipient,
                mail_phone=address.phone,
                mail_address=address.address,
                submitted_ip=ip,
            )
            application.save()
            ApplicationAdmission.objects.bulk_create(
                ApplicationAdmission(application=application, admission=by_id[pk]) for pk in wanted
            )
            for kind, (data, content_type) in files.items():
                material = ApplicationMaterial(
                    application=application,
                    kind=kind,
                    original_name=(uploads[kind].name or "")[:100],
                    content_type=content_type,
                    size=len(data),
                    sm3=sm3_hex(data),
                )
                path = material_path(material)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encrypt_file_bytes(data, context=material.encryption_context))
                written.append(path)
                material.save()
            ApplicationEvent.objects.create(
                application=application,
                from_status="",
                to_status=ApplicationStatus.SUBMITTED,
                actor_kind=ApplicationEvent.ActorKind.RESIDENT,
                actor_id=actor.pk,
                note="居民在线提交申请",
            )
            record_event(
                action="medical_records.application.submit",
                resident_id=actor.pk,
                object_type="medical_records.copyapplication",
                object_id=application.number,
                institution_id=institution.pk,
                detail={
                    "applicant_type": applicant_type,
                    "purpose": purpose,
                    "admissions": len(wanted),
                    "materials": sorted(files),
                },
                request=request,
            )
            mode = institution_setting(institution.pk, REVIEW_MODE_KEY)
            if mode == "auto_when_verified" and applicant_type == ApplicantType.SELF:
                application.reviewed_at = timezone.now()
                _transition(
                    application,
                    ApplicationStatus.APPROVED,
                    actor_kind=ApplicationEvent.ActorKind.SYSTEM,
                    note="实名及人脸核验通过，系统自动审核通过",
                    request=request,
                    action="medical_records.application.auto_approve",
                )
            else:
                _notify_resident(application)
    except BaseException:
        # The rows rolled back; the encrypted files they pointed at must go with them.
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return application


# -- staff transitions ---------------------------------------------------------------


def _for_reviewer(actor: Any, application_id: int, permission: str) -> CopyApplication:
    """The application locked for update, within the actor's scope for ``permission``."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Http404("申请不存在或不在您的数据范围内")
    application = (
        CopyApplication.objects.restrict(actor, permission)
        .select_for_update()
        .filter(pk=application_id)
        .first()
    )
    if application is None:
        raise Http404("申请不存在或不在您的数据范围内")
    return application


def _require(application: CopyApplication, *allowed: str) -> None:
    if application.status not in allowed:
        raise ApplicationError(
            f"申请当前状态为“{ApplicationStatus(application.status).label}”，不能进行此操作",
            code="wrong_status",
        )


def start_review(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> CopyApplication:
    """A reviewer takes a submitted application into review."""
    return _staff_step(
        actor=actor,
        application_id=application_id,
        allowed=(ApplicationStatus.SUBMITTED,),
        to_status=ApplicationStatus.UNDER_REVIEW,
        note="病案室已开始审核",
        action="medical_records.application.start_review",
        request=request,
    )


def approve_application(
    *, actor: Any, application_id: int, note: str = "", request: HttpRequest | None = None
) -> CopyApplication:
    """Approve (first level); in two-level mode the application goes on to second review."""
    with transaction.atomic():
        application = _for_reviewer(actor, application_id, REVIEW_PERMISSION)
        if application.status == ApplicationStatus.SECOND_REVIEW:
            return _second_review(actor, application, note, request)
        _require(application, ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW)
        application.first_reviewer = actor
        application.reviewed_at = timezone.now()
        two_level = institution_setting(application.institution_id, REVIEW_MODE_KEY) == "two_level"
        _transition(
            application,
            ApplicationStatus.SECOND_REVIEW if two_level else ApplicationStatus.APPROVED,
            actor_kind=ApplicationEvent.ActorKind.STAFF,
            actor=actor,
            note=note or ("初审通过，等待复核" if two_level else "审核通过"),
            request=request,
            action="medical_records.application.approve",
        )
    return application


def _second_review(
    actor: Any, application: CopyApplication, note: str, request: HttpRequest | None
) -> CopyApplication:
    if (
        not actor.has_perm(SECOND_REVIEW_PERMISSION)
        or not CopyApplication.objects.restrict(actor, SECOND_REVIEW_PERMISSION)
        .filter(pk=application.pk)
        .exists()
    ):
        raise ApplicationError("您没有复核权限", code="no_second_review_permission")
    if application.first_reviewer_id == actor.pk:
        raise ApplicationError("复核须由初审以外的另一名工作人员进行", code="same_reviewer")
    application.reviewed_at = timezone.now()
    _transition(
        application,
        ApplicationStatus.APPROVED,
        actor_kind=ApplicationEvent.ActorKind.STAFF,
        actor=actor,
        note=note or "复核通过",
        request=request,
        action="medical_records.application.second_review",
    )
    return application


def second_review_application(
    *, actor: Any, application_id: int, note: str = "", request: HttpRequest | None = None
) -> CopyApplication:
    """Second-level approval by a reviewer other than the first (two-level mode)."""
    with transaction.atomic():
        application = _for_reviewer(actor, application_id, SECOND_REVIEW_PERMISSION)
        _require(application, ApplicationStatus.SECOND_REVIEW)
        return _second_review(actor, application, note, request)


def reject_application(
    *,
    actor: Any,
    application_id: int,
    reason_code: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> CopyApplication:
    """Reject with a reason from the ``copy_reject_reason`` dictionary (MR-A3)."""
    reasons = dict(dictionary_entries(REJECT_REASON_CATEGORY))
    if reason_code not in reasons:
        raise ApplicationError("请选择拒绝原因", code="reason")
    with transaction.atomic():
        application = _for_reviewer(actor, application_id, REVIEW_PERMISSION)
        if application.status == ApplicationStatus.SECOND_REVIEW and not actor.has_perm(
            SECOND_REVIEW_PERMISSION
        ):
            raise ApplicationError("您没有复核权限", code="no_second_review_permission")
        _require(
            application,
            ApplicationStatus.SUBMITTED,
            ApplicationStatus.UNDER_REVIEW,
            ApplicationStatus.SECOND_REVIEW,
        )
        reason = reasons[reason_code] + (f"：{note.strip()}" if note.strip() else "")
        application.reject_reason = reason[:200]
        application.reviewed_at = timezone.now()
        _transition(
            application,
            ApplicationStatus.REJECTED,
            actor_kind=ApplicationEvent.ActorKind.STAFF,
            actor=actor,
            note=f"拒绝原因：{reason}",
            request=request,
            action="medical_records.application.reject",
            detail={"reason_code": reason_code},
        )
    return application


def _staff_step(
    *,
    actor: Any,
    application_id: int,
    allowed: tuple[str, ...],
    to_status: str,
    note: str,
    action: str,
    request: HttpRequest | None,
    before: Callable[[CopyApplication], None] | None = None,
) -> CopyApplication:
    with transaction.atomic():
        application = _for_reviewer(actor, application_id, REVIEW_PERMISSION)
        _require(application, *allowed)
        if before is not None:
            before(application)
        _transition(
            application,
            to_status,
            actor_kind=ApplicationEvent.ActorKind.STAFF,
            actor=actor,
            note=note,
            request=request,
            action=action,
        )
    return application


def mark_preparing(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> CopyApplication:
    """The record room starts making the copy of an approved application."""
    return _staff_step(
        actor=actor,
        application_id=application_id,
        allowed=(ApplicationStatus.APPROVED,),
        to_status=ApplicationStatus.PREPARING,
        note="病案室正在制作复印件",
        action="medical_records.application.prepare",
        request=request,
    )


def mark_ready(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> CopyApplication:
    """The copy is made: ready to download (electronic) or to post (mail).

    The system does this itself once it has built the copy. Staff use it for a mailed copy
    the record room printed by hand; an electronic copy needs the built file first.
    """

    def check(application: CopyApplication) -> None:
        if application.delivery_method != DeliveryMethod.ELECTRONIC:
            return
        document = getattr(application, "copy_document", None)
        if document is None or not document.is_built:
            raise ApplicationError(
                "电子版复印件尚未生成，请先生成复印件再标记制作完成", code="copy_not_built"
            )

    return _staff_step(
        actor=actor,
        application_id=application_id,
        allowed=(ApplicationStatus.APPROVED, ApplicationStatus.PREPARING),
        to_status=ApplicationStatus.READY,
        note="复印件已制作完成",
        action="medical_records.application.ready",
        request=request,
        before=check,
    )


def mark_shipped(
    *, actor: Any, application_id: int, tracking_no: str, request: HttpRequest | None = None
) -> CopyApplication:
    """A mailed copy has left the record room with this tracking number."""
    tracking = (tracking_no or "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{8,30}", tracking):
        raise ApplicationError("请填写正确的快递单号（8–30 位字母或数字）", code="tracking_no")

    def check(application: CopyApplication) -> None:
        if application.delivery_method != DeliveryMethod.MAIL:
            raise ApplicationError("电子版申请无需寄送", code="not_mail")
        application.tracking_no = tracking

    return _staff_step(
        actor=actor,
        application_id=application_id,
        allowed=(ApplicationStatus.READY,),
        to_status=ApplicationStatus.SHIPPED,
        note=f"已寄出，快递单号 {tracking}",
        action="medical_records.application.ship",
        request=request,
        before=check,
    )


def complete_application(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> CopyApplication:
    """Staff confirm that a mailed copy was delivered."""

    def stamp(application: CopyApplication) -> None:
        application.completed_at = timezone.now()

    return _staff_step(
        actor=actor,
        application_id=application_id,
        allowed=(ApplicationStatus.SHIPPED,),
        to_status=ApplicationStatus.COMPLETED,
        note="已签收",
        action="medical_records.application.complete",
        request=request,
        before=stamp,
    )


# -- reviewer reads of personal data -----------------------------------------------


def open_material_for_reviewer(
    *, actor: Any, material_id: int, request: HttpRequest | None = None
) -> tuple[ApplicationMaterial, bytes]:
    """A material's decrypted bytes for a reviewer in scope; the read is audited."""
    material = (
        ApplicationMaterial.objects.select_related("application").filter(pk=material_id).first()
    )
    if material is None or actor is None or not getattr(actor, "is_authenticated", False):
        raise Http404("材料不存在或不在您的数据范围内")
    application = material.application
    if not (
        CopyApplication.objects.restrict(actor, REVIEW_PERMISSION)
        .filter(pk=application.pk)
        .exists()
    ):
        raise Http404("材料不存在或不在您的数据范围内")
    data = decrypt_file_bytes(
        material_path(material).read_bytes(), context=material.encryption_context
    )
    if sm3_hex(data) != material.sm3:
        raise ApplicationError("材料文件校验失败，请联系系统管理员", code="material_digest")
    with transaction.atomic():
        record_personal_data_read(
            actor=actor,
            resident_id=application.resident_id,
            what=f"病案复印申请 {application.number} 的{material.get_kind_display()}",
            request=request,
        )
    return material, data


@dataclass(frozen=True)
class RevealedIdentity:
    patient_name: str
    patient_id_number: str
    mail_recipient: str
    mail_phone: str
    mail_address: str


def reveal_identity_for_reviewer(
    *, actor: Any, application_id: int, request: HttpRequest | None = None
) -> RevealedIdentity:
    """The unmasked patient identity and address of an application; the read is audited."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Http404("申请不存在或不在您的数据范围内")
    application = (
        CopyApplication.objects.restrict(actor, REVIEW_PERMISSION).filter(pk=application_id).first()
    )
    if application is None:
        raise Http404("申请不存在或不在您的数据范围内")
    with transaction.atomic():
        record_personal_data_read(
            actor=actor,
            resident_id=application.resident_id,
            what=f"病案复印申请 {application.number} 的患者身份与收件信息",
            request=request,
        )
    return RevealedIdentity(
        patient_name=application.patient_name,
        patient_id_number=application.patient_id_number,
        mail_recipient=application.mail_recipient,
        mail_phone=application.mail_phone,
        mail_address=application.mail_address,
    )


# -- resident transitions ------------------------------------------------------------


def _for_resident(actor: Any, number: str) -> CopyApplication:
    application = (
        CopyApplication.objects.unscoped()
        .select_for_update()
        .filter(number=number, resident_id=getattr(actor, "pk", None))
        .first()
    )
    if application is None:
        raise Http404("申请不存在")
    return application


def mark_downloaded(
    *, actor: Any, number: str, request: HttpRequest | None = None
) -> CopyApplication:
    """The resident downloaded the electronic copy: the first download completes it."""
    with transaction.atomic():
        application = _for_resident(actor, number)
        if application.status == ApplicationStatus.COMPLETED:
            return application
        _require(application, ApplicationStatus.READY)
        if application.delivery_method != DeliveryMethod.ELECTRONIC:
            raise ApplicationError("纸质件邮寄申请不提供下载", code="not_electronic")
        application.completed_at = timezone.now()
        _transition(
            application,
            ApplicationStatus.COMPLETED,
            actor_kind=ApplicationEvent.ActorKind.RESIDENT,
            actor=actor,
            note="居民已下载电子复印件",
            request=request,
            action="medical_records.application.download",
        )
    return application


def cancel_application(
    *, actor: Any, number: str, request: HttpRequest | None = None
) -> CopyApplication:
    """The resident withdraws an application that nobody has started reviewing."""
    with transaction.atomic():
        application = _for_resident(actor, number)
        if application.status != ApplicationStatus.SUBMITTED:
            raise ApplicationError(
                "申请已进入审核，不能取消；如需帮助请联系医院病案室", code="wrong_status"
            )
        _transition(
            application,
            ApplicationStatus.CANCELLED,
            actor_kind=ApplicationEvent.ActorKind.RESIDENT,
            actor=actor,
            note="居民取消申请",
            request=request,
            action="medical_records.application.cancel",
        )
    return application


__all__ = [
    "ApplicationError",
    "MailAddress",
    "approve_application",
    "archived_admissions_for",
    "cancel_application",
    "check_choices",
    "check_institution",
    "check_mail",
    "check_materials",
    "complete_application",
    "mark_downloaded",
    "mark_preparing",
    "mark_ready",
    "mark_shipped",
    "open_material_for_reviewer",
    "check_material_upload",
    "reject_application",
    "reveal_identity_for_reviewer",
    "second_review_application",
    "start_review",
    "submit_application",
]
