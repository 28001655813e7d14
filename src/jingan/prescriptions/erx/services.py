"""Every write of e-prescriptions: draft, pre-verify, review, sign, upload, revoke, sync.

Each public function is keyword-only and takes the acting ``ErxActor`` (a staff user, a
doctor workstation or the system). A call to the centre happens *outside* the business
transaction (a network wait must not hold row locks, and the journal must keep the call
even if our work fails); the answer is then applied in one transaction that re-reads the
prescription under lock, writes the timeline step and the audit row, and queues the
resident's notification. Centre-driven transitions never move a prescription backwards,
so a notification overtaking our own upload answer is harmless.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jingan.core.public import (
    DecryptionError,
    InvalidIdNumber,
    ResidentRecipient,
    WeChatPayload,
    check_id_number,
    decrypt_file_bytes,
    encrypt_file_bytes,
    normalize_id_number,
    notify,
    notify_permission_holders,
    record_event,
    verified_resident_ids_for_id_number,
)
from jingan.integrations.erx_centre.port import (
    CODE_ALREADY_DISPENSED,
    CODE_NOT_FOUND,
    CODE_TRACE_CODE,
    CODE_UNKNOWN_DRUG,
    Operation,
)
from jingan.prescriptions.erx import client
from jingan.prescriptions.erx.errors import ErrorCode, ErxError
from jingan.prescriptions.erx.models import (
    DELETABLE_STATUSES,
    EDITABLE_STATUSES,
    FINAL_STATUSES,
    REVOCABLE_STATUSES,
    CallOutcome,
    CentreCall,
    CentreConnection,
    CentreNotification,
    DrugCatalogueEntry,
    NotificationOutcome,
    Prescription,
    PrescriptionEvent,
    PrescriptionItem,
    PrescriptionStatus,
    RevokeOutcome,
)
from jingan.prescriptions.erx.schemas import (
    FREQUENCIES,
    ROUTES,
    CatalogueQueryResult,
    DrugRead,
    PrescriptionDraft,
    parse_draft,
)

__all__ = [
    "SYSTEM_ACTOR",
    "CatalogueQueryResult",
    "ConnectionTestResult",
    "ErxActor",
    "ErxError",
    "apply_centre_state",
    "delete_prescription",
    "expire_overdue",
    "outstanding_prescription_ids",
    "preverify",
    "query_drug_catalogue",
    "refresh_from_centre",
    "replay_call",
    "replay_notification",
    "review_by_pharmacist",
    "revoke",
    "save_draft",
    "sign",
    "staff_actor",
    "submit_for_review",
    "sync_drug_catalogue",
    "test_connection",
    "upload",
    "workstation_actor",
]

logger = logging.getLogger(__name__)

S = PrescriptionStatus
OBJECT_TYPE = "erx.prescription"
NOTIFICATION_CATEGORY = "erx"
CATALOGUE_PAGE_SIZE = 50
MAX_CATALOGUE_PAGES = 200
# What the centre's undo answers, beyond "revoked".
RX_STATUS_VALID, RX_STATUS_REVOKED, RX_STATUS_EXPIRED, RX_STATUS_REVOKE_PENDING = (
    "01",
    "02",
    "03",
    "04",
)
USED_NOT_YET, USED_DISPENSED, USED_SETTLING = "01", "02", "03"
REVIEW_PENDING, REVIEW_APPROVED, REVIEW_REJECTED = "01", "02", "03"
# Statuses from which the centre's view decides (uploaded, or being uploaded).
CENTRE_SIDE = frozenset(
    {S.SIGNED, S.UPLOADED, S.CENTRE_APPROVED, S.CENTRE_REJECTED, S.REVOKE_PENDING}
)
# Forward order of the centre's flow: a status is only replaced by a later one.
_RANK: dict[str, int] = {
    S.SIGNED: 0,
    S.UPLOADED: 1,
    S.CENTRE_APPROVED: 2,
    S.CENTRE_REJECTED: 2,
    S.REVOKE_PENDING: 3,
    S.REVOKED: 4,
    S.DISPENSED: 4,
    S.EXPIRED: 4,
}
OUTCOME_MESSAGES = {
    RevokeOutcome.REVOKED: "处方已撤销",
    RevokeOutcome.REFUSED_DISPENSED: "患者已取药，处方不能撤销",
    RevokeOutcome.PENDING_AT_PHARMACY: "药店正在结算该处方，撤销待药店确认",
}


# -- actors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErxActor:
    """Who acts: a staff user (console), a doctor workstation (signed API) or the system."""

    user: Any  # the staff ``accounts.User`` (not imported: layering), or None
    label: str
    via: str
    # Re-running a journaled step from the exception log: the replay permission stands in
    # for the step's own (a pharmacist may replay a doctor's failed upload).
    replaying: bool = False


def staff_actor(user: Any) -> ErxActor:
    """A console user; the label (display name and username) appears in timelines.

    Staff act in their professional role, named as on the prescription itself; the
    masking rules protect residents' data, not the names of the doctors serving them.
    """
    name = str(getattr(user, "display_name", "") or "")
    label = f"{name}（{user.username}）" if name else str(user.username)
    return ErxActor(user=user, label=label[:100], via="console")


def workstation_actor(api_client: Any) -> ErxActor:
    """A doctor workstation calling the signed API as ``api_client`` (core ApiClient)."""
    return ErxActor(
        user=None,
        label=f"医生工作站 {api_client.name}"[:100],
        via=f"workstation:{api_client.app_id}"[:64],
    )


SYSTEM_ACTOR = ErxActor(user=None, label="系统", via="system")


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str
    elapsed_ms: int


# -- helpers ------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _text(value: Decimal) -> str:
    """A decimal as the centre expects it in JSON: plain text, no exponent."""
    normalized = value.normalize()
    return format(normalized, "f") if normalized == normalized.to_integral() else str(normalized)


def _stamp(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


REPLAY_PERMISSION = "erx.replay_centrecall"


def _check_permission(actor: ErxActor, permission: str, institution_id: int) -> None:
    """Staff must hold ``permission`` for the institution; workstations are checked by the API."""
    if actor.user is None:
        return
    if actor.replaying:
        permission = REPLAY_PERMISSION
    allowed = (
        CentreConnection.objects.restrict(actor.user, permission)
        .filter(institution_id=institution_id)
        .exists()
    )
    if not allowed:
        raise ErxError(ErrorCode.NOT_FOUND, "机构不存在或不在您的数据范围内")


def _prescription_for(
    actor: ErxActor, prescription_id: int, permission: str, *, lock: bool = False
) -> Prescription:
    """The prescription, within a staff actor's scope for ``permission``; else NOT_FOUND."""
    if actor.replaying:
        permission = REPLAY_PERMISSION
    queryset = (
        Prescription.objects.restrict(actor.user, permission)
        if actor.user is not None
        else Prescription.objects.unscoped()
    )
    if lock:
        queryset = queryset.select_for_update()
    prescription = queryset.select_related("institution").filter(pk=prescription_id).first()
    if prescription is None:
        raise ErxError(ErrorCode.NOT_FOUND, "处方不存在或不在您的数据范围内")
    return prescription


def _locked(prescription_id: int) -> Prescription:
    return (
        Prescription.objects.unscoped()
        .select_for_update()
        .select_related("institution")
        .get(pk=prescription_id)
    )


def _require_status(prescription: Prescription, allowed: Sequence[str], doing: str) -> None:
    if prescription.status not in allowed:
        label = S(prescription.status).label
        raise ErxError(
            ErrorCode.WRONG_STATE,
            f"处方 {prescription.hosp_rxno} 当前状态为“{label}”，不能{doing}",
            "status",
        )


def _event(
    prescription: Prescription, kind: str, actor: ErxActor, note: str = ""
) -> PrescriptionEvent:
    return PrescriptionEvent.objects.create(
        prescription=prescription,
        occurred_at=timezone.now(),
        kind=kind,
        status=prescription.status,
        actor_label=actor.label,
        note=note[:2000],
    )


