"""Signed inbound API of the event centre (VA-3, HI-2), mounted under ``/api/v1/his/``.

- ``POST /push``: a dialect-B HIS pushes its vendor JSON (``integrations.his.rest.codec``);
- ``POST /events``: a third-party system (queue caller, self-service kiosk, app) reports
  node changes in our canonical JSON (``integrations.his.canonical``).

Both are called with the platform's SM2-signed requests; the API client belongs to one
institution and may only report events of that institution. A message that cannot be
taken is kept (``RejectedMessage``) with its reason and answered 4xx with its id; it can
be replayed from the console after a fix. A refused signature is an authentication
failure, answered 401 with nothing stored.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.connections import count_received
from jingan.core.public import SM2RequestAuth
from jingan.integrations.his.canonical import parse_canonical
from jingan.integrations.his.port import HisEvent, MessageRejected
from jingan.integrations.his.rest.codec import MAX_BATCH, STATUS_TABLE, parse_push
from jingan.integrations.his.simulation import source_for

logger = logging.getLogger(__name__)

router = Router(tags=["HIS 对接"])


class ErrorCode(enum.StrEnum):
    NO_INSTITUTION = "client_without_institution"
    BAD_ENCODING = "bad_encoding"
    FOREIGN_SOURCE = "foreign_source"


class HisPushAcceptedRead(Schema):
    code: str
    message: str
    accepted: int
    duplicates: int


class HisPushRejectedRead(Schema):
    code: str
    message: str
    rejectedId: int | None = None  # noqa: N815 - the vendor-facing answer is camelCase


class HisErrorRead(Schema):
    code: str
    message: str


_PATIENT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "姓名"},
        "idCard": {"type": "string", "description": "身份证号"},
        "cardNo": {"type": "string", "description": "就诊卡号"},
    },
}
_VENDOR_EVENT = {
    "type": "object",
    "required": ["msgId", "hospCode", "visitNo", "eventTime"],
    "properties": {
        "msgId": {"type": "string", "description": "消息号，重发时不变（重复消息不重复生效）"},
        "hospCode": {"type": "string", "description": "机构编码，须为接入应用所属机构"},
        "eventType": {
            "type": "string",
            "enum": sorted(STATUS_TABLE),
            "description": "事件类型（VOID 时可省略）",
        },
        "action": {"type": "string", "enum": ["NEW", "CORRECT", "VOID"], "default": "NEW"},
        "refMsgId": {"type": "string", "description": "CORRECT/VOID 所更正或作废的原消息号"},
        "visitNo": {"type": "string", "description": "就诊流水号"},
        "itemNo": {"type": "string", "description": "收费单/申请单/处方号"},
        "eventTime": {"type": "string", "example": "2026-11-26 09:30:00"},
        "createTime": {"type": "string", "example": "2026-11-26 09:30:01.250"},
        "patient": _PATIENT,
        "data": {"type": "object", "description": "业务字段（deptName、regFee、waitCount 等）"},
    },
}
PUSH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _VENDOR_EVENT,
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "items": _VENDOR_EVENT,
                                    "maxItems": MAX_BATCH,
                                }
                            },
                        },
                    ]
                }
            }
        },
    }
}
_CANONICAL_EVENT = {
    "type": "object",
    "required": ["event_id", "institution", "visit", "node", "status", "occurred_at"],
    "properties": {
        "event_id": {"type": "string", "description": "事件号，在本接入应用内唯一"},
        "source": {"type": "string", "description": "省略或等于接入应用标识"},
        "institution": {"type": "string", "description": "机构编码，须为接入应用所属机构"},
        "visit": {"type": "string", "description": "HIS 就诊流水号"},
        "node": {"type": "string"},
        "status": {"type": "string"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "item": {"type": "string"},
        "kind": {"type": "string", "enum": ["event", "correction", "void"]},
        "target_event_id": {"type": "string"},
        "patient": {"type": "object"},
        "payload": {"type": "object"},
    },
}
EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [_CANONICAL_EVENT, {"type": "array", "items": _CANONICAL_EVENT}]
                }
            }
        },
    }
}
RESPONSES: dict[int, type[Schema]] = {
    200: HisPushAcceptedRead,
    401: HisErrorRead,
    403: HisPushRejectedRead,
    422: HisPushRejectedRead,
}


@router.post(
    "/push",
    auth=SM2RequestAuth(),
    response=RESPONSES,
    summary="HIS 推送就诊事件（B 类接口）",
    openapi_extra=PUSH_BODY,
)
def push_events(request: HttpRequest) -> Status[object]:
    """A dialect-B HIS pushes one event or ``{"events": [...]}`` (at most 200) of its own
    institution. Answers ``{"code": "0", "message": "成功", "accepted": n, "duplicates": m}``;
    a message that cannot be taken is kept and answered 422 (403 when it names another
    institution) with ``{"code", "message", "rejectedId"}``."""
    institution = _client_institution(request)
    if institution is None:
        return _no_institution()
    institution_id, code = institution
    source = source_for("B", code)
    answer, accepted = _take(request, channel="rest", parse=parse_push, source=source, code=code)
    if accepted:
        count_received(accepted=accepted, institution_id=institution_id)
    return answer


@router.post(
    "/events",
    auth=SM2RequestAuth(),
    response=RESPONSES,
    summary="第三方系统报告就诊节点变化",
    openapi_extra=EVENTS_BODY,
)
def third_party_events(request: HttpRequest) -> Status[object]:
    """A third-party system of an institution (queue caller, kiosk, app) reports node
    changes in the platform's canonical JSON: one event or a list. ``source`` is the
    calling application's id (omit it); event ids are unique per application. Answers
    like ``/push``."""
    institution = _client_institution(request)
    if institution is None:
        return _no_institution()
    _, code = institution
    app_id = str(request.auth.app_id)  # type: ignore[attr-defined]

    def parse(raw: str) -> list[HisEvent]:
        events = parse_canonical(raw, default_source=app_id)
        foreign = sorted({event.source for event in events} - {app_id})
        if foreign:
            raise MessageRejected(
                ErrorCode.FOREIGN_SOURCE,
                f"事件来源 {'、'.join(s[:64] for s in foreign)} 与接入应用 {app_id} 不符",
            )
        return events

    answer, _ = _take(request, channel="api", parse=parse, source=app_id, code=code)
    return answer


def _client_institution(request: HttpRequest) -> tuple[int, str] | None:
    """The (id, code) of the institution the signing client belongs to."""
    institution_id = getattr(request.auth, "institution_id", None)  # type: ignore[attr-defined]
    if institution_id is None:
        return None
    institution_model = apps.get_model("institutions", "Institution")
    code = (
        institution_model.objects.unscoped()
        .filter(pk=institution_id)
        .values_list("code", flat=True)
        .first()
    )
    return (institution_id, code) if code else None


def _no_institution() -> Status[object]:
    return Status(
        403,
        {
            "code": ErrorCode.NO_INSTITUTION.value,
            "message": "接入应用未绑定医疗机构，不能报告就诊事件",
            "rejectedId": None,
        },
    )


def _take(
    request: HttpRequest,
    *,
    channel: str,
    parse: Callable[[str], Iterable[HisEvent]],
    source: str,
    code: str,
) -> tuple[Status[object], int]:
    """Take the body as one message: the answer, and how many events it added."""
    try:
        raw = request.body.decode("utf-8")
    except UnicodeDecodeError:
        error = MessageRejected(ErrorCode.BAD_ENCODING, "请求体不是 UTF-8 编码的文本")
        rejected_id = journal.reject(
            channel=channel,
            raw=request.body.decode("utf-8", "replace"),
            error=error,
            source=source,
            institution_code=code,
        )
        return _rejected(422, error, rejected_id), 0
    result = journal.take(
        channel=channel,
        raw=raw,
        parse=parse,
        source=source,
        institution_code=code,
        expected_institution=code,
    )
    if result.rejected is not None:
        status = 403 if result.rejected.code == "foreign_institution" else 422
        return _rejected(status, result.rejected, result.rejected_id), 0
    logger.info(
        "%s from %s: %d accepted, %d duplicates",
        channel,
        source,
        result.accepted,
        result.duplicates,
    )
    body: dict[str, Any] = {
        "code": "0",
        "message": "成功",
        "accepted": result.accepted,
        "duplicates": result.duplicates,
    }
    return Status(200, body), result.accepted


def _rejected(status: int, error: MessageRejected, rejected_id: int | None) -> Status[object]:
    return Status(
        status, {"code": str(error.code), "message": error.reason, "rejectedId": rejected_id}
    )
