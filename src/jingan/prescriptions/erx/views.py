"""What the console and the H5 pages of e-prescriptions share: PDF responses and the
audit row of a staff read of a patient's prescription."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from jingan.core.public import record_event, record_personal_data_read
from jingan.prescriptions.erx.models import Prescription
from jingan.prescriptions.erx.queries import resident_id_for

# The page CSP's object-src 'none' would stop the browser's own PDF viewer; a served file
# needs no scripts, styles or connections of its own.
FILE_CSP = (
    "default-src 'none'; img-src 'self'; object-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'self'"
)
# Used when the patient is not (yet) a platform resident: the read is still on the record,
# tied to the prescription instead of a resident.
PRESCRIPTION_READ = "erx.prescription.personal_data.read"


def record_prescription_read(request: HttpRequest, prescription: Prescription, what: str) -> None:
    """Audit one staff read of a patient's prescription (detail, editor, PDF, reveal)."""
    description = f"医保电子处方 {prescription.hosp_rxno} 的{what}"
    with transaction.atomic():
        resident_id = resident_id_for(prescription)
        if resident_id is not None:
            record_personal_data_read(
                actor=request.user,  # type: ignore[arg-type]
                resident_id=resident_id,
                what=description,
                request=request,
            )
        else:
            record_event(
                action=PRESCRIPTION_READ,
                actor=request.user,  # type: ignore[arg-type]
                object_type="erx.prescription",
                object_id=str(prescription.reference),
                institution_id=prescription.institution_id,
                detail={"what": description},
                request=request,
            )


def pdf_response(data: bytes, filename: str, *, download: bool = False) -> HttpResponse:
    """A PDF opened in the browser's viewer (or downloaded), with the file CSP."""
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(filename)}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    return response


def text_response(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def safe_next(request: HttpRequest, default: str) -> str:
    """The form's ``next`` when it is a path of this site, else ``default``."""
    from django.utils.http import url_has_allowed_host_and_scheme

    target: Any = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return str(target)
    return default