def _audit(
    action: str,
    prescription: Prescription,
    actor: ErxActor,
    *,
    outcome: str = "success",
    detail: Mapping[str, object] | None = None,
) -> None:
    record_event(
        action=action,
        actor=actor.user,
        object_type=OBJECT_TYPE,
        object_id=str(prescription.reference),
        institution_id=prescription.institution_id,
        outcome=outcome,
        detail={"hosp_rxno": prescription.hosp_rxno, "via": actor.via, **(detail or {})},
    )


def _record_failure(prescription_id: int, actor: ErxActor, kind: str, error: ErxError) -> None:
    """Keep why a centre step failed on the prescription (the console's exception log)."""
    with transaction.atomic():
        prescription = _locked(prescription_id)
        prescription.last_error = error.message[:2000]
        prescription.save(update_fields=["last_error", "updated_at"])
        _event(prescription, kind, actor, error.message)
        _audit(
            f"erx.prescription.{kind}",
            prescription,
            actor,
            outcome="failure",
            detail={"code": str(error.code), "centre_code": error.centre_code},
        )


def _resident_link(prescription: Prescription) -> str:
    return f"/h5/erx/prescriptions/{prescription.reference}/"


def _notify_resident(prescription: Prescription, title: str, body: str) -> None:
    """In-app and WeChat message to the resident whose ID number is on the prescription."""
    resident_ids = verified_resident_ids_for_id_number(prescription.patient_id_number)
    if not resident_ids:
        return
    notify(
        recipients=[ResidentRecipient(resident_id) for resident_id in resident_ids],
        title=title,
        body=body,
        category=NOTIFICATION_CATEGORY,
        link=_resident_link(prescription),
        dedup_key=f"erx:{prescription.reference}:{prescription.status}",
        wechat=WeChatPayload(
            kind="subscribe",
            template_id="erx_prescription_status",
            data={
                "thing1": prescription.institution.name[:20],
                "phrase2": S(prescription.status).label[:5],
                "character_string3": prescription.hosp_rxno[:32],
            },
            url=_resident_link(prescription),
        ),
    )


_RESIDENT_MESSAGES: dict[str, tuple[str, str]] = {
    S.CENTRE_APPROVED: (
        "电子处方审核通过",
        "您在{institution}开具的医保电子处方（{rxno}）已通过医保审核，请在{until}前凭购药提示单到药店取药。",
    ),
    S.CENTRE_REJECTED: (
        "电子处方审核未通过",
        "您在{institution}开具的医保电子处方（{rxno}）未通过医保审核：{opinion}。请联系开方医生。",
    ),
    S.DISPENSED: (
        "电子处方已取药",
        "您在{institution}开具的医保电子处方（{rxno}）已于{dispensed}在{pharmacy}取药。",
    ),
    S.REVOKED: (
        "电子处方已撤销",
        "您在{institution}开具的医保电子处方（{rxno}）已由医生撤销，不能再取药。",
    ),
}


def _notify_resident_of_status(prescription: Prescription) -> None:
    message = _RESIDENT_MESSAGES.get(prescription.status)
    if message is None:
        return
    title, template = message
    body = template.format(
        institution=prescription.institution.name,
        rxno=prescription.hi_rxno or prescription.hosp_rxno,
        until=_stamp(prescription.valid_until)[:16],
        opinion=prescription.review_opinion or "无审核意见",
        dispensed=_stamp(prescription.dispensed_at)[:16] or "近日",
        pharmacy=prescription.pharmacy_name or "药店",
    )
    _notify_resident(prescription, title, body)


# -- drafts -------------------------------------------------------------------------------


def _catalogue_entries(draft: PrescriptionDraft) -> dict[str, DrugCatalogueEntry]:
    codes = [item.med_list_codg for item in draft.items]
    entries = {
        entry.med_list_codg: entry
        for entry in DrugCatalogueEntry.objects.filter(med_list_codg__in=codes, is_listed=True)
    }
    for index, code in enumerate(codes):
        if code not in entries:
            raise ErxError(
                ErrorCode.UNKNOWN_DRUG,
                f"药品编码 {code} 不在医保电子处方流通药品目录中（第 {index + 1} 种药品），"
                "请从药品目录中选择或先同步目录",
                f"items.{index}.med_list_codg",
            )
    return entries


def _check_patient(draft: PrescriptionDraft) -> None:
    try:
        facts = check_id_number(draft.patient_id_number)
    except InvalidIdNumber as error:
        raise ErxError(
            ErrorCode.INVALID_INPUT, f"患者身份证号有误：{error}", "patient_id_number"
        ) from None
    expected = "1" if facts.sex == "M" else "2"
    if draft.patient_gender != expected:
        raise ErxError(ErrorCode.INVALID_INPUT, "患者性别与身份证号不符", "patient_gender")


def _fill(
    prescription: Prescription,
    draft: PrescriptionDraft,
    entries: Mapping[str, DrugCatalogueEntry],
) -> list[PrescriptionItem]:
    now = timezone.now()
    prescription.hosp_rxno = draft.hosp_rxno
    prescription.patient_name = draft.patient_name
    prescription.patient_id_number = normalize_id_number(draft.patient_id_number)
    prescription.patient_gender = draft.patient_gender
    prescription.patient_age = draft.patient_age
    prescription.psn_no = draft.psn_no
    prescription.insuplc_admdvs = draft.insuplc_admdvs
    prescription.mdtrt_id = draft.mdtrt_id
    prescription.department_code = draft.department_code
    prescription.department_name = draft.department_name
    prescription.doctor_code = draft.doctor_code
    prescription.doctor_name = draft.doctor_name
    prescription.doctor_title = draft.doctor_title
    prescription.diagnoses = json.dumps(
        [d.model_dump() for d in draft.diagnoses], ensure_ascii=False
    )
    prescription.rx_type_code = draft.rx_type_code
    # Writing (or rewriting) a draft is prescribing: validity runs from now.
    prescription.prescribed_at = now
    prescription.valid_days = draft.valid_days
    prescription.valid_until = now + datetime.timedelta(days=draft.valid_days)
    items: list[PrescriptionItem] = []
    for line_no, item in enumerate(draft.items, start=1):
        entry = entries[item.med_list_codg]
        items.append(
            PrescriptionItem(
                line_no=line_no,
                med_list_codg=entry.med_list_codg,
                generic_name=entry.generic_name,
                dosage_form=entry.dosage_form,
                specification=entry.specification,
                quantity=item.quantity,
                unit=entry.unit,
                price=entry.price,
                amount=_money(item.quantity * entry.price),
                single_dose=item.single_dose,
                route_code=item.route_code,
                route_name=ROUTES[item.route_code],
                frequency_code=item.frequency_code,
                frequency_name=FREQUENCIES[item.frequency_code],
                days=item.days,
            )
        )
    prescription.total_amount = _money(sum((i.amount for i in items), Decimal("0")))
    return items


