"""Resident H5 "我的处方": the resident's own e-prescriptions with the centre's review,
the pickup status, what became of a revocation and the purchase slip's QR code.

Only prescriptions written for the resident's verified ID number are shown; any other
reference is a 404, whoever it belongs to.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jingan.core.public import get_current_resident, resident_required
from jingan.prescriptions.erx import pdf, queries
from jingan.prescriptions.erx.models import Prescription, PrescriptionStatus, RevokeOutcome
from jingan.prescriptions.erx.views import pdf_response, text_response

# What a resident reads under each status: plain words, not the centre's codes.
RESIDENT_HINTS: dict[str, str] = {
    PrescriptionStatus.UPLOADED: "处方已提交医保处方中心，正在等待审核，请稍后查看。",
    PrescriptionStatus.CENTRE_APPROVED: "处方已通过医保审核，请凭购药提示单二维码到定点药店取药。",
    PrescriptionStatus.CENTRE_REJECTED: "处方未通过医保审核，请联系开方医生。",
    PrescriptionStatus.REVOKE_PENDING: "医生已申请撤销本处方，药店正在结算，结果确认后会通知您。",
    PrescriptionStatus.REVOKED: "本处方已被医生撤销，不能再取药。",
    PrescriptionStatus.DISPENSED: "药品已取走。",
    PrescriptionStatus.EXPIRED: "处方已超过有效期，不能再取药。",
}

# The revoke outcome in the resident's words (the doctor sees the same three outcomes).
REVOKE_WORDING: dict[str, str] = {
    RevokeOutcome.REVOKED: "医生已撤销本处方。",
    RevokeOutcome.REFUSED_DISPENSED: "医生申请撤销时药品已取走，撤销未生效。",
    RevokeOutcome.PENDING_AT_PHARMACY: "医生申请撤销时药店正在结算，撤销待药店确认。",
}


def _slip_available(prescription: Prescription) -> bool:
    # The QR is what the pharmacy scans: only while the drugs can still be collected.
    return prescription.status == PrescriptionStatus.CENTRE_APPROVED and bool(prescription.hi_rxno)


def _card(prescription: Prescription) -> dict[str, Any]:
    return {
        "p": prescription,
        "colour": queries.status_colour(prescription.status),
        "centre": queries.centre_labels(prescription),
    }


@resident_required
@require_GET
def prescription_list(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    prescriptions = list(queries.prescriptions_for_resident(resident)[:100])
    return render(
        request,
        "erx/h5/list.html",
        {"tab": "home", "resident": resident, "cards": [_card(p) for p in prescriptions]},
    )


@resident_required
@require_GET
def prescription_detail(request: HttpRequest, reference: str) -> HttpResponse:
    resident = get_current_resident(request)
    prescription = queries.get_prescription_for_resident(resident, reference)
    slip_svg = ""
    if _slip_available(prescription):
        try:
            slip_svg = pdf.slip_qr_svg(prescription)
        except pdf.PrescriptionDocumentError:
            slip_svg = ""
    return render(
        request,
        "erx/h5/detail.html",
        {
            "tab": "home",
            "resident": resident,
            **_card(prescription),
            "items": list(prescription.items.order_by("line_no")),
            "hint": RESIDENT_HINTS.get(prescription.status, ""),
            "revoke_wording": REVOKE_WORDING.get(prescription.revoke_outcome, ""),
            "dispensed": queries.dispense_details_of(prescription),
            "slip_svg": slip_svg,
        },
    )


@resident_required
@require_GET
def prescription_slip(request: HttpRequest, reference: str) -> HttpResponse:
    """The purchase slip PDF, to save or show at the pharmacy."""
    prescription = queries.get_prescription_for_resident(get_current_resident(request), reference)
    if not _slip_available(prescription):
        return text_response("处方当前不能取药，没有可用的购药提示单", 409)
    try:
        data = pdf.render_purchase_slip_pdf(prescription)
    except pdf.PrescriptionDocumentError as error:
        return text_response(str(error), 409)
    return pdf_response(data, f"购药提示单-{prescription.hosp_rxno}.pdf", download=True)
