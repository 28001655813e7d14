"""The centre's notifications (RX-8 review result, RX-9 pickup result), received and kept.

``receive_notification`` takes the raw POST body and answers ``(http_status, answer)``.
Every notification is kept as a ``CentreNotification`` whatever becomes of it:

- APPLIED: verified with the centre's key and applied to the prescription;
- DUPLICATE: the same content (SM3 of ``transType`` + canonical business JSON) was
  applied before, so nothing changes and the centre is told it was taken;
- REJECTED: unknown app, stale timestamp, ciphertext or signature that does not check,
  unknown ``hiRxno`` — kept with the reason; ``replay_notification`` re-applies it once
  the cause is fixed (without the time check: the replay is a deliberate later act).

A notification that never arrives is recovered by the polling task (tasks.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from jingan.core.public import get_sm2_backend, record_event, sm3_hex
from jingan.integrations.erx_centre.adapter import (
    answer_notification,
    open_notification,
    unsigned_refusal,
)
from jingan.integrations.erx_centre.envelope import (
    EnvelopeError,
    Opened,
    read_envelope,
)
from jingan.integrations.erx_centre.port import (
    CODE_BAD_ENVELOPE,
    CODE_BAD_SIGNATURE,
    CODE_INVALID_FIELD,
    CODE_NOT_FOUND,
    CODE_OK,
    Notification,
)
from jingan.lib import masking
from jingan.prescriptions.erx import client
from jingan.prescriptions.erx.models import (
    CentreConnection,
    CentreNotification,
    NotificationOutcome,
    Prescription,
)

logger = logging.getLogger(__name__)

MAX_KEPT_BODY = 200_000


class _Rejected(Exception):
    def __init__(self, reason: str, code: int, *, kind: str = "", hi_rxno: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.kind = kind
        self.hi_rxno = hi_rxno


def notification_digest(kind: str, data: dict[str, Any]) -> str:
    """SM3 of the kind and the canonical business object: equal content, equal digest."""
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return sm3_hex(f"{kind}\n{canonical}".encode())


def _centre_actor() -> Any:
    from jingan.prescriptions.erx.services import ErxActor

    return ErxActor(user=None, label="医保电子处方中心", via="centre")


def _open(
    body: bytes, connection: CentreConnection, *, check_time: bool
) -> tuple[Notification, Opened]:
    return open_notification(
        body,
        client.credentials_for(connection),
        connection.centre_public_key_hex,
        get_sm2_backend(),
        check_time=check_time,
    )


def _answer(connection: CentreConnection, kind: str, code: int, message: str) -> dict[str, Any]:
    profile = client.profile()
    return answer_notification(
        kind,
        credentials=client.credentials_for(connection),
        backend=get_sm2_backend(),
        version=profile.version,
        code=code,
        message=message,
        enc_type=profile.enc_type,
        sign_type=profile.sign_type,
    )


def _apply(
    connection: CentreConnection,
    kind: Notification,
    opened: Opened,
    record: CentreNotification,
) -> str:
    """Apply a verified notification to ``record`` (saved by the caller); the outcome."""
    from jingan.prescriptions.erx.services import apply_centre_state

    data = opened.data
    hi_rxno = str(data.get("hiRxno") or "")
    record.kind = kind.value
    record.hi_rxno = hi_rxno[:40]
    record.digest = notification_digest(kind.value, data)
    record.data_masked = json.dumps(client.mask_centre_data(data), ensure_ascii=False)
    if not hi_rxno:
        raise _Rejected("通知缺少 hiRxno", CODE_INVALID_FIELD, kind=kind.value)
    code = str(data.get("fixmedinsCode") or "")
    if code and code != connection.fixmedins_code:
        raise _Rejected(
            f"通知的 fixmedinsCode {code} 与本机构 {connection.fixmedins_code} 不符",
            CODE_INVALID_FIELD,
        )
    prescription = (
        Prescription.objects.unscoped()
        .select_for_update()
        .filter(institution_id=connection.institution_id, hi_rxno=hi_rxno)
        .first()
    )
    if prescription is None:
        raise _Rejected(f"本机构没有医保处方编号为 {hi_rxno} 的处方", CODE_NOT_FOUND)
    record.prescription = prescription
    duplicate = (
        CentreNotification.objects.unscoped()
        .filter(
            institution_id=connection.institution_id,
            digest=record.digest,
            outcome=NotificationOutcome.APPLIED,
        )
        .exclude(pk=record.pk)
        .exists()
    )
    if duplicate:
        return NotificationOutcome.DUPLICATE
    apply_centre_state(prescription.pk, data, actor=_centre_actor(), source="notification")
    return NotificationOutcome.APPLIED


def _audit(record: CentreNotification, *, replay: bool = False) -> None:
    record_event(
        action="erx.notification.replay" if replay else "erx.notification.receive",
        object_type="erx.centrenotification",
        object_id=str(record.pk),
        institution_id=record.institution_id,
        outcome="failure" if record.outcome == NotificationOutcome.REJECTED else "success",
        detail={"kind": record.kind, "outcome": record.outcome, "hi_rxno": record.hi_rxno},
    )


def receive_notification(body: bytes) -> tuple[int, dict[str, Any]]:
    """Verify, keep and apply one notification; the HTTP status and the answer to send."""
    record = CentreNotification(
        envelope=body[:MAX_KEPT_BODY].decode("utf-8", "replace"),
        received_at=timezone.now(),
        outcome=NotificationOutcome.REJECTED,
    )
    try:
        envelope = read_envelope(body)
    except EnvelopeError as error:
        return _reject_unsigned(record, f"通知报文无效：{error.message}")
    app_id = str(envelope.get("appId") or "")
    record.app_id = app_id[:64]
    record.kind = str(envelope.get("transType") or "")[:40]
    connection = (
        CentreConnection.objects.unscoped()
        .filter(app_id=app_id)
        .select_related("institution")
        .first()
    )
    if connection is None:
        return _reject_unsigned(record, f"未知的 appId {app_id}")
    record.institution_id = connection.institution_id
    try:
        kind, opened = _open(body, connection, check_time=True)
    except EnvelopeError as error:
        code = CODE_BAD_SIGNATURE if error.field == "signData" else CODE_BAD_ENVELOPE
        return _reject_signed(record, connection, f"通知验证失败：{error.message}", code)
    try:
        with transaction.atomic():
            record.outcome = _apply(connection, kind, opened, record)
            record.save()
            _audit(record)
    except _Rejected as rejected:
        return _reject_signed(record, connection, rejected.reason, rejected.code)
    message = "重复通知，已处理过" if record.outcome == NotificationOutcome.DUPLICATE else "成功"
    return 200, _answer(connection, kind.value, CODE_OK, message)


def _reject_unsigned(record: CentreNotification, reason: str) -> tuple[int, dict[str, Any]]:
    _keep_rejected(record, reason)
    return 400, unsigned_refusal(CODE_BAD_ENVELOPE, reason)


def _reject_signed(
    record: CentreNotification, connection: CentreConnection, reason: str, code: int
) -> tuple[int, dict[str, Any]]:
    _keep_rejected(record, reason)
    return 400, _answer(connection, record.kind, code, reason)


def _keep_rejected(record: CentreNotification, reason: str) -> None:
    record.outcome = NotificationOutcome.REJECTED
    record.reason = reason
    with transaction.atomic():
        record.save()
        _audit(record)
    logger.warning("erx notification %s rejected: %s", record.pk, masking.mask_text(reason))


def reprocess_notification(record: CentreNotification, *, actor: Any) -> CentreNotification:
    """Apply a kept (rejected) notification again; used by ``services.replay_notification``."""
    from jingan.prescriptions.erx.errors import ErrorCode, ErxError

    body = record.envelope.encode("utf-8")
    previous = record.reason
    try:
        envelope = read_envelope(body)
    except EnvelopeError as error:
        raise ErxError(
            ErrorCode.NOT_REPLAYABLE, f"通知报文无效，无法重新处理：{error.message}"
        ) from None
    connection = (
        CentreConnection.objects.unscoped().filter(app_id=str(envelope.get("appId") or "")).first()
    )
    if connection is None:
        raise ErxError(
            ErrorCode.NOT_REPLAYABLE, f"仍然没有 appId 为 {envelope.get('appId')} 的机构接入"
        )
    try:
        kind, opened = _open(body, connection, check_time=False)
    except EnvelopeError as error:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, f"通知仍无法验证：{error.message}") from None
    try:
        with transaction.atomic():
            record = CentreNotification.objects.unscoped().select_for_update().get(pk=record.pk)
            record.institution_id = connection.institution_id
            record.outcome = _apply(connection, kind, opened, record)
            record.reason = f"已重新处理（{actor.label}）；原拒收原因：{previous}"[:2000]
            record.replayed_at = timezone.now()
            record.save()
            record_event(
                action="erx.notification.replay",
                actor=actor.user,
                object_type="erx.centrenotification",
                object_id=str(record.pk),
                institution_id=record.institution_id,
                detail={"kind": record.kind, "outcome": record.outcome, "hi_rxno": record.hi_rxno},
            )
    except _Rejected as rejected:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, f"通知仍不能处理：{rejected.reason}") from None
    return record