def save_draft(
    *,
    actor: ErxActor,
    institution_id: int,
    draft: PrescriptionDraft | Mapping[str, Any],
    prescription_id: int | None = None,
) -> Prescription:
    """Create a draft, or rewrite an editable one (back to draft: pre-verify again)."""
    draft = parse_draft(dict(draft) if isinstance(draft, Mapping) else draft)
    client.connection_for(institution_id)
    _check_patient(draft)
    entries = _catalogue_entries(draft)
    creating = prescription_id is None
    _check_permission(
        actor, "erx.add_prescription" if creating else "erx.change_prescription", institution_id
    )
    try:
        with transaction.atomic():
            if creating:
                prescription = Prescription(
                    institution_id=institution_id,
                    created_by=actor.user,
                    created_via=actor.via,
                )
            else:
                assert prescription_id is not None
                prescription = _prescription_for(
                    actor, prescription_id, "erx.change_prescription", lock=True
                )
                if prescription.institution_id != institution_id:
                    raise ErxError(ErrorCode.NOT_FOUND, "处方不存在或不在您的数据范围内")
                _require_status(prescription, tuple(EDITABLE_STATUSES), "修改")
                # The earlier pre-verification belonged to the old content.
                prescription.status = S.DRAFT
                prescription.hi_rxno = ""
                prescription.rx_trace_code = ""
                prescription.pharmacist = None
                prescription.pharmacist_reviewed_at = None
                prescription.pharmacist_opinion = ""
                prescription.last_error = ""
            items = _fill(prescription, draft, entries)
            prescription.save()
            prescription.items.all().delete()
            for item in items:
                item.prescription = prescription
            PrescriptionItem.objects.bulk_create(items)
            _event(prescription, "created" if creating else "updated", actor)
            _audit(
                "erx.prescription.create" if creating else "erx.prescription.update",
                prescription,
                actor,
                detail={"items": len(items), "total_amount": str(prescription.total_amount)},
            )
    except IntegrityError:
        raise ErxError(
            ErrorCode.DUPLICATE_RXNO,
            f"院内处方号 {draft.hosp_rxno} 已存在，请使用新的处方号",
            "hosp_rxno",
        ) from None
    return prescription


def delete_prescription(*, actor: ErxActor, prescription_id: int) -> None:
    """Delete a prescription not yet uploaded; after upload it must be revoked instead."""
    with transaction.atomic():
        prescription = _prescription_for(
            actor, prescription_id, "erx.delete_prescription", lock=True
        )
        if prescription.status not in DELETABLE_STATUSES:
            label = S(prescription.status).label
            hint = "，请改为撤销" if prescription.status in REVOCABLE_STATUSES else ""
            raise ErxError(
                ErrorCode.WRONG_STATE,
                f"处方 {prescription.hosp_rxno} 当前状态为“{label}”，不能删除{hint}",
                "status",
            )
        _audit(
            "erx.prescription.delete", prescription, actor, detail={"status": prescription.status}
        )
        prescription.delete()


# -- centre request bodies ----------------------------------------------------------------


def _diagnoses(prescription: Prescription) -> list[dict[str, Any]]:
    rows = json.loads(prescription.diagnoses or "[]")
    return sorted(
        (
            {
                "code": str(r.get("code", "")),
                "name": str(r.get("name", "")),
                "main": bool(r.get("main")),
            }
            for r in rows
        ),
        key=lambda row: not row["main"],
    )


_DOSE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(\S.*)?$")


def _dose(single_dose: str) -> tuple[str, str]:
    match = _DOSE.match(single_dose)
    if not match:
        return single_dose, ""
    return match.group(1), (match.group(2) or "").strip()


def upload_check_body(prescription: Prescription, connection: CentreConnection) -> dict[str, Any]:
    """uploadChk input (reference §2.3): header, rxdrugdetail, mdtrtinfo, diseinfo."""
    items = list(prescription.items.all())
    diagnoses = _diagnoses(prescription)
    main = diagnoses[0] if diagnoses else {"code": "", "name": ""}
    prescribed = _stamp(prescription.prescribed_at)
    first = items[0] if items else None
    details = []
    for item in items:
        dose_count, dose_unit = _dose(item.single_dose)
        ends = prescription.prescribed_at + datetime.timedelta(days=item.days)
        details.append(
            {
                "medListCodg": item.med_list_codg,
                "fixmedinsHilistId": item.med_list_codg,
                "hospPrepFlag": "0",
                "rxItemTypeCode": "11" if prescription.rx_type_code == "1" else "12",
                "rxItemTypeName": "西药" if prescription.rx_type_code == "1" else "中成药",
                "drugGenname": item.generic_name,
                "drugDosform": item.dosage_form,
                "drugSpec": item.specification,
                "medcWayCodg": item.route_code,
                "medcWayDscr": item.route_name,
                "medcBegntime": prescribed,
                "medcEndtime": _stamp(ends),
                "medcDays": item.days,
                "drugPric": _text(item.price),
                "drugSumamt": _text(item.amount),
                "drugCnt": _text(item.quantity),
                "drugDosunt": item.unit,
                "sinDoscnt": dose_count,
                "sinDosunt": dose_unit,
                "usedFrquCodg": item.frequency_code,
                "usedFrquName": item.frequency_name,
                "drugTotlcnt": _text(item.quantity),
                "drugTotlcntEmp": item.unit,
                "hospApprFlag": "0",
            }
        )
    return {
        "mdtrtCertType": prescription.mdtrt_cert_type,
        "mdtrtCertNo": prescription.patient_id_number,
        "bizTypeCode": "01",
        "insuPlcNo": prescription.insuplc_admdvs,
        "hospRxno": prescription.hosp_rxno,
        "rxTypeCode": prescription.rx_type_code,
        "prscTime": prescribed,
        "rxDrugCnt": len(items),
        "rxUsedWayCodg": first.route_code if first else "",
        "rxUsedWayName": first.route_name if first else "",
        "rxFrquCodg": first.frequency_code if first else "",
        "rxFrquName": first.frequency_name if first else "",
        "valiDays": prescription.valid_days,
        "valiEndTime": _stamp(prescription.valid_until),
        "reptFlag": "0",
        "rxCotnFlag": "0",
        "longRxFlag": "0",
        "rxdrugdetail": details,
        "mdtrtinfo": {
            "fixmedinsName": connection.fixmedins_name,
            "fixmedinsCode": connection.fixmedins_code,
            "mdtrtId": prescription.mdtrt_id,
            "medType": "11",
            "iptOtpNo": prescription.mdtrt_id,
            "otpIptFlag": "1",
            "psnNo": prescription.psn_no,
            "patnName": prescription.patient_name,
            "psnCertType": "01",
            "certno": prescription.patient_id_number,
            "patnAge": prescription.patient_age,
            "gend": prescription.patient_gender,
            "prscDeptName": prescription.department_name,
            "prscDeptCode": prescription.department_code,
            "drCode": prescription.doctor_code,
            "prscDrName": prescription.doctor_name,
            "drProfttlName": prescription.doctor_title,
            "drDeptCode": prescription.department_code,
            "drDeptName": prescription.department_name,
            "mdtrtTime": prescribed,
            "diseCodg": main["code"],
            "diseName": main["name"],
            "maindiagCode": main["code"],
            "maindiagName": main["name"],
            "spDiseFlag": "0",
            "fstdiagFlag": "0",
        },
        "diseinfo": [
            {
                "diagType": "1",
                "maindiagFlag": "1" if row["main"] else "0",
                "diagSrtNo": str(index),
                "diagCode": row["code"],
                "diagName": row["name"],
                "diagDept": prescription.department_name,
                "diagDrNo": prescription.doctor_code,
                "diagDrName": prescription.doctor_name,
                "diagTime": prescribed,
            }
            for index, row in enumerate(diagnoses, start=1)
        ],
    }


def upload_fields(prescription: Prescription, connection: CentreConnection) -> dict[str, Any]:
    """The 20 upload fields: signed as ``originalValue``, then sent with rxFileUpld."""
    pharmacist = prescription.pharmacist
    pharmacist_name = (
        str(getattr(pharmacist, "display_name", "") or pharmacist.username) if pharmacist else ""
    )
    return {
        "rxTraceCode": prescription.rx_trace_code,
        "hiRxno": prescription.hi_rxno,
        "mdtrtId": prescription.mdtrt_id,
        "patnName": prescription.patient_name,
        "psnCertType": "01",
        "certno": prescription.patient_id_number,
        "fixmedinsName": connection.fixmedins_name,
        "fixmedinsCode": connection.fixmedins_code,
        "drCode": prescription.doctor_code,
        "prscDrName": prescription.doctor_name,
        "pharDeptName": "药剂科" if pharmacist else "",
        "pharDeptCode": "YJK" if pharmacist else "",
        "pharProfttlCodg": "",
        "pharProfttlName": "",
        "pharCode": str(pharmacist.username) if pharmacist else "",
        "pharCertType": "01" if pharmacist else "",
        "pharCertno": "",
        "pharName": pharmacist_name,
        "pharPracCertNo": "",
        "pharChkTime": _stamp(prescription.pharmacist_reviewed_at),
    }


