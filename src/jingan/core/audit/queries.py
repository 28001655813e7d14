"""Reads of the audit log for auditors: scoped search and the chain's status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from jingan.core.audit import append_only_triggers
from jingan.core.audit.models import AuditCheckpoint, AuditEntry, ChainHead, VerificationRun

VIEW_PERMISSION = "audit.view_auditentry"


@dataclass(frozen=True)
class AuditFilters:
    """What an auditor searches by; empty values do not filter."""

    since: datetime | None = None
    until: datetime | None = None
    action: str = ""
    actor: str = ""
    resident_id: int | None = None
    institution_id: int | None = None
    outcome: str = ""


def entries_for(user: Any) -> QuerySet[AuditEntry]:
    """Entries ``user`` may read: all for a district-wide auditor, else their institutions'."""
    from jingan.core.access.grants import institution_ids_for

    if not user.has_perm(VIEW_PERMISSION):
        return AuditEntry.objects.none()
    scope = institution_ids_for(user, VIEW_PERMISSION)
    if scope is None:
        return AuditEntry.objects.all()
    return AuditEntry.objects.filter(institution_id__in=scope)


def search_entries(user: Any, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The entries matching ``filters`` within ``user``'s scope, newest first."""
    entries = entries_for(user)
    if filters.since is not None:
        entries = entries.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        entries = entries.filter(occurred_at__lt=filters.until)
    if filters.action:
        # "auth." finds every authentication event; a full name finds just that one.
        entries = entries.filter(action__startswith=filters.action)
    if filters.actor:
        actor = filters.actor
        entries = (
            entries.filter(actor_id=int(actor))
            if actor.isdigit()
            else entries.filter(actor_username=actor)
        )
    if filters.resident_id is not None:
        entries = entries.filter(resident_id=filters.resident_id)
    if filters.institution_id is not None:
        entries = entries.filter(institution_id=filters.institution_id)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    return entries.order_by("-sequence")


def entry_for_user(user: Any, sequence: int) -> AuditEntry | None:
    return entries_for(user).filter(sequence=sequence).first()


def known_actions() -> list[str]:
    """Every action seen so far, for the search form's suggestions."""
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


@dataclass(frozen=True)
class ChainStatus:
    """What the auditors' page shows about the chain's protection."""

    head_sequence: int
    last_run: VerificationRun | None
    last_checkpoint: AuditCheckpoint | None
    checkpoint_count: int
    triggers_installed: bool


def chain_status() -> ChainStatus:
    head = ChainHead.objects.filter(pk=1).first()
    return ChainStatus(
        head_sequence=head.sequence if head else 0,
        last_run=VerificationRun.objects.order_by("-finished_at").first(),
        last_checkpoint=AuditCheckpoint.objects.order_by("-sequence").first(),
        checkpoint_count=AuditCheckpoint.objects.count(),
        triggers_installed=append_only_triggers.installed(connection),
    )
