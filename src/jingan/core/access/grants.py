"""What a staff member may do, and where: computed from MAC-verified role rows.

``grants_for(user)`` maps each permission label (``"app_label.codename"``) to the
institutions it applies to, ``None`` meaning district-wide. Rows whose MAC does not
verify are left out and reported once (log, audit, security administrators).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

Scope = frozenset[int] | None
_CACHE_ATTRIBUTE = "_jingan_grants"
_ALERT_SECONDS = 3600


def grants_for(user: Any) -> dict[str, Scope]:
    """Permission label → institution ids (``None``: district-wide) for an active user."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached: dict[str, Scope] | None = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    grants = _load_grants(user)
    setattr(user, _CACHE_ATTRIBUTE, grants)
    return grants


def forget_grants(user: Any) -> None:
    """Drop the per-request cache after a change to the user's roles."""
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


def institution_ids_for(user: Any, permission: str) -> Scope:
    """The institutions where ``user`` holds ``permission``: ``None`` = all, empty = none."""
    grants = grants_for(user)
    if permission not in grants:
        return frozenset()
    return grants[permission]


def _load_grants(user: Any) -> dict[str, Scope]:
    from jingan.core.access.models import RoleAssignment, RolePermission
    from jingan.core.crypto.macs import verify_mac

    scopes_by_role: dict[int, set[int] | None] = {}
    role_codes: dict[int, str] = {}
    assignments = RoleAssignment.objects.filter(user_id=user.pk).select_related("role")
    for assignment in assignments:
        message = RoleAssignment.canonical(
            assignment.user_id, user.username, assignment.role.code, assignment.institution_id
        )
        if not verify_mac("access-mac", message, assignment.mac):
            report_integrity_violation("role_assignment", assignment.pk)
            continue
        role_codes[assignment.role_id] = assignment.role.code
        if assignment.institution_id is None:
            scopes_by_role[assignment.role_id] = None
        else:
            current = scopes_by_role.setdefault(assignment.role_id, set())
            if current is not None:
                current.add(assignment.institution_id)

    grants: dict[str, Scope] = {}
    if not scopes_by_role:
        return grants
    rows = RolePermission.objects.filter(role_id__in=list(scopes_by_role)).select_related(
        "permission__content_type"
    )
    for row in rows:
        label = f"{row.permission.content_type.app_label}.{row.permission.codename}"
        if not verify_mac(
            "access-mac", RolePermission.canonical(role_codes[row.role_id], label), row.mac
        ):
            report_integrity_violation("role_permission", row.pk)
            continue
        role_scope = scopes_by_role[row.role_id]
        if label in grants and grants[label] is None:
            continue
        if role_scope is None:
            grants[label] = None
        else:
            grants[label] = frozenset((grants.get(label) or frozenset()) | role_scope)
    return grants


def report_integrity_violation(table: str, row_id: int) -> None:
    """A role row failed its MAC: log, audit and alert the security administrators once an hour."""
    key = f"access-integrity:{table}:{row_id}"
    if not cache.add(key, 1, _ALERT_SECONDS):
        return
    logger.error(
        "access control row %s #%s failed its integrity check and was ignored", table, row_id
    )

    def alert() -> None:
        from jingan.core.audit.services import record_event
        from jingan.core.messaging.services import notify_permission_holders

        with transaction.atomic():
            record_event(
                action="access.integrity.violation",
                object_type=table,
                object_id=str(row_id),
                outcome="failure",
                detail={"reason": "MAC 校验失败：该授权记录可能被绕过应用直接修改"},
            )
            notify_permission_holders(
                permission="access.assign_role",
                title="权限数据完整性告警",
                body=f"授权记录 {table} #{row_id} 的完整性校验失败，已拒绝生效，请核查数据库操作记录。",
                category="security",
                dedup_key=f"integrity:{table}:{row_id}",
            )

    transaction.on_commit(alert)