def original_value(fields: Mapping[str, Any]) -> str:
    """``originalValue``: Base64 of the key-sorted compact JSON of the upload fields."""
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _query_keys(prescription: Prescription, connection: CentreConnection) -> dict[str, Any]:
    return {
        "fixmedinsCode": connection.fixmedins_code,
        "hiRxno": prescription.hi_rxno,
        "mdtrtId": prescription.mdtrt_id,
        "psnName": prescription.patient_name,
        "psnCertType": "01",
        "certno": prescription.patient_id_number,
    }


def _file_context(prescription: Prescription, kind: str) -> str:
    return f"erx:{prescription.reference}:{kind}"


# -- workflow -----------------------------------------------------------------------------


def preverify(*, actor: ErxActor, prescription_id: int) -> Prescription:
    """RX-1: uploadChk; the centre answers the trace code and its prescription number."""
    prescription = _prescription_for(actor, prescription_id, "erx.prescribe_prescription")
    _require_status(prescription, (S.DRAFT, S.VERIFIED, S.REVIEW_REJECTED), "预核验")
    connection = client.connection_for(prescription.institution_id)
    try:
        answer = client.call_centre(
            connection=connection,
            operation=Operation.UPLOAD_CHECK,
            data=upload_check_body(prescription, connection),
            actor=actor,
            prescription=prescription,
        )
    except ErxError as error:
        _record_failure(prescription.pk, actor, "preverify_failed", error)
        raise
    hi_rxno = str(answer.data.get("hiRxno") or "")
    trace_code = str(answer.data.get("rxTraceCode") or "")
    if not hi_rxno or not trace_code:
        missing = ErxError(ErrorCode.CENTRE_REFUSED, "处方中心预核验应答缺少 hiRxno 或 rxTraceCode")
        _record_failure(prescription.pk, actor, "preverify_failed", missing)
        raise missing
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        _require_status(prescription, (S.DRAFT, S.VERIFIED, S.REVIEW_REJECTED), "预核验")
        prescription.hi_rxno = hi_rxno
        prescription.rx_trace_code = trace_code
        prescription.status = S.VERIFIED
        prescription.last_error = ""
        prescription.save()
        _event(prescription, "preverified", actor, f"医保处方编号 {hi_rxno}")
        _audit("erx.prescription.preverify", prescription, actor, detail={"hi_rxno": hi_rxno})
    return prescription


def submit_for_review(*, actor: ErxActor, prescription_id: int) -> Prescription:
    """Send a pre-verified prescription to the in-hospital pharmacist (or past, if not used)."""
    with transaction.atomic():
        prescription = _prescription_for(
            actor, prescription_id, "erx.prescribe_prescription", lock=True
        )
        _require_status(prescription, (S.VERIFIED,), "提交院内审方")
        connection = client.connection_for(prescription.institution_id)
        if connection.requires_pharmacist_review:
            prescription.status = S.PENDING_REVIEW
            prescription.save()
            _event(prescription, "submitted_for_review", actor)
            notify_permission_holders(
                permission="erx.review_prescription",
                title="有新的电子处方待审核",
                body=f"{prescription.department_name}{prescription.doctor_name}医师开具的处方 "
                f"{prescription.hosp_rxno} 待院内审方。",
                category=NOTIFICATION_CATEGORY,
                link=f"/console/erx/prescriptions/{prescription.reference}/",
                dedup_key=f"erx-review:{prescription.reference}:{prescription.updated_at:%s}",
                institution_id=prescription.institution_id,
            )
        else:
            prescription.status = S.REVIEWED
            prescription.save()
            _event(prescription, "review_not_required", actor, "本机构未启用院内审方")
        _audit(
            "erx.prescription.submit_review",
            prescription,
            actor,
            detail={"to": prescription.status},
        )
    return prescription


def review_by_pharmacist(
    *, actor: ErxActor, prescription_id: int, approve: bool, opinion: str
) -> Prescription:
    """The in-hospital pharmacist approves or rejects (with an opinion) a prescription."""
    opinion = (opinion or "").strip()
    if actor.user is None:
        raise ErxError(ErrorCode.WRONG_STATE, "院内审方须由药师在管理端完成")
    if not approve and not opinion:
        raise ErxError(ErrorCode.INVALID_INPUT, "审核不通过时请填写审方意见", "opinion")
    if len(opinion) > 500:
        raise ErxError(ErrorCode.INVALID_INPUT, "审方意见不能超过 500 字", "opinion")
    with transaction.atomic():
        prescription = _prescription_for(
            actor, prescription_id, "erx.review_prescription", lock=True
        )
        _require_status(prescription, (S.PENDING_REVIEW,), "审方")
        if prescription.created_by_id is not None and prescription.created_by_id == actor.user.pk:
            raise ErxError(ErrorCode.WRONG_STATE, "不能审核自己开具的处方")
        prescription.status = S.REVIEWED if approve else S.REVIEW_REJECTED
        prescription.pharmacist = actor.user
        prescription.pharmacist_reviewed_at = timezone.now()
        prescription.pharmacist_opinion = opinion
        prescription.save()
        _event(
            prescription,
            "pharmacist_approved" if approve else "pharmacist_rejected",
            actor,
            opinion,
        )
        _audit(
            "erx.prescription.pharmacist_review",
            prescription,
            actor,
            detail={"approve": approve},
        )
    return prescription


def _render_pdf(prescription: Prescription) -> bytes:
    # Imported here: the PDF module pulls WeasyPrint, which most code paths never need.
    from jingan.prescriptions.erx import pdf

    try:
        return pdf.render_prescription_pdf(prescription)
    except Exception as error:  # a rendering failure must be a clear error, not a 500
        logger.exception("erx prescription PDF failed for %s", prescription.pk)
        raise ErxError(ErrorCode.DOCUMENT_FAILED, f"处方笺生成失败：{error}") from error


def sign(*, actor: ErxActor, prescription_id: int) -> Prescription:
    """RX-2: render the prescription PDF and have the centre sign it (rxFixmedinsSign)."""
    prescription = _prescription_for(actor, prescription_id, "erx.prescribe_prescription")
    _require_status(prescription, (S.REVIEWED,), "医保签名")
    connection = client.connection_for(prescription.institution_id)
    try:
        pdf_bytes = _render_pdf(prescription)
        answer = client.call_centre(
            connection=connection,
            operation=Operation.SIGN,
            data={
                "fixmedinsCode": connection.fixmedins_code,
                "originalValue": original_value(upload_fields(prescription, connection)),
                "originalRxFile": base64.b64encode(pdf_bytes).decode("ascii"),
            },
            actor=actor,
            prescription=prescription,
        )
        rx_file = str(answer.data.get("rxFile") or "")
        sign_digest = str(answer.data.get("signDigest") or "")
        if not rx_file or not sign_digest:
            raise ErxError(ErrorCode.CENTRE_REFUSED, "处方中心签名应答缺少 rxFile 或 signDigest")
        try:
            signed_bytes = base64.b64decode(rx_file, validate=True)
        except ValueError:
            raise ErxError(
                ErrorCode.CENTRE_REFUSED, "处方中心返回的签名文件不是有效的 Base64"
            ) from None
    except ErxError as error:
        _record_failure(prescription.pk, actor, "sign_failed", error)
        raise
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        _require_status(prescription, (S.REVIEWED,), "医保签名")
        prescription.original_file = encrypt_file_bytes(
            pdf_bytes, context=_file_context(prescription, "original")
        )
        prescription.signed_file = encrypt_file_bytes(
            signed_bytes, context=_file_context(prescription, "signed")
        )
        prescription.sign_digest = sign_digest
        prescription.sign_cert_sn = str(answer.data.get("signCertSn") or "")[:100]
        prescription.sign_cert_dn = str(answer.data.get("signCertDn") or "")[:300]
        prescription.status = S.SIGNED
        prescription.last_error = ""
        prescription.save()
        _event(prescription, "signed", actor, f"签名证书 {prescription.sign_cert_sn}")
        _audit("erx.prescription.sign", prescription, actor, detail={"pdf_bytes": len(pdf_bytes)})
    return prescription


