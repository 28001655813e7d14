"""The prescription PDF (the file the centre signs) and the purchase slip (购药提示单).

``render_prescription_pdf`` draws an A5 outpatient prescription as hospitals print it. The
centre signs these exact bytes (``originalRxFile``), so the output depends only on the
prescription's own data: no "now", no random identifiers, the same bytes every time.

``render_purchase_slip_pdf`` is what the resident takes to a pharmacy after
pre-verification: the centre's prescription number, the trace code, the drugs and a QR
code. The QR code carries ``slip_qr_payload``, one line of five ``|``-separated fields::

    ERX1|<hiRxno>|<rxTraceCode>|<fixmedinsCode>|<valid until, yyyyMMdd>

``ERX1`` names the format (version 1), so a pharmacy scanner can refuse anything else;
``hiRxno`` and ``rxTraceCode`` are what a pharmacy system needs to fetch the prescription
from the centre; ``fixmedinsCode`` says which institution issued it and the date lets the
cashier refuse an expired slip without a round trip.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import segno
from django.template.loader import render_to_string
from django.utils import timezone

from jingan.lib.masking import mask_id_number, mask_name
from jingan.prescriptions.erx.models import (
    CentreConnection,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)

__all__ = [
    "QR_PAYLOAD_VERSION",
    "PrescriptionDocumentError",
    "render_prescription_pdf",
    "render_purchase_slip_pdf",
    "slip_qr_code",
    "slip_qr_payload",
    "slip_qr_svg",
]

QR_PAYLOAD_VERSION = "ERX1"
QR_SEPARATOR = "|"
# Medium error correction: the slip is printed on office printers and scanned from phones.
QR_ERROR_LEVEL = "m"

GENDER_LABELS = {"1": "男", "2": "女"}
RX_TYPE_LABELS = {"1": "西药", "2": "中成药"}

# Shown on a slip whose prescription can no longer be collected, instead of pretending.
_UNUSABLE_NOTES = {
    PrescriptionStatus.REVOKED: "本处方已撤销，不能取药",
    PrescriptionStatus.DISPENSED: "本处方已取药，不能重复取药",
    PrescriptionStatus.EXPIRED: "本处方已超过有效期，不能取药",
    PrescriptionStatus.CENTRE_REJECTED: "本处方医保审核不通过，不能取药，请联系开方医师",
}


class PrescriptionDocumentError(Exception):
    """A document that cannot be produced for this prescription; ``str()`` is Chinese."""


@dataclass(frozen=True)
class _Line:
    number: int
    name: str
    specification: str
    quantity: str
    unit: str
    usage: str
    amount: str


def _plain_number(value: Decimal) -> str:
    """``2.00`` → ``2``, ``0.50`` → ``0.5``: how quantities are written on a prescription."""
    return format(value.normalize(), "f")


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _local(value: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _usage(item: PrescriptionItem) -> str:
    return f"每次{item.single_dose}　{item.route_name}　{item.frequency_name}　共{item.days}天"


def _lines(prescription: Prescription) -> list[_Line]:
    return [
        _Line(
            number=item.line_no,
            name=item.generic_name,
            specification=item.specification,
            quantity=_plain_number(item.quantity),
            unit=item.unit,
            usage=_usage(item),
            amount=_money(item.amount),
        )
        for item in prescription.items.order_by("line_no")
    ]


def _diagnoses(prescription: Prescription) -> list[dict[str, Any]]:
    try:
        rows = json.loads(prescription.diagnoses or "[]")
    except ValueError as error:
        raise PrescriptionDocumentError(
            f"处方 {prescription.hosp_rxno} 的诊断数据无法读取"
        ) from error
    # The main diagnosis first, as it is written on the prescription.
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


def _pharmacist_name(prescription: Prescription) -> str:
    pharmacist = prescription.pharmacist
    if pharmacist is None:
        return ""
    return str(pharmacist.display_name or pharmacist.username)


def _fixmedins_code(prescription: Prescription) -> str:
    connection = (
        CentreConnection.objects.unscoped()
        .filter(institution_id=prescription.institution_id)
        .only("fixmedins_code")
        .first()
    )
    if connection is None:
        raise PrescriptionDocumentError(
            f"{prescription.institution.name}尚未配置医保电子处方中心接入，无法生成购药提示单"
        )
    return connection.fixmedins_code


def _write_pdf(html: str) -> bytes:
    from weasyprint import HTML

    # A fixed identifier: WeasyPrint would otherwise derive one that is stable today,
    # but the signed file must not depend on that staying so.
    return bytes(HTML(string=html).write_pdf(pdf_identifier=b"jingan-erx"))


def _common_context(prescription: Prescription) -> dict[str, Any]:
    prescribed_at = _local(prescription.prescribed_at)
    valid_until = _local(prescription.valid_until)
    return {
        "institution_name": prescription.institution.name,
        "hosp_rxno": prescription.hosp_rxno,
        "hi_rxno": prescription.hi_rxno,
        "patient_gender": GENDER_LABELS.get(prescription.patient_gender, "未知"),
        "patient_age": prescription.patient_age,
        "patient_id_number_masked": mask_id_number(prescription.patient_id_number),
        "department_name": prescription.department_name,
        "prescribed_on": f"{prescribed_at:%Y年%m月%d日}",
        "prescribed_at": f"{prescribed_at:%Y-%m-%d %H:%M}",
        "valid_days": prescription.valid_days,
        "valid_until": f"{valid_until:%Y-%m-%d %H:%M}",
        "valid_until_date": f"{valid_until:%Y年%m月%d日}",
        "lines": _lines(prescription),
        "total_amount": _money(prescription.total_amount),
        "rx_type_label": RX_TYPE_LABELS.get(prescription.rx_type_code, "普通"),
    }


def render_prescription_pdf(prescription: Prescription) -> bytes:
    """The A5 prescription the centre signs; the same data gives the same bytes."""
    lines = _lines(prescription)
    if not lines:
        raise PrescriptionDocumentError(f"处方 {prescription.hosp_rxno} 没有药品，不能生成处方笺")
    context = _common_context(prescription)
    context.update(
        {
            # The prescription itself is the medical document: the full name belongs on it.
            "patient_name": prescription.patient_name,
            "psn_no": prescription.psn_no,
            "mdtrt_id": prescription.mdtrt_id,
            "diagnoses": _diagnoses(prescription),
            "doctor_name": prescription.doctor_name,
            "doctor_title": prescription.doctor_title,
            "pharmacist_name": _pharmacist_name(prescription),
        }
    )
    return _write_pdf(render_to_string("erx/pdf/prescription.html", context))


def _require_centre_numbers(prescription: Prescription) -> None:
    if not prescription.hi_rxno or not prescription.rx_trace_code:
        raise PrescriptionDocumentError(
            f"处方 {prescription.hosp_rxno} 尚未通过医保预核验，没有医保处方编号和处方追溯码，"
            "不能生成购药提示单"
        )


def slip_qr_payload(prescription: Prescription) -> str:
    """``ERX1|hiRxno|rxTraceCode|fixmedinsCode|yyyyMMdd`` (see the module docstring)."""
    _require_centre_numbers(prescription)
    fields = [
        QR_PAYLOAD_VERSION,
        prescription.hi_rxno,
        prescription.rx_trace_code,
        _fixmedins_code(prescription),
        f"{_local(prescription.valid_until):%Y%m%d}",
    ]
    if any(QR_SEPARATOR in field for field in fields):
        # A separator inside a centre code would make the scanner read the wrong fields.
        raise PrescriptionDocumentError(
            f"处方 {prescription.hosp_rxno} 的医保处方编号或追溯码含有非法字符“|”"
        )
    return QR_SEPARATOR.join(fields)


def slip_qr_code(prescription: Prescription) -> segno.QRCode:
    """The slip's QR code object (segno), for callers that want another output format."""
    return segno.make(slip_qr_payload(prescription), error=QR_ERROR_LEVEL, micro=False)


def slip_qr_svg(prescription: Prescription) -> str:
    """The slip's QR code as inline SVG that scales to its container (H5 and console)."""
    return str(
        slip_qr_code(prescription).svg_inline(
            scale=4,
            border=2,
            omitsize=True,
            svgclass="erx-slip-qr",
            title="购药提示单二维码",
        )
    )


def render_purchase_slip_pdf(prescription: Prescription) -> bytes:
    """The purchase slip (购药提示单) with the QR code; only after pre-verification."""
    _require_centre_numbers(prescription)
    qr = slip_qr_code(prescription)
    context = _common_context(prescription)
    context.update(
        {
            "patient_name_masked": mask_name(prescription.patient_name),
            "rx_trace_code": prescription.rx_trace_code,
            "fixmedins_code": _fixmedins_code(prescription),
            "qr_data_uri": qr.svg_data_uri(scale=4, border=2),
            "unusable_note": _UNUSABLE_NOTES.get(PrescriptionStatus(prescription.status), ""),
        }
    )
    return _write_pdf(render_to_string("erx/pdf/slip.html", context))
