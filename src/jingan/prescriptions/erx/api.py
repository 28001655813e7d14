"""JSON API of e-prescriptions: the doctor-workstation API (RX-W1) and the receiver of
the centre's notifications (RX-8, RX-9).

Workstations (HIS vendors) call with SM2-signed requests (core ``SM2RequestAuth``). A
client may act only for its own institution: its ``institution_id`` is the
prescription's, or it is the workstation app configured on the institution's centre
connection. Anything else is 404, so other institutions' prescription numbers do not
leak. The notification receiver has no platform auth: the centre's signed envelope is
the authentication, checked in ``notifications.receive_notification``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router
from ninja.responses import Status

from jingan.core.public import SM2RequestAuth, record_event
from jingan.lib.masking import mask_id_number, mask_name
from jingan.lib.schemas import inline_definitions
from jingan.prescriptions.erx import services
from jingan.prescriptions.erx.client import profile
from jingan.prescriptions.erx.errors import ErrorCode, ErxError
from jingan.prescriptions.erx.models import (
    CentreConnection,
    Prescription,
    PrescriptionStatus,
    RevokeOutcome,
)
from jingan.prescriptions.erx.notifications import receive_notification
from jingan.prescriptions.erx.schemas import (
    CatalogueQueryResult,
    ErxErrorRead,
    PrescriptionDraft,
    PrescriptionRead,
    RevokeIn,
    RevokeRead,
)

router = Router(tags=["医保电子处方"])

ERRORS: dict[int, Any] = {
    401: ErxErrorRead,
    404: ErxErrorRead,
    409: ErxErrorRead,
    422: ErxErrorRead,
    500: ErxErrorRead,
    503: ErxErrorRead,
}


_DRAFT_SCHEMA = PrescriptionDraft.model_json_schema()
# The body is parsed by the service (schemas.parse_draft) so that a bad field is answered
# in Chinese with its path; the schema is still published for vendors.
DRAFT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_definitions(_DRAFT_SCHEMA)}},
    }
}


def erx_error_response(request: HttpRequest, error: Exception) -> JsonResponse:
    """``{code, message, field}`` with the status of the error code."""
    assert isinstance(error, ErxError)
    return JsonResponse(
        {"code": error.code.value, "message": error.message, "field": error.field},
        status=error.http_status,
        json_dumps_params={"ensure_ascii": False},
    )


def _not_found() -> ErxError:
    return ErxError(ErrorCode.NOT_FOUND, "处方不存在或不属于本接入应用的机构")


def _client_institution_ids(client: Any) -> set[int]:
    ids = {client.institution_id} if client.institution_id else set()
    ids.update(
        CentreConnection.objects.unscoped()
        .filter(workstation_app_id=client.app_id)
        .values_list("institution_id", flat=True)
    )
    return ids


def _institution_for(client: Any) -> int:
    """The one institution a workstation client writes for."""
    ids = _client_institution_ids(client)
    if len(ids) != 1:
        raise ErxError(
            ErrorCode.NOT_FOUND,
            "本接入应用未关联医疗机构" if not ids else "本接入应用关联了多个机构，无法确定开方机构",
        )
    return next(iter(ids))


def _prescription_for(request: HttpRequest, reference: str) -> Prescription:
    client = request.auth  # type: ignore[attr-defined]
    ids = _client_institution_ids(client)
    prescription = (
        Prescription.objects.unscoped()
        .select_related("institution", "pharmacist")
        .filter(Q(reference=reference) if _is_uuid(reference) else Q(pk__in=[]))
        .filter(institution_id__in=ids)
        .first()
    )
    if prescription is None:
        raise _not_found()
    return prescription


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _actor(request: HttpRequest) -> services.ErxActor:
    return services.workstation_actor(request.auth)  # type: ignore[attr-defined]


def _code_label(code: str, labels: Any) -> dict[str, str]:
    return {"code": code, "label": labels.get(code, "") if code else ""}


def prescription_read(prescription: Prescription) -> dict[str, Any]:
    """The API view of a prescription (patient masked)."""
    centre = profile()
    diagnoses = json.loads(prescription.diagnoses or "[]")
    return {
        "reference": str(prescription.reference),
        "hosp_rxno": prescription.hosp_rxno,
        "status": prescription.status,
        "status_label": PrescriptionStatus(prescription.status).label,
        "patient_name_masked": mask_name(prescription.patient_name),
        "patient_id_number_masked": mask_id_number(prescription.patient_id_number),
        "patient_gender": prescription.patient_gender,
        "patient_age": prescription.patient_age,
        "mdtrt_id": prescription.mdtrt_id,
        "department_code": prescription.department_code,
        "department_name": prescription.department_name,
        "doctor_code": prescription.doctor_code,
        "doctor_name": prescription.doctor_name,
        "rx_type_code": prescription.rx_type_code,
        "prescribed_at": prescription.prescribed_at,
        "valid_until": prescription.valid_until,
        "total_amount": prescription.total_amount,
        "hi_rxno": prescription.hi_rxno,
        "rx_trace_code": prescription.rx_trace_code,
        "rx_status": _code_label(prescription.rx_status_code, centre.rx_status),
        "rx_used_status": _code_label(prescription.rx_used_status_code, centre.rx_used_status),
        "review_status": _code_label(prescription.review_status_code, centre.rx_review_status),
        "review_opinion": prescription.review_opinion,
        "pharmacist_opinion": prescription.pharmacist_opinion,
        "revoke_outcome": prescription.revoke_outcome,
        "revoke_outcome_label": (
            RevokeOutcome(prescription.revoke_outcome).label if prescription.revoke_outcome else ""
        ),
        "revoke_reason": prescription.revoke_reason,
        "dispensed_at": prescription.dispensed_at,
        "pharmacy_name": prescription.pharmacy_name,
        "last_error": prescription.last_error,
        "diagnoses": [
            {
                "code": str(d.get("code", "")),
                "name": str(d.get("name", "")),
                "main": bool(d.get("main")),
            }
            for d in diagnoses
        ],
        "items": [
            {
                "line_no": item.line_no,
                "med_list_codg": item.med_list_codg,
                "generic_name": item.generic_name,
                "dosage_form": item.dosage_form,
                "specification": item.specification,
                "quantity": item.quantity,
                "unit": item.unit,
                "price": item.price,
                "amount": item.amount,
                "single_dose": item.single_dose,
                "route_code": item.route_code,
                "route_name": item.route_name,
                "frequency_code": item.frequency_code,
                "frequency_name": item.frequency_name,
                "days": item.days,
            }
            for item in prescription.items.all()
        ],
        "events": [
            {
                "occurred_at": event.occurred_at,
                "kind": event.kind,
                "status": event.status,
                "status_label": PrescriptionStatus(event.status).label,
                "actor_label": event.actor_label,
                "note": event.note,
            }
            for event in prescription.events.all()
        ],
    }


def _read(prescription_id: int) -> dict[str, Any]:
    prescription = (
        Prescription.objects.unscoped()
        .select_related("institution")
        .prefetch_related("items", "events")
        .get(pk=prescription_id)
    )
    return prescription_read(prescription)


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise ErxError(ErrorCode.INVALID_INPUT, "请求体不是有效的 UTF-8 JSON", "body") from None


# -- workstation --------------------------------------------------------------------------


@router.post(
    "/workstation/prescriptions",
    auth=SM2RequestAuth(),
    response={201: PrescriptionRead, **ERRORS},
    summary="保存处方草稿",
    openapi_extra=DRAFT_BODY,
)
def create_prescription(request: HttpRequest) -> Status[object]:
    """Save a new draft for the client's institution. Drug names, specifications and
    prices come from the circulation catalogue; an unknown drug code answers 422
    ``unknown_drug`` naming the line, a bad field 422 ``invalid_input`` naming it."""
    institution_id = _institution_for(request.auth)  # type: ignore[attr-defined]
    prescription = services.save_draft(
        actor=_actor(request), institution_id=institution_id, draft=_json_body(request)
    )
    return Status(201, _read(prescription.pk))


@router.put(
    "/workstation/prescriptions/{reference}",
    auth=SM2RequestAuth(),
    response={200: PrescriptionRead, **ERRORS},
    summary="修改处方",
    openapi_extra=DRAFT_BODY,
)
def update_prescription(request: HttpRequest, reference: str) -> dict[str, Any]:
    """Rewrite a draft (or a verified or pharmacist-rejected prescription, which goes
    back to draft and must be pre-verified again). After upload: 409 ``wrong_state``."""
    prescription = _prescription_for(request, reference)
    services.save_draft(
        actor=_actor(request),
        institution_id=prescription.institution_id,
        draft=_json_body(request),
        prescription_id=prescription.pk,
    )
    return _read(prescription.pk)


@router.delete(
    "/workstation/prescriptions/{reference}",
    auth=SM2RequestAuth(),
    response={204: None, **ERRORS},
    summary="删除处方",
)
def delete_prescription(request: HttpRequest, reference: str) -> Status[None]:
    """Delete a prescription not yet uploaded; an uploaded one must be revoked (409)."""
    prescription = _prescription_for(request, reference)
    services.delete_prescription(actor=_actor(request), prescription_id=prescription.pk)
    return Status(204, None)


@router.get(
    "/workstation/prescriptions/{reference}",
    auth=SM2RequestAuth(),
    response={200: PrescriptionRead, **ERRORS},
    summary="查询处方状态",
)
def get_prescription(request: HttpRequest, reference: str) -> dict[str, Any]:
    """The prescription with our status, the centre's codes and labels, the revoke
    outcome as text and the timeline (patient name and ID number masked)."""
    prescription = _prescription_for(request, reference)
    record_event(
        action="erx.prescription.read",
        object_type="erx.prescription",
        object_id=str(prescription.reference),
        institution_id=prescription.institution_id,
        detail={"via": _actor(request).via},
    )
    return _read(prescription.pk)


def _step(name: str, path: str, summary: str, doc: str) -> None:
    step = getattr(services, name)

    def endpoint(request: HttpRequest, reference: str) -> dict[str, Any]:
        prescription = _prescription_for(request, reference)
        step(actor=_actor(request), prescription_id=prescription.pk)
        return _read(prescription.pk)

    endpoint.__name__ = f"{name}_prescription"
    endpoint.__doc__ = doc
    router.post(
        f"/workstation/prescriptions/{{reference}}/{path}",
        auth=SM2RequestAuth(),
        response={200: PrescriptionRead, **ERRORS},
        summary=summary,
        operation_id=f"erx_workstation_{name}",
    )(endpoint)


_step(
    "preverify",
    "preverify",
    "处方上传预核验",
    "uploadChk at the centre: answers hiRxno and rxTraceCode.",
)
_step(
    "submit_for_review",
    "submit-review",
    "提交院内审方",
    "Send a pre-verified prescription to the in-hospital pharmacist (or straight to "
    "reviewed where the institution does not use in-hospital review).",
)
_step("sign", "sign", "医保电子签名", "Render the prescription PDF and have the centre sign it.")
_step("upload", "upload", "上传处方", "Upload the signed prescription to the centre for review.")


@router.post(
    "/workstation/prescriptions/{reference}/refresh",
    auth=SM2RequestAuth(),
    response={200: PrescriptionRead, **ERRORS},
    summary="从处方中心刷新状态",
)
def refresh_prescription(request: HttpRequest, reference: str) -> dict[str, Any]:
    """Query the centre (detail, review and pickup results) and apply what changed."""
    prescription = _prescription_for(request, reference)
    services.refresh_from_centre(actor=_actor(request), prescription_id=prescription.pk)
    return _read(prescription.pk)


@router.post(
    "/workstation/prescriptions/{reference}/send",
    auth=SM2RequestAuth(),
    response={200: PrescriptionRead, **ERRORS},
    summary="签名并上传",
)
def send_prescription(request: HttpRequest, reference: str) -> dict[str, Any]:
    """Sign (if not yet signed) and upload, in one call."""
    prescription = _prescription_for(request, reference)
    actor = _actor(request)
    if prescription.status == PrescriptionStatus.REVIEWED:
        services.sign(actor=actor, prescription_id=prescription.pk)
    services.upload(actor=actor, prescription_id=prescription.pk)
    return _read(prescription.pk)


@router.post(
    "/workstation/prescriptions/{reference}/revoke",
    auth=SM2RequestAuth(),
    response={200: RevokeRead, **ERRORS},
    summary="撤销处方",
)
def revoke_prescription(request: HttpRequest, reference: str, body: RevokeIn) -> dict[str, Any]:
    """Revoke an uploaded prescription. ``outcome`` is ``revoked``,
    ``refused_dispensed`` (the drugs were collected; the prescription stays) or
    ``pending_at_pharmacy`` (a pharmacy is settling it; the centre decides when it
    finishes), with a Chinese ``message`` for the doctor."""
    prescription = _prescription_for(request, reference)
    outcome = services.revoke(
        actor=_actor(request), prescription_id=prescription.pk, reason=body.reason
    )
    return {
        "outcome": outcome.value,
        "message": services.OUTCOME_MESSAGES[outcome],
        "prescription": _read(prescription.pk),
    }


def _document(prescription: Prescription, kind: str) -> HttpResponse:
    from jingan.prescriptions.erx import pdf

    try:
        content = (
            pdf.render_prescription_pdf(prescription)
            if kind == "prescription"
            else pdf.render_purchase_slip_pdf(prescription)
        )
    except pdf.PrescriptionDocumentError as error:
        raise ErxError(ErrorCode.WRONG_STATE, str(error)) from None
    response = HttpResponse(content, content_type="application/pdf")
    filename = (
        f"{prescription.hosp_rxno}-{'prescription' if kind == 'prescription' else 'slip'}.pdf"
    )
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


PDF_RESPONSE = {
    "responses": {
        200: {
            "description": "PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/workstation/prescriptions/{reference}/pdf",
    auth=SM2RequestAuth(),
    response={**ERRORS},
    summary="处方笺 PDF",
    openapi_extra=PDF_RESPONSE,
)
def prescription_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    """The prescription as the centre signs it (A5 PDF)."""
    prescription = _prescription_for(request, reference)
    record_event(
        action="erx.prescription.pdf",
        object_type="erx.prescription",
        object_id=str(prescription.reference),
        institution_id=prescription.institution_id,
        detail={"via": _actor(request).via},
    )
    return _document(prescription, "prescription")


@router.get(
    "/workstation/prescriptions/{reference}/purchase-slip",
    auth=SM2RequestAuth(),
    response={**ERRORS},
    summary="购药提示单 PDF",
    openapi_extra=PDF_RESPONSE,
)
def purchase_slip(request: HttpRequest, reference: str) -> HttpResponse:
    """The purchase slip with the QR code a pharmacy scans (after pre-verification)."""
    prescription = _prescription_for(request, reference)
    return _document(prescription, "slip")


@router.get(
    "/workstation/drugs",
    auth=SM2RequestAuth(),
    response={200: CatalogueQueryResult, **ERRORS},
    summary="查询流通药品目录",
)
def drugs(request: HttpRequest, keyword: str = "", page: int = 1) -> CatalogueQueryResult:
    """The centre's circulation catalogue, queried live (generic or product name)."""
    institution_id = _institution_for(request.auth)  # type: ignore[attr-defined]
    return services.query_drug_catalogue(
        actor=_actor(request), institution_id=institution_id, keyword=keyword, page=page
    )


# -- centre notifications -----------------------------------------------------------------


@router.post(
    "/centre/notifications",
    auth=None,
    response={200: dict[str, Any], 400: dict[str, Any]},
    summary="接收处方中心通知",
)
def centre_notification(request: HttpRequest) -> HttpResponse:
    """The centre's review-result and pickup-result notifications (SM4/SM2 envelope with
    ``transType``). Answered with an envelope signed by the institution: ``code`` 0 when
    taken (also for a repeat), non-zero with the reason when refused (HTTP 400)."""
    status, answer = receive_notification(request.body)
    return JsonResponse(answer, status=status, json_dumps_params={"ensure_ascii": False})


ROUTERS = [("/erx", router)]
EXCEPTION_HANDLERS = [(ErxError, erx_error_response)]