def signed_file_bytes(prescription: Prescription) -> bytes:
    """The centre-signed prescription file (decrypted); b'' before signing."""
    if not prescription.signed_file:
        return b""
    return decrypt_file_bytes(
        bytes(prescription.signed_file), context=_file_context(prescription, "signed")
    )


def original_file_bytes(prescription: Prescription) -> bytes:
    if not prescription.original_file:
        return b""
    return decrypt_file_bytes(
        bytes(prescription.original_file), context=_file_context(prescription, "original")
    )


def upload(*, actor: ErxActor, prescription_id: int) -> Prescription:
    """RX-3: rxFileUpld with the signed file; a lost answer is reconciled by a query."""
    prescription = _prescription_for(actor, prescription_id, "erx.prescribe_prescription")
    _require_status(prescription, (S.SIGNED,), "上传")
    connection = client.connection_for(prescription.institution_id)
    try:
        signed = signed_file_bytes(prescription)
    except DecryptionError:
        raise ErxError(ErrorCode.DOCUMENT_FAILED, "签名处方文件无法解密，请重新签名") from None
    data = {
        **upload_fields(prescription, connection),
        "rxFile": base64.b64encode(signed).decode("ascii"),
        "signDigest": prescription.sign_digest,
    }
    try:
        answer = client.call_centre(
            connection=connection,
            operation=Operation.UPLOAD,
            data=data,
            actor=actor,
            prescription=prescription,
        )
    except ErxError as error:
        if error.code == ErrorCode.CENTRE_UNCERTAIN:
            return _reconcile_upload(actor, prescription, connection, error)
        if error.centre_code == CODE_TRACE_CODE and _had_uncertain_upload(prescription):
            # The trace code was spent by the earlier upload whose answer was lost.
            return _mark_uploaded(
                actor, prescription, "上传应答曾丢失，处方中心提示追溯码已使用，确认已上传"
            )
        _record_failure(prescription.pk, actor, "upload_failed", error)
        raise
    rx_status = str(answer.data.get("rxStasCodg") or RX_STATUS_VALID)
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        prescription.uploaded_at = prescription.uploaded_at or timezone.now()
        prescription.last_error = ""
        if prescription.status == S.SIGNED:
            prescription.status = S.UPLOADED
            prescription.rx_status_code = rx_status
            prescription.rx_used_status_code = prescription.rx_used_status_code or USED_NOT_YET
            prescription.review_status_code = prescription.review_status_code or REVIEW_PENDING
        prescription.save()
        _event(prescription, "uploaded", actor)
        _audit(
            "erx.prescription.upload", prescription, actor, detail={"hi_rxno": prescription.hi_rxno}
        )
    return prescription


def _had_uncertain_upload(prescription: Prescription) -> bool:
    return (
        CentreCall.objects.unscoped()
        .filter(prescription=prescription, operation=Operation.UPLOAD.value, may_have_reached=True)
        .exists()
    )


def _mark_uploaded(actor: ErxActor, prescription: Prescription, note: str) -> Prescription:
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        if prescription.status == S.SIGNED:
            prescription.status = S.UPLOADED
            prescription.rx_status_code = prescription.rx_status_code or RX_STATUS_VALID
        prescription.uploaded_at = prescription.uploaded_at or timezone.now()
        prescription.last_error = ""
        prescription.save()
        _event(prescription, "upload_reconciled", actor, note)
        _audit("erx.prescription.upload", prescription, actor, detail={"reconciled": True})
    return prescription


def _reconcile_upload(
    actor: ErxActor, prescription: Prescription, connection: CentreConnection, lost: ErxError
) -> Prescription:
    """The upload may have reached the centre: ask it (hospRxDetlQuery) instead of resending."""
    try:
        detail = _detail(prescription, connection, actor)
    except ErxError as error:
        note = f"{lost.message}；核对处方状态失败：{error.message}"
        _record_failure(prescription.pk, actor, "upload_uncertain", ErxError(lost.code, note))
        raise ErxError(
            ErrorCode.CENTRE_UNCERTAIN, f"{note}。系统将稍后自动核对，请勿重复上传"
        ) from error
    uploaded = _shows_upload(detail)
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        if uploaded:
            if prescription.status == S.SIGNED:
                prescription.status = S.UPLOADED
            prescription.uploaded_at = prescription.uploaded_at or timezone.now()
            prescription.last_error = ""
            prescription.save()
            _event(
                prescription, "upload_reconciled", actor, "上传应答丢失，经查询确认处方中心已收到"
            )
            _audit("erx.prescription.upload", prescription, actor, detail={"reconciled": True})
        else:
            prescription.last_error = (
                "上传应答丢失，经查询未能确认处方中心已收到，可重新上传"
                "（若中心已收到，会提示追溯码已使用，系统据此确认上传）"
            )
            prescription.save()
            _event(prescription, "upload_not_received", actor, prescription.last_error)
            _audit(
                "erx.prescription.upload",
                prescription,
                actor,
                outcome="failure",
                detail={"reconciled": True},
            )
    if uploaded:
        return apply_centre_state(prescription.pk, detail, actor=actor)
    raise ErxError(ErrorCode.CENTRE_UNAVAILABLE, prescription.last_error)


def _shows_upload(detail: Mapping[str, Any]) -> bool:
    """Whether a detail answer proves the centre holds the uploaded prescription.

    Pre-verified and uploaded prescriptions look alike in the detail, so only evidence
    that exists after an upload counts: a review, a pickup, a revoke, or the pharmacist
    check time the upload carried.
    """
    if not detail:
        return False
    otpinfo = detail.get("rxOtpinfo")
    checked = isinstance(otpinfo, Mapping) and bool(otpinfo.get("pharChkTime"))
    return (
        str(detail.get("rxStasCodg") or RX_STATUS_VALID) != RX_STATUS_VALID
        or str(detail.get("rxUsedStasCodg") or USED_NOT_YET) != USED_NOT_YET
        or str(detail.get("rxChkStasCodg") or REVIEW_PENDING) != REVIEW_PENDING
        or checked
    )


def _detail(
    prescription: Prescription, connection: CentreConnection, actor: ErxActor
) -> dict[str, Any]:
    """hospRxDetlQuery; {} when the centre has no uploaded prescription of that number."""
    try:
        answer = client.call_centre(
            connection=connection,
            operation=Operation.DETAIL,
            data=_query_keys(prescription, connection),
            actor=actor,
            prescription=prescription,
        )
    except ErxError as error:
        if error.centre_code == CODE_NOT_FOUND:
            return {}
        raise
    return dict(answer.data)


# -- applying the centre's view -----------------------------------------------------------


def _target_status(current: str, state: Mapping[str, Any]) -> str:
    rx_status = str(state.get("rxStasCodg") or "")
    used = str(state.get("rxUsedStasCodg") or "")
    review = str(state.get("rxChkStasCodg") or "")
    if used == USED_DISPENSED:
        return S.DISPENSED
    if rx_status == RX_STATUS_REVOKED:
        return S.REVOKED
    if rx_status == RX_STATUS_EXPIRED:
        return S.EXPIRED
    if rx_status == RX_STATUS_REVOKE_PENDING:
        return S.REVOKE_PENDING
    if review == REVIEW_APPROVED:
        return S.CENTRE_APPROVED
    if review == REVIEW_REJECTED:
        return S.CENTRE_REJECTED
    return current


