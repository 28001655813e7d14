"""JSON API: an institution's HIS pushes its department list (SM2-signed requests)."""

from __future__ import annotations

import enum

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from jingan.core.crypto.models import ApiClient
from jingan.core.crypto.requests import SM2RequestAuth
from jingan.core.crypto.schemas import SignedRequestErrorRead
from jingan.core.institutions import services
from jingan.core.institutions.models import Institution
from jingan.core.institutions.schemas import (
    DepartmentSync,
    DepartmentSyncRead,
    InstitutionErrorRead,
)

router = Router(tags=["机构与科室"])


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "institution_not_found"
    INACTIVE = "institution_inactive"
    INVALID = "invalid_departments"


def _error(code: ErrorCode, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message}


@router.put(
    "/{code}/departments",
    auth=SM2RequestAuth(),
    response={
        200: DepartmentSyncRead,
        401: SignedRequestErrorRead,
        404: InstitutionErrorRead,
        409: InstitutionErrorRead,
        422: InstitutionErrorRead,
    },
    summary="同步本机构科室目录",
)
def sync_departments(request: HttpRequest, code: str, payload: DepartmentSync) -> Status[object]:
    """The institution's HIS sends its complete department list. Listed departments are
    created, updated or re-enabled; departments it no longer lists are disabled unless they
    still have open work, in which case they stay active and are returned in
    ``kept_active`` with what blocks them. Only a client registered for this institution
    may call it; any other institution's code answers 404."""
    client = request.auth  # type: ignore[attr-defined]
    assert isinstance(client, ApiClient)
    institution = Institution.objects.unscoped().filter(code=code).first()
    if institution is None or client.institution_id != institution.pk:
        return Status(404, _error(ErrorCode.NOT_FOUND, "机构不存在或不属于本接入应用"))
    if not institution.is_active:
        return Status(409, _error(ErrorCode.INACTIVE, "机构已停用，不接收科室同步"))
    records = [
        services.DepartmentRecord(
            code=item.code, name=item.name, category=item.category, has_inpatient=item.has_inpatient
        )
        for item in payload.departments
    ]
    try:
        result = services.sync_departments(
            actor=None,
            institution_id=institution.pk,
            records=records,
            source=client.app_id,
            request=request,
        )
    except ValidationError as error:
        return Status(422, _error(ErrorCode.INVALID, "；".join(error.messages)))
    return Status(
        200,
        {
            "institution_code": institution.code,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "deactivated": result.deactivated,
            "kept_active": [
                {
                    "code": code,
                    "blockers": [{"title": b.title, "count": b.count} for b in blockers],
                }
                for code, blockers in sorted(result.kept_active.items())
            ],
        },
    )


ROUTERS = [("/institutions", router)]
