"""Resident H5 pages: the step-by-step copy application and "我的申请" (MR-P1..P5).

The wizard keeps its draft in the session; uploaded materials are checked at once and
parked SM4-encrypted in a staging directory until the application is submitted.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from jingan.core.public import (
    DecryptionError,
    InvalidIdNumber,
    check_id_number,
    decrypt_file_bytes,
    dictionary_entries,
    encrypt_file_bytes,
    get_current_resident,
    label_for,
    resident_required,
)
from jingan.medical_records import copy_services, queries, services
from jingan.medical_records.models import (
    ApplicantType,
    ApplicationStatus,
    DeliveryMethod,
    MaterialKind,
)
from jingan.medical_records.services import ApplicationError, MailAddress

DRAFT_KEY = "medical_records_draft"
STAGING_MAX_AGE_SECONDS = 24 * 3600
TERMINAL = {ApplicationStatus.COMPLETED, ApplicationStatus.REJECTED, ApplicationStatus.CANCELLED}

STEPS = [
    ("institution", "选择医院"),
    ("applicant", "申请人与材料"),
    ("admissions", "选择住院记录"),
    ("details", "用途与取件"),
    ("confirm", "确认提交"),
]

# Which uploads each applicant type is offered (required ones are checked by the service).
MATERIAL_FIELDS: dict[str, list[str]] = {
    ApplicantType.SELF: [],
    ApplicantType.AGENT: [
        MaterialKind.ID_CARD_FRONT,
        MaterialKind.ID_CARD_BACK,
        MaterialKind.AUTHORISATION_LETTER,
        MaterialKind.AGENT_ID_CARD,
    ],
    ApplicantType.GUARDIAN: [
        MaterialKind.BIRTH_CERTIFICATE,
        MaterialKind.GUARDIANSHIP_PROOF,
        MaterialKind.ID_CARD_FRONT,
    ],
    ApplicantType.HEIR: [
        MaterialKind.DEATH_CERTIFICATE,
        MaterialKind.HEIR_PROOF,
        MaterialKind.ID_CARD_FRONT,
    ],
}


# -- draft and staged files ------------------------------------------------------------


def _draft(request: HttpRequest) -> dict[str, Any]:
    draft = request.session.get(DRAFT_KEY)
    return dict(draft) if isinstance(draft, dict) else {}


def _save_draft(request: HttpRequest, draft: dict[str, Any]) -> None:
    request.session[DRAFT_KEY] = draft


def _staging_dir() -> Path:
    return Path(settings.DATA_DIR) / "medical_records" / "staging"


def _staging_context(resident_id: int, key: str) -> str:
    return f"medical_records.staging:{resident_id}:{key}"


def _sweep_staging() -> None:
    # Abandoned drafts leave files behind; a cheap sweep on each upload keeps the dir small.
    cutoff = time.time() - STAGING_MAX_AGE_SECONDS
    directory = _staging_dir()
    if directory.is_dir():
        for path in directory.glob("*.bin"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def _stage(resident_id: int, kind: str, upload: UploadedFile) -> dict[str, str]:
    data, content_type = services.check_material_upload(kind, upload)
    key = uuid.uuid4().hex
    directory = _staging_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _sweep_staging()
    blob = encrypt_file_bytes(data, context=_staging_context(resident_id, key))
    (directory / f"{key}.bin").write_bytes(blob)
    return {"key": key, "name": (upload.name or kind)[:100], "content_type": content_type}


def _unstage(resident_id: int, staged: dict[str, dict[str, str]]) -> dict[str, UploadedFile]:
    files: dict[str, UploadedFile] = {}
    for kind, entry in staged.items():
        path = _staging_dir() / f"{entry['key']}.bin"
        try:
            data = decrypt_file_bytes(
                path.read_bytes(), context=_staging_context(resident_id, entry["key"])
            )
        except (OSError, DecryptionError):
            raise ApplicationError(
                f"{MaterialKind(kind).label}已过期，请返回上一步重新上传", code="staging_lost"
            ) from None
        files[kind] = SimpleUploadedFile(entry["name"], data, entry["content_type"])
    return files


def _discard_staged(staged: dict[str, dict[str, str]]) -> None:
    for entry in staged.values():
        (_staging_dir() / f"{entry['key']}.bin").unlink(missing_ok=True)


def _context(request: HttpRequest, step: str, **extra: Any) -> dict[str, Any]:
    index = [key for key, _ in STEPS].index(step)
    return {
        "tab": "home",
        "resident": get_current_resident(request),
        "steps": STEPS,
        "step_index": index,
        "draft": _draft(request),
        **extra,
    }


def _institution_or_restart(request: HttpRequest, draft: dict[str, Any]) -> Any:
    try:
        return services.check_institution(int(draft.get("institution_id", 0)))
    except (ApplicationError, TypeError, ValueError):
        return None


def _applicant_rows(draft: dict[str, Any]) -> list[dict[str, Any]]:
    staged = draft.get("materials", {}) if isinstance(draft.get("materials"), dict) else {}
    same_type = draft.get("applicant_type")
    rows = []
    for value, label in ApplicantType.choices:
        groups = services.REQUIRED_MATERIALS[value]
        need = "、".join("或".join(MaterialKind(kind).label for kind in group) for group in groups)
        fields = [
            {
                "kind": kind,
                "label": MaterialKind(kind).label,
                "staged": staged.get(kind, {}).get("name", "") if same_type == value else "",
            }
            for kind in MATERIAL_FIELDS[value]
        ]
        rows.append({"value": value, "label": label, "need": need, "fields": fields})
    return rows


def _patient_id_number(resident: Any, draft: dict[str, Any]) -> str:
    if draft.get("applicant_type") == ApplicantType.SELF:
        return str(resident.id_number)
    return str(draft.get("patient_id_number", ""))


# -- pages ----------------------------------------------------------------------------


@resident_required(verified=False)
def intro(request: HttpRequest) -> HttpResponse:
    """The service, its steps and what to prepare (MR-P1)."""
    return render(
        request,
        "medical_records/h5/intro.html",
        {"tab": "home", "resident": get_current_resident(request), "steps": STEPS},
    )


@resident_required
@require_http_methods(["GET", "POST"])
def apply_institution(request: HttpRequest) -> HttpResponse:
    institutions = queries.inpatient_institutions()
    draft = _draft(request)
    error = ""
    if request.method == "POST":
        try:
            institution = services.check_institution(int(request.POST.get("institution_id", "")))
        except (ApplicationError, ValueError):
            error = "请选择开展住院业务的医疗机构"
        else:
            if draft.get("institution_id") != institution.pk:
                _discard_staged(draft.get("materials", {}))
                draft = {"institution_id": institution.pk}
            _save_draft(request, draft)
            return redirect("medical_records:h5-apply-applicant")
    return render(
        request,
        "medical_records/h5/apply_institution.html",
        _context(request, "institution", institutions=institutions, error=error),
    )


@resident_required
@require_http_methods(["GET", "POST"])
def apply_applicant(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    assert resident is not None
    draft = _draft(request)
    institution = _institution_or_restart(request, draft)
    if institution is None:
        return redirect("medical_records:h5-apply")
    error = ""
    if request.method == "POST":
        applicant_type = request.POST.get("applicant_type", "")
        staged: dict[str, dict[str, str]] = dict(draft.get("materials", {}))
        try:
            if applicant_type not in ApplicantType.values:
                raise ApplicationError("请选择申请人类型")
            if applicant_type != draft.get("applicant_type"):
                _discard_staged(staged)
                staged = {}
            patient_name = request.POST.get("patient_name", "").strip()
            patient_id_number = request.POST.get("patient_id_number", "").strip().upper()
            if applicant_type != ApplicantType.SELF:
                if not patient_name:
                    raise ApplicationError("请填写患者姓名")
                try:
                    patient_id_number = check_id_number(patient_id_number).id_number
                except InvalidIdNumber as invalid:
                    raise ApplicationError(f"患者身份证号有误：{invalid}") from None
            for kind in MATERIAL_FIELDS[applicant_type]:
                upload = request.FILES.get(kind)
                if upload is not None:
                    old = staged.pop(kind, None)
                    if old:
                        _discard_staged({kind: old})
                    staged[kind] = _stage(resident.pk, kind, upload)
            draft.update(
                applicant_type=applicant_type,
                patient_name=patient_name if applicant_type != ApplicantType.SELF else "",
                patient_id_number=(
                    patient_id_number if applicant_type != ApplicantType.SELF else ""
                ),
                applicant_relation=request.POST.get("applicant_relation", "").strip()[:32],
                materials=staged,
            )
            draft.pop("admission_ids", None)
            _save_draft(request, draft)
            services.check_materials(applicant_type, set(staged))
        except ApplicationError as refused:
            error = str(refused)
        else:
            return redirect("medical_records:h5-apply-admissions")
    selected = request.POST.get("applicant_type") or draft.get("applicant_type", "self")
    return render(
        request,
        "medical_records/h5/apply_applicant.html",
        _context(
            request,
            "applicant",
            institution=institution,
            applicant_rows=_applicant_rows(draft),
            selected_type=selected,
            values={
                name: request.POST.get(name, draft.get(name, ""))
                for name in ("patient_name", "patient_id_number", "applicant_relation")
            },
            error=error,
        ),
    )


@resident_required
@require_http_methods(["GET", "POST"])
def apply_admissions(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    draft = _draft(request)
    institution = _institution_or_restart(request, draft)
    if institution is None or "applicant_type" not in draft:
        return redirect("medical_records:h5-apply")
    admissions = services.archived_admissions_for(
        institution_id=institution.pk, id_number=_patient_id_number(resident, draft)
    )
    if not admissions:
        # MR-P3: the flow stops here, with the reason and what to do.
        return render(
            request,
            "medical_records/h5/no_archive.html",
            _context(
                request,
                "admissions",
                institution=institution,
                message=services.NO_ARCHIVE_MESSAGE,
            ),
        )
    error = ""
    if request.method == "POST":
        known = {admission.pk for admission in admissions}
        try:
            chosen = [int(value) for value in request.POST.getlist("admission_ids")]
        except ValueError:
            chosen = []
        if not chosen:
            error = "请至少选择一次住院记录"
        elif not set(chosen) <= known:
            error = "所选住院记录不属于该患者或不在该机构，请重新选择"
        else:
            draft["admission_ids"] = chosen
            _save_draft(request, draft)
            return redirect("medical_records:h5-apply-details")
    return render(
        request,
        "medical_records/h5/apply_admissions.html",
        _context(
            request,
            "admissions",
            institution=institution,
            admissions=admissions,
            chosen=set(draft.get("admission_ids", [])),
            error=error,
        ),
    )


@resident_required
@require_http_methods(["GET", "POST"])
def apply_details(request: HttpRequest) -> HttpResponse:
    draft = _draft(request)
    if _institution_or_restart(request, draft) is None or not draft.get("admission_ids"):
        return redirect("medical_records:h5-apply")
    purposes = dictionary_entries("copy_purpose")
    sections = dictionary_entries("record_section")
    error = ""
    values: dict[str, Any] = {
        "purpose": draft.get("purpose", ""),
        "sections": draft.get("sections", []),
        "copies": draft.get("copies", 1),
        "delivery_method": draft.get("delivery_method", DeliveryMethod.ELECTRONIC),
        "mail_recipient": draft.get("mail_recipient", ""),
        "mail_phone": draft.get("mail_phone", ""),
        "mail_address": draft.get("mail_address", ""),
    }
    if request.method == "POST":
        values.update(
            purpose=request.POST.get("purpose", ""),
            sections=request.POST.getlist("sections"),
            delivery_method=request.POST.get("delivery_method", ""),
            mail_recipient=request.POST.get("mail_recipient", "").strip(),
            mail_phone=request.POST.get("mail_phone", "").strip(),
            mail_address=request.POST.get("mail_address", "").strip(),
        )
        try:
            values["copies"] = int(request.POST.get("copies", ""))
        except ValueError:
            values["copies"] = 0
        try:
            # The same checks the service runs on submit, so errors show on this step.
            values["sections"] = services.check_choices(
                purpose=values["purpose"],
                sections=values["sections"],
                copies=values["copies"],
                delivery_method=values["delivery_method"],
            )
            mail = services.check_mail(
                values["delivery_method"],
                MailAddress(values["mail_recipient"], values["mail_phone"], values["mail_address"]),
            )
        except ApplicationError as refused:
            error = str(refused)
        else:
            values.update(
                mail_recipient=mail.recipient, mail_phone=mail.phone, mail_address=mail.address
            )
            draft.update(values)
            _save_draft(request, draft)
            return redirect("medical_records:h5-apply-confirm")
    elif not values["purpose"]:
        values["purpose"] = purposes[0][0] if purposes else ""
        values["sections"] = services.PURPOSE_SECTIONS.get(values["purpose"], [])
    return render(
        request,
        "medical_records/h5/apply_details.html",
        _context(
            request,
            "details",
            purposes=purposes,
            sections=sections,
            values=values,
            purpose_sections=services.PURPOSE_SECTIONS,
            delivery_methods=DeliveryMethod.choices,
            error=error,
        ),
    )


@resident_required
@require_http_methods(["GET", "POST"])
def apply_confirm(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    assert resident is not None
    draft = _draft(request)
    institution = _institution_or_restart(request, draft)
    if institution is None or not draft.get("admission_ids") or not draft.get("purpose"):
        return redirect("medical_records:h5-apply")
    admissions = [
        admission
        for admission in services.archived_admissions_for(
            institution_id=institution.pk, id_number=_patient_id_number(resident, draft)
        )
        if admission.pk in set(draft["admission_ids"])
    ]
    error = ""
    if request.method == "POST":
        staged = draft.get("materials", {})
        try:
            application = services.submit_application(
                actor=resident,
                institution_id=institution.pk,
                admission_ids=draft["admission_ids"],
                applicant_type=draft["applicant_type"],
                patient_name=draft.get("patient_name", ""),
                patient_id_number=draft.get("patient_id_number", ""),
                applicant_relation=draft.get("applicant_relation", ""),
                purpose=draft["purpose"],
                sections=draft["sections"],
                copies=int(draft["copies"]),
                delivery_method=draft["delivery_method"],
                mail=MailAddress(
                    draft.get("mail_recipient", ""),
                    draft.get("mail_phone", ""),
                    draft.get("mail_address", ""),
                ),
                materials=_unstage(resident.pk, staged),
                request=request,
            )
        except ApplicationError as refused:
            error = str(refused)
        else:
            _discard_staged(staged)
            request.session.pop(DRAFT_KEY, None)
            messages.success(request, f"申请已提交，申请编号 {application.number}")
            return redirect("medical_records:h5-application", number=application.number)
    return render(
        request,
        "medical_records/h5/apply_confirm.html",
        _context(
            request,
            "confirm",
            institution=institution,
            admissions=admissions,
            applicant_type_label=ApplicantType(draft["applicant_type"]).label,
            purpose_label=label_for("copy_purpose", draft["purpose"]),
            section_labels=[label_for("record_section", code) for code in draft["sections"]],
            delivery_label=DeliveryMethod(draft["delivery_method"]).label,
            staged_labels=[MaterialKind(kind).label for kind in draft.get("materials", {})],
            patient_name=resident.name
            if draft["applicant_type"] == "self"
            else draft.get("patient_name", ""),
            error=error,
        ),
    )


@resident_required
def applications(request: HttpRequest) -> HttpResponse:
    """My applications, filtered by status tab (MR-P4)."""
    resident = get_current_resident(request)
    tab = request.GET.get("tab", "all")
    if tab not in {key for key, _, _ in queries.RESIDENT_TABS}:
        tab = "all"
    return render(
        request,
        "medical_records/h5/applications.html",
        {
            "tab": "me",
            "resident": resident,
            "tabs": queries.RESIDENT_TABS,
            "current_tab": tab,
            "applications": list(queries.applications_of_resident(resident, tab=tab)[:100]),
        },
    )


@resident_required
def application_detail(request: HttpRequest, number: str) -> HttpResponse:
    """One application with its live timeline (HTMX polls the partial every 10 s)."""
    resident = get_current_resident(request)
    application = queries.get_application_for_resident(resident, number)
    context = {
        "tab": "me",
        "resident": resident,
        "application": application,
        "events": list(application.events.all()),
        "live": application.status not in TERMINAL,
        "purpose_label": label_for("copy_purpose", application.purpose),
        "section_labels": [label_for("record_section", code) for code in application.sections],
        "admissions": [link.admission for link in application.admission_links.all()],
        "materials": list(application.materials.all()),
        "can_cancel": application.status == ApplicationStatus.SUBMITTED,
        "copy_download": copy_services.download_state(application),
    }
    if getattr(request, "htmx", False):
        return render(request, "medical_records/h5/application_detail.html#timeline", context)
    return render(request, "medical_records/h5/application_detail.html", context)


@resident_required
@require_POST
def application_cancel(request: HttpRequest, number: str) -> HttpResponse:
    resident = get_current_resident(request)
    try:
        services.cancel_application(actor=resident, number=number, request=request)
    except ApplicationError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "申请已取消")
    return redirect(reverse("medical_records:h5-application", args=[number]))