def _parse_time(value: Any) -> datetime.datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            parsed = datetime.datetime.strptime(text[:19], pattern)  # noqa: DTZ007 - local time
            return parsed.replace(tzinfo=timezone.get_current_timezone())
        except ValueError:
            continue
    return None


def apply_centre_state(
    prescription_id: int, state: Mapping[str, Any], *, actor: ErxActor, source: str = "query"
) -> Prescription:
    """Apply what the centre says (a query answer or a notification); forward moves only.

    ``state`` may hold rxStasCodg, rxUsedStasCodg, rxChkStasCodg/rxChkOpnn/rxChkTime/
    pharName, setlTime and seltdelts. Returns the prescription (re-read).
    """
    with transaction.atomic():
        prescription = _locked(prescription_id)
        before = prescription.status
        changed_codes = False
        for field, key in (
            ("rx_status_code", "rxStasCodg"),
            ("rx_used_status_code", "rxUsedStasCodg"),
            ("review_status_code", "rxChkStasCodg"),
        ):
            value = str(state.get(key) or "")
            if value and getattr(prescription, field) != value:
                setattr(prescription, field, value[:4])
                changed_codes = True
        if state.get("rxChkOpnn") is not None and str(state.get("rxChkOpnn")):
            prescription.review_opinion = str(state["rxChkOpnn"])
        if state.get("rxChkTime"):
            prescription.reviewed_by_centre_at = _parse_time(state["rxChkTime"]) or timezone.now()
        if state.get("pharName") and str(state.get("rxChkStasCodg") or "") in (
            REVIEW_APPROVED,
            REVIEW_REJECTED,
        ):
            prescription.centre_pharmacist_name = str(state["pharName"])[:50]
        if str(state.get("rxUsedStasCodg") or "") == USED_DISPENSED:
            prescription.dispensed_at = (
                prescription.dispensed_at or _parse_time(state.get("setlTime")) or timezone.now()
            )
            details = state.get("seltdelts")
            if isinstance(details, list) and details:
                prescription.dispense_details = json.dumps(details, ensure_ascii=False)
            # The settling pharmacy: named by the centre's extension field, or by a
            # fixmedinsName that is not our own institution's.
            pharmacy = str(state.get("pharmacyName") or "")
            if not pharmacy and state.get("fixmedinsCode") != _own_code(prescription):
                pharmacy = str(state.get("fixmedinsName") or "")
            if pharmacy:
                prescription.pharmacy_name = pharmacy[:200]
        target = _target_status(before, state)
        moves = (
            before in CENTRE_SIDE
            and target != before
            and _RANK.get(target, -1) > _RANK.get(before, -1)
        )
        if moves:
            prescription.status = target
            if target == S.REVOKED:
                prescription.revoke_outcome = RevokeOutcome.REVOKED
                prescription.revoked_at = prescription.revoked_at or timezone.now()
            elif target == S.DISPENSED and before == S.REVOKE_PENDING:
                prescription.revoke_outcome = RevokeOutcome.REFUSED_DISPENSED
        elif before == S.REVOKE_PENDING and target in (
            S.CENTRE_APPROVED,
            S.UPLOADED,
            S.CENTRE_REJECTED,
        ):
            # The pharmacy released the prescription without settling: the revoke did not
            # complete and the prescription is valid again (the doctor may revoke again).
            prescription.status = target
            prescription.revoke_outcome = ""
            moves = True
        if moves or changed_codes:
            prescription.save()
        if moves:
            _event(prescription, f"centre_{source}", actor, _state_note(prescription))
            _audit(
                "erx.prescription.centre_update",
                prescription,
                actor,
                detail={"from": before, "to": prescription.status, "source": source},
            )
            _notify_resident_of_status(prescription)
    return prescription


def _own_code(prescription: Prescription) -> str:
    connection = (
        CentreConnection.objects.unscoped()
        .filter(institution_id=prescription.institution_id)
        .only("fixmedins_code")
        .first()
    )
    return connection.fixmedins_code if connection else ""


def _state_note(prescription: Prescription) -> str:
    profile = client.profile()
    parts = [
        f"处方状态：{profile.rx_status.get(prescription.rx_status_code, prescription.rx_status_code or '-')}",
        f"审核：{profile.rx_review_status.get(prescription.review_status_code, prescription.review_status_code or '-')}",
        f"取药：{profile.rx_used_status.get(prescription.rx_used_status_code, prescription.rx_used_status_code or '-')}",
    ]
    if prescription.review_opinion:
        parts.append(f"审核意见：{prescription.review_opinion}")
    return "；".join(parts)


def refresh_from_centre(*, actor: ErxActor, prescription_id: int) -> Prescription:
    """RX-5/6/7: query detail, review result and (once collected) pickup result; apply."""
    prescription = _prescription_for(actor, prescription_id, "erx.view_prescription")
    if not prescription.hi_rxno or prescription.status not in CENTRE_SIDE | FINAL_STATUSES:
        raise ErxError(
            ErrorCode.WRONG_STATE,
            f"处方 {prescription.hosp_rxno} 尚未上传到处方中心，无需查询",
            "status",
        )
    if (
        prescription.status == S.SIGNED
        and prescription.uploaded_at is None
        and not prescription.last_error
    ):
        raise ErxError(ErrorCode.WRONG_STATE, f"处方 {prescription.hosp_rxno} 尚未上传", "status")
    connection = client.connection_for(prescription.institution_id, require_enabled=False)
    keys = _query_keys(prescription, connection)
    state: dict[str, Any] = _detail(prescription, connection, actor)
    if not state:
        return prescription
    review = client.call_centre(
        connection=connection,
        operation=Operation.REVIEW_RESULT,
        data=keys,
        actor=actor,
        prescription=prescription,
    )
    state.update({k: v for k, v in review.data.items() if v not in (None, "")})
    if str(state.get("rxUsedStasCodg") or "") in (USED_DISPENSED, USED_SETTLING):
        pickup = client.call_centre(
            connection=connection,
            operation=Operation.PICKUP_RESULT,
            data=keys,
            actor=actor,
            prescription=prescription,
        )
        state.update({k: v for k, v in pickup.data.items() if v not in (None, "")})
    return apply_centre_state(prescription.pk, state, actor=actor, source="query")


