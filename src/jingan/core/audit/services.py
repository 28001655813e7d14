"""Writes of the audit log: appending chained entries and signing checkpoints."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from jingan.core.audit.chain import canonical_json, canonical_time, chain_mac
from jingan.core.audit.models import (
    GENESIS,
    AuditCheckpoint,
    AuditEntry,
    ChainHead,
    Outcome,
    VerificationRun,
)
from jingan.core.audit.verification import (
    CHECKPOINT_PURPOSE,
    VerificationReport,
    checkpoint_message,
    verify_chain,
)
from jingan.lib.masking import mask_text, mask_value
from jingan.lib.net import client_ip

if TYPE_CHECKING:
    from django.http import HttpRequest

    from jingan.core.accounts.models import User
    from jingan.core.audit.queries import AuditFilters

logger = logging.getLogger("jingan.audit")

OUTCOMES = frozenset(choice.value for choice in Outcome)
_ACTION_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_USER_AGENT_LIMIT = 256
PERSONAL_DATA_READ = "resident.personal_data.read"
AUDITOR_PERMISSION = "audit.view_auditentry"


def _clean(value: object, limit: int) -> str:
    # NUL bytes cannot be stored in PostgreSQL text; what is stored is what is hashed.
    return str(value or "").replace("\x00", "")[:limit]


def _request_id(request: HttpRequest) -> str:
    """One id per request, shared by every entry the request writes."""
    existing = getattr(request, "request_id", None)
    if existing:
        return _clean(existing, 64)
    generated = uuid.uuid4().hex
    try:
        request.request_id = generated  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - slotted fake requests
        pass
    return generated


def _roles_of(actor: Any) -> str:
    """The actor's roles at the moment of the event: ``code`` or ``code@institution id``."""
    from jingan.core.access.models import RoleAssignment

    held = RoleAssignment.objects.filter(user_id=actor.pk).order_by("role__code", "institution_id")
    names = [
        code if institution_id is None else f"{code}@{institution_id}"
        for code, institution_id in held.values_list("role__code", "institution_id")
    ]
    if getattr(actor, "is_superuser", False):
        names.insert(0, "superuser")
    return ",".join(names)


def _lock_head() -> ChainHead:
    """Take the chain head row for update; every writer queues here, so the chain never forks."""
    try:
        return ChainHead.objects.select_for_update().get(pk=1)
    except ChainHead.DoesNotExist:
        try:
            with transaction.atomic():
                ChainHead.objects.create(pk=1, sequence=0, mac=GENESIS)
        except IntegrityError:
            pass  # another writer created it first; its lock is taken below
        return ChainHead.objects.select_for_update().get(pk=1)


