"""Resident H5 downloads of the electronic copy (MR-P4): a signed, short-lived link."""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jingan.core.public import get_current_resident, resident_required
from jingan.medical_records import copy_services
from jingan.medical_records.copy_services import CopyLinkError


def _refused(request: HttpRequest, refusal: CopyLinkError, number: str = "") -> HttpResponse:
    response = render(
        request,
        "medical_records/copy/h5_unavailable.html",
        {
            "tab": "me",
            "resident": get_current_resident(request),
            "title": refusal.title,
            "message": str(refusal),
            "number": number,
        },
        status=refusal.status,
    )
    response["Cache-Control"] = "no-store"
    return response


@resident_required
@require_POST
def download_start(request: HttpRequest, number: str) -> HttpResponse:
    """The "下载电子复印件" button: sign a link for this resident and go there."""
    resident = get_current_resident(request)
    try:
        token = copy_services.issue_download_link(actor=resident, number=number)
    except CopyLinkError as refusal:
        return _refused(request, refusal, number)
    return redirect("medical_records:h5-copy-download", token=token)


@resident_required
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    """Stream the decrypted PDF to the resident the link was made for."""
    resident = get_current_resident(request)
    try:
        document, data = copy_services.download_copy(actor=resident, token=token, request=request)
    except CopyLinkError as refusal:
        return _refused(request, refusal)
    number = document.application.number
    response = HttpResponse(data, content_type="application/pdf")
    filename = f"病案复印件-{number}.pdf"
    response["Content-Disposition"] = (
        f"attachment; filename=\"{number}.pdf\"; filename*=UTF-8''{quote(filename)}"
    )
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