def revoke(*, actor: ErxActor, prescription_id: int, reason: str) -> RevokeOutcome:
    """RX-4: rxUndo. Revoked, refused because dispensed, or pending at the pharmacy."""
    reason = (reason or "").strip()
    if not reason:
        raise ErxError(ErrorCode.INVALID_INPUT, "请填写撤销原因", "reason")
    if len(reason) > 200:
        raise ErxError(ErrorCode.INVALID_INPUT, "撤销原因不能超过 200 字", "reason")
    prescription = _prescription_for(actor, prescription_id, "erx.prescribe_prescription")
    if prescription.status in DELETABLE_STATUSES:
        raise ErxError(
            ErrorCode.WRONG_STATE,
            f"处方 {prescription.hosp_rxno} 尚未上传，不需要撤销，可直接删除",
            "status",
        )
    _require_status(prescription, tuple(REVOCABLE_STATUSES), "撤销")
    connection = client.connection_for(prescription.institution_id)
    now = timezone.now()
    undo_name = (
        str(getattr(actor.user, "display_name", "") or prescription.doctor_name)
        if actor.user is not None
        else prescription.doctor_name
    )
    data = {
        "hiRxno": prescription.hi_rxno,
        "fixmedinsCode": connection.fixmedins_code,
        "drCode": prescription.doctor_code,
        "undoDrName": undo_name,
        "undoDrCertType": "01",
        "undoRea": reason,
        "undoTime": _stamp(now),
    }
    try:
        answer = client.call_centre(
            connection=connection,
            operation=Operation.UNDO,
            data=data,
            actor=actor,
            prescription=prescription,
        )
        state: dict[str, Any] = dict(answer.data)
    except ErxError as error:
        if error.centre_code == CODE_ALREADY_DISPENSED:
            return _revoke_refused(actor, prescription, connection, reason, error)
        if error.code == ErrorCode.CENTRE_UNCERTAIN:
            # The undo may have happened: ask the centre, never resend it blindly.
            try:
                state = _detail(prescription, connection, actor)
            except ErxError:
                _record_failure(prescription.pk, actor, "revoke_uncertain", error)
                raise error from None
            if str(state.get("rxStasCodg") or "") not in (
                RX_STATUS_REVOKED,
                RX_STATUS_REVOKE_PENDING,
            ):
                _record_failure(prescription.pk, actor, "revoke_failed", error)
                raise ErxError(
                    ErrorCode.CENTRE_UNAVAILABLE,
                    "撤销应答丢失，经查询处方中心未撤销该处方，可重新撤销",
                ) from error
        else:
            _record_failure(prescription.pk, actor, "revoke_failed", error)
            raise
    rx_status = str(state.get("rxStasCodg") or "")
    outcome = (
        RevokeOutcome.PENDING_AT_PHARMACY
        if rx_status == RX_STATUS_REVOKE_PENDING
        else RevokeOutcome.REVOKED
    )
    with transaction.atomic():
        prescription = _locked(prescription.pk)
        prescription.revoke_reason = reason
        prescription.revoke_outcome = outcome
        prescription.rx_status_code = rx_status or RX_STATUS_REVOKED
        prescription.last_error = ""
        if outcome == RevokeOutcome.REVOKED:
            prescription.status = S.REVOKED
            prescription.revoked_at = now
        elif prescription.status not in FINAL_STATUSES:
            prescription.status = S.REVOKE_PENDING
        prescription.save()
        _event(
            prescription, f"revoke_{outcome}", actor, f"{OUTCOME_MESSAGES[outcome]}；原因：{reason}"
        )
        _audit("erx.prescription.revoke", prescription, actor, detail={"outcome": str(outcome)})
        if prescription.status == S.REVOKED:
            _notify_resident_of_status(prescription)
    return outcome


def _revoke_refused(
    actor: ErxActor,
    prescription: Prescription,
    connection: CentreConnection,
    reason: str,
    error: ErxError,
) -> RevokeOutcome:
    """The centre refused: the drugs were collected. Keep the prescription, refresh it."""
    with transaction.atomic():
        locked = _locked(prescription.pk)
        locked.revoke_reason = reason
        locked.revoke_outcome = RevokeOutcome.REFUSED_DISPENSED
        locked.last_error = ""
        locked.save()
        _event(
            locked,
            "revoke_refused_dispensed",
            actor,
            f"{OUTCOME_MESSAGES[RevokeOutcome.REFUSED_DISPENSED]}：{error.message}",
        )
        _audit(
            "erx.prescription.revoke",
            locked,
            actor,
            outcome="failure",
            detail={"outcome": str(RevokeOutcome.REFUSED_DISPENSED)},
        )
    try:
        refresh_from_centre(actor=actor, prescription_id=prescription.pk)
    except ErxError as refresh_error:
        # The refusal stands; the poller brings the pickup details later.
        logger.warning("erx refresh after refused revoke failed: %s", refresh_error.message)
    return RevokeOutcome.REFUSED_DISPENSED


# -- catalogue and connection -------------------------------------------------------------


def _drug(row: Mapping[str, Any]) -> DrugRead:
    try:
        price = Decimal(str(row.get("pric") or "0"))
    except ArithmeticError:
        price = Decimal("0")
    return DrugRead(
        med_list_codg=str(row.get("medListCodg") or ""),
        generic_name=str(row.get("drugGenname") or ""),
        product_name=str(row.get("drugProdname") or ""),
        dosage_form=str(row.get("drugDosform") or ""),
        specification=str(row.get("drugSpec") or ""),
        manufacturer=str(row.get("prdrName") or ""),
        approval_no=str(row.get("aprvno") or ""),
        unit=str(row.get("pacunt") or ""),
        price=price,
    )


def _catalogue_rows(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("list", "drugList", "records", "data"):
        rows = data.get(key)
        if isinstance(rows, list):
            return [row for row in rows if isinstance(row, Mapping)]
    return []


def _catalogue_total(data: Mapping[str, Any], rows: int) -> int:
    for key in ("total", "totalCount", "recordCounts"):
        value = data.get(key)
        if value not in (None, ""):
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return rows


def _catalogue_page(
    connection: CentreConnection, actor: ErxActor, keyword: str, page: int, page_size: int
) -> tuple[list[DrugRead], int]:
    answer = client.call_centre(
        connection=connection,
        operation=Operation.DRUG_CATALOGUE,
        data={
            "fixmedinsCode": connection.fixmedins_code,
            "drugGenname": keyword,
            "pageNum": page,
            "pageSize": page_size,
        },
        actor=actor,
    )
    rows = _catalogue_rows(answer.data)
    return [_drug(row) for row in rows], _catalogue_total(answer.data, len(rows))


def query_drug_catalogue(
    *, actor: ErxActor, institution_id: int, keyword: str = "", page: int = 1
) -> CatalogueQueryResult:
    """RX-10: one page of the centre's circulation catalogue, queried live."""
    _check_permission(actor, "erx.view_drugcatalogueentry", institution_id)
    keyword = (keyword or "").strip()[:50]
    page = max(1, int(page))
    connection = client.connection_for(institution_id)
    items, total = _catalogue_page(connection, actor, keyword, page, CATALOGUE_PAGE_SIZE)
    return CatalogueQueryResult(
        keyword=keyword, page=page, page_size=CATALOGUE_PAGE_SIZE, total=total, items=items
    )


def sync_drug_catalogue(*, actor: ErxActor, institution_id: int) -> int:
    """RX-10: page through circDrugQuery into DrugCatalogueEntry; returns drugs synced.

    Drugs the centre no longer lists are kept (old prescriptions name them) but marked
    unlisted, so new prescriptions cannot use them.
    """
    _check_permission(actor, "erx.change_drugcatalogueentry", institution_id)
    connection = client.connection_for(institution_id)
    drugs: dict[str, DrugRead] = {}
    page = 1
    while page <= MAX_CATALOGUE_PAGES:
        items, total = _catalogue_page(connection, actor, "", page, CATALOGUE_PAGE_SIZE)
        for drug in items:
            if drug.med_list_codg:
                drugs[drug.med_list_codg] = drug
        if not items or page * CATALOGUE_PAGE_SIZE >= total:
            break
        page += 1
    now = timezone.now()
    with transaction.atomic():
        for drug in drugs.values():
            DrugCatalogueEntry.objects.update_or_create(
                med_list_codg=drug.med_list_codg,
                defaults={
                    "generic_name": drug.generic_name[:200],
                    "product_name": drug.product_name[:200],
                    "dosage_form": drug.dosage_form[:50],
                    "specification": drug.specification[:100],
                    "manufacturer": drug.manufacturer[:200],
                    "approval_no": drug.approval_no[:50],
                    "unit": drug.unit[:20],
                    "price": drug.price,
                    "is_listed": True,
                    "synced_at": now,
                },
            )
        delisted = 0
        if drugs:
            delisted = (
                DrugCatalogueEntry.objects.exclude(med_list_codg__in=list(drugs))
                .filter(is_listed=True)
                .update(is_listed=False, synced_at=now)
            )
        CentreConnection.objects.unscoped().filter(pk=connection.pk).update(catalogue_synced_at=now)
        record_event(
            action="erx.catalogue.sync",
            actor=actor.user,
            object_type="erx.drugcatalogue",
            object_id=connection.fixmedins_code,
            institution_id=institution_id,
            detail={"drugs": len(drugs), "delisted": delisted, "via": actor.via},
        )
    return len(drugs)


def test_connection(*, actor: ErxActor, institution_id: int) -> ConnectionTestResult:
    """A one-row circDrugQuery: proves address, credentials and both signatures."""
    _check_permission(actor, "erx.view_centreconnection", institution_id)
    connection = client.connection_for(institution_id, require_enabled=False)
    started = timezone.now()
    try:
        answer = client.call_centre(
            connection=connection,
            operation=Operation.DRUG_CATALOGUE,
            data={"fixmedinsCode": connection.fixmedins_code, "pageNum": 1, "pageSize": 1},
            actor=actor,
        )
    except ErxError as error:
        elapsed = int((timezone.now() - started).total_seconds() * 1000)
        return ConnectionTestResult(ok=False, message=error.message, elapsed_ms=elapsed)
    return ConnectionTestResult(
        ok=True,
        message=f"连接正常：处方中心已应答并通过验签（{answer.elapsed_ms} 毫秒）",
        elapsed_ms=answer.elapsed_ms,
    )


# -- replay -------------------------------------------------------------------------------


def replay_call(*, actor: ErxActor, call_id: int) -> CentreCall:
    """Replay a failed or refused call from the journal; returns the new journal row.

    Workflow calls re-run their step (re-reading the prescription, so a fixed draft or
    connection takes effect); a catalogue query is sent again from its kept ciphertext.
    """
    queryset = (
        CentreCall.objects.restrict(actor.user, "erx.replay_centrecall")
        if actor.user is not None
        else CentreCall.objects.unscoped()
    )
    call = queryset.select_related("prescription").filter(pk=call_id).first()
    if call is None:
        raise ErxError(ErrorCode.NOT_FOUND, "调用记录不存在或不在您的数据范围内")
    if call.outcome == CallOutcome.OK:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, "该调用已成功，无需重放")
    if call.replayed_at is not None:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, "该调用已重放过，请查看重放记录")
    operation = Operation(call.operation)
    latest = CentreCall.objects.unscoped().order_by("-pk").values_list("pk", flat=True).first() or 0
    error: ErxError | None = None
    with client.replaying(call.pk):
        try:
            _replay(replace(actor, replaying=True), call, operation)
        except ErxError as failure:
            error = failure
    new_call = (
        CentreCall.objects.unscoped()
        .filter(pk__gt=latest, replay_of_id=call.pk)
        .order_by("pk")
        .first()
    )
    with transaction.atomic():
        if new_call is not None:
            # Only a replay that reached the centre closes the row; one refused before
            # (the prescription moved on, a permission) leaves it replayable.
            CentreCall.objects.unscoped().filter(pk=call.pk).update(replayed_at=timezone.now())
        record_event(
            action="erx.call.replay",
            actor=actor.user,
            object_type="erx.centrecall",
            object_id=str(call.pk),
            institution_id=call.institution_id,
            outcome="success" if error is None else "failure",
            detail={"operation": call.operation, "new_call": new_call.pk if new_call else None},
        )
    if new_call is None:
        # The step refused before reaching the centre (e.g. the prescription moved on).
        raise error or ErxError(ErrorCode.NOT_REPLAYABLE, "重放未产生新的调用")
    return new_call


