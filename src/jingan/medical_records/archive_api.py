"""Signed push API: an institution's record system sends its archived admissions (MR-A1)."""

from __future__ import annotations

import enum
import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status

from jingan.core.public import SM2RequestAuth
from jingan.integrations.archives.port import ArchivePayload
from jingan.lib.schemas import inline_definitions
from jingan.medical_records.archive_models import ArchiveChannel, ArchiveSource
from jingan.medical_records.archive_queries import institution_by_code
from jingan.medical_records.archive_services import (
    _keep_rejected,
    ingest_archive_payload,
    record_push_success,
)

router = Router(tags=["病案归档"])
MAX_ITEMS = 100


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "institution_not_found"
    NOT_ENABLED = "archive_source_disabled"
    INVALID = "invalid_payload"


class ArchiveErrorRead(Schema):
    code: str
    message: str


class ArchiveItemResultRead(Schema):
    admission_no: str
    outcome: str  # accepted | updated | unchanged | rejected
    reason: str


class ArchivePushRead(Schema):
    institution_code: str
    counts: dict[str, int]
    results: list[ArchiveItemResultRead]


def _error(code: ErrorCode, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message}


_PAYLOAD_SCHEMA = ArchivePayload.model_json_schema()
PAYLOAD_SCHEMA = inline_definitions(_PAYLOAD_SCHEMA)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        PAYLOAD_SCHEMA,
                        {"type": "array", "items": PAYLOAD_SCHEMA, "maxItems": MAX_ITEMS},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/{institution_code}/admissions",
    auth=SM2RequestAuth(),
    response={
        200: ArchivePushRead,
        401: ArchiveErrorRead,
        404: ArchiveErrorRead,
        409: ArchiveErrorRead,
        422: ArchivePushRead,
    },
    summary="推送归档住院病案",
    openapi_extra=REQUEST_BODY,
)
def push_admissions(request: HttpRequest, institution_code: str) -> Status[object]:
    """The institution's record system sends one archived admission (a JSON object) or a
    list of up to 100. Each item is answered ``accepted``, ``updated``, ``unchanged``
    (same content as already stored) or ``rejected`` with the reason in Chinese; a
    rejected item is kept on the platform and can be processed again from the console.
    Any rejected item makes the answer 422. Only the client configured for this
    institution (or registered for it) may push; any other institution answers 404."""
    client = request.auth  # type: ignore[attr-defined]
    institution = institution_by_code(institution_code)
    source = (
        ArchiveSource.objects.unscoped().filter(institution_id=institution.pk).first()
        if institution is not None
        else None
    )
    allowed = institution is not None and (
        client.institution_id == institution.pk
        or (source is not None and source.api_app_id and source.api_app_id == client.app_id)
    )
    if institution is None or not allowed:
        return Status(404, _error(ErrorCode.NOT_FOUND, "机构不存在或不属于本接入应用"))
    if source is None or not source.is_enabled:
        return Status(409, _error(ErrorCode.NOT_ENABLED, "该机构的病案归档接口未配置或已停用"))
    items, problem = _items(request.body)
    if problem:
        with transaction.atomic():
            _keep_rejected(
                payload=items,
                channel=ArchiveChannel.PUSH,
                institution_id=institution.pk,
                reason=problem,
            )
        answer = {
            "institution_code": institution.code,
            "counts": {"rejected": 1},
            "results": [{"admission_no": "", "outcome": "rejected", "reason": problem}],
        }
        return Status(422, answer)
    results = []
    counts: dict[str, int] = {}
    for item in items:
        result = ingest_archive_payload(
            payload=item, channel=ArchiveChannel.PUSH, institution_id=institution.pk
        )
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        results.append(
            {
                "admission_no": result.admission_no,
                "outcome": result.outcome,
                "reason": result.reason,
            }
        )
    record_push_success(institution_id=institution.pk)
    if (counts.get("accepted") or counts.get("updated")) and source.base_url:
        from jingan.medical_records.archive_tasks import fetch_documents_task

        institution_id = institution.pk
        transaction.on_commit(lambda: fetch_documents_task(institution_id))
    answer = {"institution_code": institution.code, "counts": counts, "results": results}
    return Status(422 if counts.get("rejected") else 200, answer)


def _items(body: bytes) -> tuple[Any, str]:
    """The pushed items, or the raw body (as text) and why it is not a payload at all."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace")[:100_000], "请求体不是有效的 UTF-8 JSON"
    if isinstance(data, dict):
        return [data], ""
    if isinstance(data, list):
        if not data:
            return data, "请求体是空列表，至少应包含一条归档记录"
        if len(data) > MAX_ITEMS:
            return data, f"一次最多推送 {MAX_ITEMS} 条归档记录，本次 {len(data)} 条"
        return data, ""
    return data, "请求体应为一条归档记录（JSON 对象）或其列表"