def record_event(
    *,
    action: str,
    actor: User | None = None,
    resident_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
    institution_id: int | None = None,
    outcome: str = "success",
    detail: Mapping[str, object] | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Append one chained audit entry inside the caller's transaction."""
    if not _ACTION_PATTERN.match(action or "") or len(action) > 128:
        raise ValueError(f"audit action must be a dotted lower-case name, got {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None

    values: dict[str, Any] = {
        "action": action,
        "outcome": outcome,
        "actor_id": actor.pk if actor is not None else None,
        "actor_username": _clean(actor.get_username(), 150) if actor is not None else "",
        "actor_roles": _clean(_roles_of(actor), 10_000) if actor is not None else "",
        "resident_id": int(resident_id) if resident_id is not None else None,
        "object_type": _clean(object_type, 64),
        "object_id": _clean(object_id, 64),
        "institution_id": int(institution_id) if institution_id is not None else None,
        "request_id": _request_id(request) if request is not None else "",
        "ip": _clean(client_ip(request), 45) if request is not None else "",
        "user_agent": (
            _clean(request.META.get("HTTP_USER_AGENT", ""), _USER_AGENT_LIMIT)
            if request is not None
            else ""
        ),
        # json escapes control characters, so the text holds no NUL byte.
        "detail": canonical_json(mask_value(dict(detail or {}))),
    }
    with transaction.atomic():
        head = _lock_head()
        values["sequence"] = head.sequence + 1
        values["prev_mac"] = head.mac
        # Taken under the lock, so times never go backwards along the chain.
        values["occurred_at"] = timezone.now().astimezone(UTC)
        values["mac"] = chain_mac(values)
        AuditEntry(**values).save()
        ChainHead.objects.filter(pk=1).update(sequence=values["sequence"], mac=values["mac"])


def record_personal_data_read(
    *, actor: User, resident_id: int, what: str, request: HttpRequest | None = None
) -> None:
    """Audit one staff read of a resident's personal data (``what`` says which)."""
    record_event(
        action=PERSONAL_DATA_READ,
        actor=actor,
        resident_id=resident_id,
        object_type="resident",
        object_id=str(resident_id),
        detail={"what": what},
        request=request,
    )


def sign_checkpoint(
    *, actor: User | None = None, request: HttpRequest | None = None
) -> AuditCheckpoint | None:
    """Sign the chain's current head with SM2, linked to the previous checkpoint.

    Returns None when nothing was appended since the last checkpoint.
    """
    from jingan.core.crypto import sm2
    from jingan.core.crypto.keyring import get_keyring

    keyring = get_keyring()
    with transaction.atomic():
        head = _lock_head()
        previous = AuditCheckpoint.objects.order_by("-sequence").first()
        if head.sequence == 0 or (previous is not None and previous.sequence >= head.sequence):
            return None
        key_version = keyring.signing_version(CHECKPOINT_PURPOSE)
        pair = keyring.signing_key(CHECKPOINT_PURPOSE, key_version)
        signed_at = timezone.now().astimezone(UTC)
        previous_signature = previous.signature if previous is not None else ""
        message = checkpoint_message(
            sequence=head.sequence,
            mac_at_sequence=head.mac,
            previous_checkpoint_signature=previous_signature,
            signed_at=signed_at,
            key_version=key_version,
        )
        checkpoint = AuditCheckpoint(
            sequence=head.sequence,
            mac_at_sequence=head.mac,
            previous_checkpoint_signature=previous_signature,
            signature=sm2.sign(pair.private_hex, message).hex(),
            signed_at=signed_at,
            key_version=key_version,
        )
        checkpoint.save()
        if actor is not None:
            # Scheduled checkpoints are not audited, or every hour would add the entry
            # the next hour's checkpoint has to sign; a person's request is.
            record_event(
                action="audit.checkpoint.sign",
                actor=actor,
                object_type="audit_checkpoint",
                object_id=str(checkpoint.sequence),
                detail={"sequence": checkpoint.sequence, "key_version": key_version},
                request=request,
            )
    return checkpoint


def run_verification(
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Verify the chain, keep the result for the auditors' page and alert them on failure."""
    report = verify_chain(progress=progress)
    with transaction.atomic():
        VerificationRun.objects.create(
            started_at=report.started_at,
            finished_at=report.finished_at,
            ok=report.ok,
            entries_checked=report.entries_checked,
            checkpoints_checked=report.checkpoints_checked,
            last_sequence=report.last_sequence,
            problem=report.problem,
        )
        if actor is not None or not report.ok:
            try:
                record_event(
                    action="audit.chain.verify",
                    actor=actor,
                    outcome="success" if report.ok else "failure",
                    object_type="audit_chain",
                    detail={
                        "entries_checked": report.entries_checked,
                        "checkpoints_checked": report.checkpoints_checked,
                        "problem": report.problem,
                    },
                    request=request,
                )
            except DatabaseError:
                # A tampered chain may leave the head unusable; the alert must still go out.
                logger.exception("audit: could not append the verification result to the chain")
        if not report.ok:
            from jingan.core.messaging.services import notify_permission_holders

            notify_permission_holders(
                permission=AUDITOR_PERMISSION,
                title="审计日志完整性校验失败",
                body=report.problem,
                category="security",
                link="/console/audit/",
                dedup_key=f"audit-chain-broken:{report.problem_sequence}",
            )
    return report


class AuditExportError(Exception):
    """An export the auditor must narrow down first; the message is shown as is."""


EXPORT_LIMIT = 100_000
EXPORT_HEADER = [
    "序号",
    "时间（UTC）",
    "事件",
    "结果",
    "操作人 ID",
    "操作人账号",
    "操作人角色",
    "居民 ID",
    "对象类型",
    "对象 ID",
    "机构 ID",
    "请求 ID",
    "IP 地址",
    "客户端",
    "详情",
    "MAC",
]
# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    text = mask_text("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_audit_entries(
    *, actor: User, filters: AuditFilters, request: HttpRequest | None = None
) -> Iterator[list[str]]:
    """Audit the export, then yield its masked CSV rows (header first)."""
    from jingan.core.audit.queries import search_entries

    entries = search_entries(actor, filters)
    count = entries.count()
    if count > EXPORT_LIMIT:
        raise AuditExportError(
            f"符合条件的审计记录有 {count} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小时间范围后再导出。"
        )
    record_event(
        action="audit.export",
        actor=actor,
        object_type="audit_entry",
        detail={"rows": count, "filters": _filters_detail(filters)},
        request=request,
    )

    def rows() -> Iterator[list[str]]:
        yield EXPORT_HEADER
        for entry in entries.iterator(chunk_size=2000):
            yield [
                _csv_cell(value)
                for value in (
                    entry.sequence,
                    canonical_time(entry.occurred_at),
                    entry.action,
                    entry.get_outcome_display(),
                    entry.actor_id,
                    entry.actor_username,
                    entry.actor_roles,
                    entry.resident_id,
                    entry.object_type,
                    entry.object_id,
                    entry.institution_id,
                    entry.request_id,
                    entry.ip,
                    entry.user_agent,
                    entry.detail,
                    entry.mac,
                )
            ]

    return rows()


def _filters_detail(filters: AuditFilters) -> dict[str, object]:
    values = {
        "since": canonical_time(filters.since) if filters.since else "",
        "until": canonical_time(filters.until) if filters.until else "",
        "action": filters.action,
        "actor": filters.actor,
        "resident_id": filters.resident_id,
        "institution_id": filters.institution_id,
        "outcome": filters.outcome,
    }
    return {key: value for key, value in values.items() if value not in ("", None)}