def _replay(actor: ErxActor, call: CentreCall, operation: Operation) -> None:
    prescription = call.prescription
    if prescription is not None:
        steps = {
            Operation.UPLOAD_CHECK: preverify,
            Operation.SIGN: sign,
            Operation.UPLOAD: upload,
            Operation.DETAIL: refresh_from_centre,
            Operation.REVIEW_RESULT: refresh_from_centre,
            Operation.PICKUP_RESULT: refresh_from_centre,
        }
        if operation == Operation.UNDO:
            revoke(
                actor=actor,
                prescription_id=prescription.pk,
                reason=prescription.revoke_reason or "重放撤销",
            )
            return
        steps[operation](actor=actor, prescription_id=prescription.pk)
        return
    connection = client.connection_for(call.institution_id, require_enabled=False)
    data = client.decrypt_request(connection, call)
    client.call_centre(connection=connection, operation=operation, data=data, actor=actor)


def replay_notification(*, actor: ErxActor, notification_id: int) -> CentreNotification:
    """Apply a rejected notification again (after its cause was fixed)."""
    from jingan.prescriptions.erx.notifications import reprocess_notification

    queryset = (
        CentreNotification.objects.restrict(actor.user, "erx.replay_centrecall")
        if actor.user is not None
        else CentreNotification.objects.unscoped()
    )
    notification = queryset.filter(pk=notification_id).first()
    if notification is None:
        raise ErxError(ErrorCode.NOT_FOUND, "通知记录不存在或不在您的数据范围内")
    if notification.outcome != NotificationOutcome.REJECTED:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, "只有已拒收的通知可以重新处理")
    return reprocess_notification(notification, actor=actor)


# -- periodic -----------------------------------------------------------------------------

POLLED_STATUSES = (S.UPLOADED, S.CENTRE_APPROVED, S.REVOKE_PENDING)
EXPIRABLE_LOCAL = (S.VERIFIED, S.PENDING_REVIEW, S.REVIEW_REJECTED, S.REVIEWED, S.SIGNED)


def outstanding_prescription_ids() -> list[int]:
    """Uploaded prescriptions the centre may still move (the poller's work list)."""
    return list(
        Prescription.objects.unscoped()
        .filter(status__in=POLLED_STATUSES)
        .exclude(hi_rxno="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def expire_overdue(*, now: datetime.datetime | None = None) -> int:
    """Mark prescriptions past their validity expired: unsent ones locally; uploaded ones
    once the centre (re-queried first) still shows them unused."""
    now = now or timezone.now()
    expired = 0
    local = Prescription.objects.unscoped().filter(status__in=EXPIRABLE_LOCAL, valid_until__lt=now)
    for prescription_id in list(local.values_list("pk", flat=True)):
        with transaction.atomic():
            prescription = _locked(prescription_id)
            if prescription.status not in EXPIRABLE_LOCAL or prescription.valid_until >= now:
                continue
            prescription.status = S.EXPIRED
            prescription.save()
            _event(prescription, "expired", SYSTEM_ACTOR, "超过处方有效期")
            _audit("erx.prescription.expire", prescription, SYSTEM_ACTOR)
            expired += 1
    uploaded = Prescription.objects.unscoped().filter(
        status__in=(S.UPLOADED, S.CENTRE_APPROVED, S.CENTRE_REJECTED), valid_until__lt=now
    )
    for prescription_id in list(uploaded.values_list("pk", flat=True)):
        try:
            refreshed = refresh_from_centre(actor=SYSTEM_ACTOR, prescription_id=prescription_id)
        except ErxError as error:
            logger.warning("erx expiry check of %s failed: %s", prescription_id, error.message)
            continue
        if refreshed.status in FINAL_STATUSES or refreshed.status == S.REVOKE_PENDING:
            continue
        with transaction.atomic():
            prescription = _locked(prescription_id)
            if prescription.status in FINAL_STATUSES or prescription.status == S.REVOKE_PENDING:
                continue
            prescription.status = S.EXPIRED
            prescription.save()
            _event(prescription, "expired", SYSTEM_ACTOR, "超过处方有效期，未取药")
            _audit("erx.prescription.expire", prescription, SYSTEM_ACTOR)
            expired += 1
    return expired


def centre_code_message(code: int) -> str:
    """A short Chinese hint for a centre answer code (pages show it beside the message)."""
    return {
        CODE_UNKNOWN_DRUG: "药品不在流通目录",
        CODE_NOT_FOUND: "处方中心无此处方",
        CODE_ALREADY_DISPENSED: "已取药",
    }.get(code, "")
