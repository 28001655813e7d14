"""Every change to roles and grants: checked for 三权分立, MAC-sealed, audited."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction

from jingan.core.access.builtin import ADMIN_DUTIES, BUILTIN_ROLES
from jingan.core.access.grants import forget_grants, institution_ids_for
from jingan.core.access.models import Duty, Role, RoleAssignment, RolePermission, ScopeKind
from jingan.core.audit.services import record_event
from jingan.core.crypto.macs import mac_hex

logger = logging.getLogger(__name__)


class ErrorCode(enum.StrEnum):
    SELF_GRANT = "self_grant"
    DUTY_CONFLICT = "duty_conflict"
    INSTITUTION_REQUIRED = "institution_required"
    INSTITUTION_NOT_ALLOWED = "institution_not_allowed"
    OUT_OF_SCOPE = "out_of_scope"
    NOT_ALLOWED = "not_allowed"
    BUILTIN_LOCKED = "builtin_locked"
    ROLE_IN_USE = "role_in_use"
    UNKNOWN_PERMISSION = "unknown_permission"
    DUPLICATE = "duplicate"
    INACTIVE_USER = "inactive_user"


class AccessError(Exception):
    """A refused change, with a message for the person who asked."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ASSIGN = "access.assign_role"
MANAGE_ROLES = "access.change_role"


def permission_label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _permissions(labels: Iterable[str]) -> list[Permission]:
    found = []
    for label in labels:
        app_label, _, codename = label.partition(".")
        permission = (
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            .select_related("content_type")
            .first()
        )
        if permission is None:
            raise AccessError(ErrorCode.UNKNOWN_PERMISSION, f"功能权限 {label} 不存在")
        found.append(permission)
    return found


def _seal_role_permission(role: Role, permission: Permission) -> RolePermission:
    label = permission_label(permission)
    return RolePermission.objects.create(
        role=role,
        permission=permission,
        mac=mac_hex("access-mac", RolePermission.canonical(role.code, label)),
    )


def _replace_permissions(role: Role, permissions: list[Permission]) -> tuple[set[str], set[str]]:
    wanted = {permission_label(p): p for p in permissions}
    current = {
        permission_label(row.permission): row
        for row in role.grants.select_related("permission__content_type")
    }
    removed = set(current) - set(wanted)
    added = set(wanted) - set(current)
    RolePermission.objects.filter(pk__in=[current[label].pk for label in removed]).delete()
    for label in sorted(added):
        _seal_role_permission(role, wanted[label])
    return added, removed


def sync_builtin_roles() -> None:
    """Create or update the built-in roles and their permissions (run after migrations)."""
    with transaction.atomic():
        for spec in BUILTIN_ROLES:
            role, _ = Role.objects.update_or_create(
                code=spec.code,
                defaults={
                    "name": spec.name,
                    "duty": spec.duty,
                    "scope_kind": spec.scope_kind,
                    "description": spec.description,
                    "is_builtin": True,
                },
            )
            present = []
            for label in spec.permissions:
                try:
                    present.extend(_permissions([label]))
                except AccessError:
                    logger.warning(
                        "built-in role %s: permission %s does not exist", spec.code, label
                    )
            added, removed = _replace_permissions(role, present)
            if added or removed:
                record_event(
                    action="access.role.sync",
                    object_type="role",
                    object_id=role.code,
                    detail={"added": sorted(added), "removed": sorted(removed)},
                )


def _require(actor: Any, permission: str) -> None:
    if actor is not None and not actor.has_perm(permission):
        raise AccessError(ErrorCode.NOT_ALLOWED, "您没有执行该操作的权限")


def _duties_of(user: Any) -> set[str]:
    return set(
        RoleAssignment.objects.filter(user=user).values_list("role__duty", flat=True).distinct()
    )


def check_duty_conflict(existing: set[str], new_duty: str) -> None:
    """三权分立: one administrator duty per person, and administrators do no business."""
    duties = existing | {new_duty}
    if len(duties) <= 1:
        return
    admin = duties & ADMIN_DUTIES
    if admin:
        names = "、".join(duty.label for duty in Duty if duty in duties)
        raise AccessError(
            ErrorCode.DUTY_CONFLICT,
            f"三权分立：{names} 不能由同一人兼任",
        )


def grant_role(
    *, actor: Any, user: Any, role: Role, institution_id: int | None = None, request: Any = None
) -> RoleAssignment:
    """Give ``user`` ``role`` for one institution (or the district), if the rules allow."""
    _require(actor, ASSIGN)
    if actor is not None and actor.pk == user.pk:
        raise AccessError(ErrorCode.SELF_GRANT, "不能给自己授予角色")
    if not user.is_active:
        raise AccessError(ErrorCode.INACTIVE_USER, "该账号已停用，不能授权")
    if role.scope_kind == ScopeKind.INSTITUTION and institution_id is None:
        raise AccessError(ErrorCode.INSTITUTION_REQUIRED, f"角色「{role.name}」须指定机构")
    if role.scope_kind == ScopeKind.DISTRICT and institution_id is not None:
        raise AccessError(
            ErrorCode.INSTITUTION_NOT_ALLOWED, f"角色「{role.name}」为全区角色，不能指定机构"
        )
    if actor is not None and institution_id is not None:
        scope = institution_ids_for(actor, ASSIGN)
        if scope is not None and institution_id not in scope:
            raise AccessError(ErrorCode.OUT_OF_SCOPE, "该机构不在您的授权范围内")
    if actor is not None and role.scope_kind == ScopeKind.DISTRICT:
        if institution_ids_for(actor, ASSIGN) is not None:
            raise AccessError(ErrorCode.OUT_OF_SCOPE, "只有全区授权管理员可以授予全区角色")
    with transaction.atomic():
        check_duty_conflict(_duties_of(user), role.duty)
        scope_lookup = RoleAssignment.scope_lookup(institution_id)
        if RoleAssignment.objects.filter(user=user, role=role, **scope_lookup).exists():
            raise AccessError(ErrorCode.DUPLICATE, "该授权已存在")
        assignment = RoleAssignment.objects.create(
            user=user,
            role=role,
            institution_id=institution_id,
            granted_by=actor,
            mac=mac_hex(
                "access-mac",
                RoleAssignment.canonical(user.pk, user.username, role.code, institution_id),
            ),
        )
        record_event(
            action="access.role.grant",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            institution_id=institution_id,
            detail={"role": role.code, "username": user.username},
            request=request,
        )
    forget_grants(user)
    return assignment


def revoke_role(*, actor: Any, assignment: RoleAssignment, request: Any = None) -> None:
    """Take a role back from its holder."""
    _require(actor, ASSIGN)
    if actor is not None and actor.pk == assignment.user_id:
        raise AccessError(ErrorCode.SELF_GRANT, "不能收回自己的角色")
    if actor is not None:
        scope = institution_ids_for(actor, ASSIGN)
        if scope is not None and assignment.institution_id not in scope:
            # Includes district-wide assignments (institution None): only a district-wide
            # security administrator may take those back.
            raise AccessError(ErrorCode.OUT_OF_SCOPE, "该授权不在您的管理范围内")
    with transaction.atomic():
        record_event(
            action="access.role.revoke",
            actor=actor,
            object_type="user",
            object_id=str(assignment.user_id),
            institution_id=assignment.institution_id,
            detail={"role": assignment.role.code, "username": assignment.user.username},
            request=request,
        )
        assignment.delete()
    forget_grants(assignment.user)


def create_role(
    *,
    actor: Any,
    code: str,
    name: str,
    duty: str,
    scope_kind: str,
    description: str = "",
    permissions: Iterable[str] = (),
    request: Any = None,
) -> Role:
    """A custom role (built-in ones come from ``builtin.py``)."""
    _require(actor, "access.add_role")
    found = _permissions(permissions)
    with transaction.atomic():
        if Role.objects.filter(code=code).exists():
            raise AccessError(ErrorCode.DUPLICATE, f"角色编码 {code} 已存在")
        if Role.objects.filter(name=name).exists():
            raise AccessError(ErrorCode.DUPLICATE, f"角色名称「{name}」已存在")
        role = Role.objects.create(
            code=code, name=name, duty=duty, scope_kind=scope_kind, description=description
        )
        added, _ = _replace_permissions(role, found)
        record_event(
            action="access.role.create",
            actor=actor,
            object_type="role",
            object_id=code,
            detail={"permissions": sorted(added), "duty": duty, "scope_kind": scope_kind},
            request=request,
        )
    return role


def set_role_permissions(
    *, actor: Any, role: Role, permissions: Iterable[str], request: Any = None
) -> Role:
    """Replace the function permissions of a custom role."""
    _require(actor, MANAGE_ROLES)
    if role.is_builtin:
        raise AccessError(ErrorCode.BUILTIN_LOCKED, "内置角色的权限由系统维护，不能修改")
    if actor is not None and RoleAssignment.objects.filter(user=actor, role=role).exists():
        raise AccessError(ErrorCode.SELF_GRANT, "不能修改自己持有的角色")
    found = _permissions(permissions)
    with transaction.atomic():
        added, removed = _replace_permissions(role, found)
        record_event(
            action="access.role.change",
            actor=actor,
            object_type="role",
            object_id=role.code,
            detail={"added": sorted(added), "removed": sorted(removed)},
            request=request,
        )
    return role


def update_role(
    *, actor: Any, role: Role, name: str, description: str = "", request: Any = None
) -> Role:
    """Rename or re-describe a custom role (its code and permissions stay)."""
    _require(actor, MANAGE_ROLES)
    if role.is_builtin:
        raise AccessError(ErrorCode.BUILTIN_LOCKED, "内置角色由系统维护，不能修改")
    with transaction.atomic():
        if Role.objects.filter(name=name).exclude(pk=role.pk).exists():
            raise AccessError(ErrorCode.DUPLICATE, f"角色名称「{name}」已存在")
        role.name = name
        role.description = description
        role.save(update_fields=["name", "description", "updated_at"])
        record_event(
            action="access.role.change",
            actor=actor,
            object_type="role",
            object_id=role.code,
            detail={"name": name},
            request=request,
        )
    return role


def delete_role(*, actor: Any, role: Role, request: Any = None) -> None:
    """Delete a custom role that nobody holds."""
    _require(actor, "access.delete_role")
    if role.is_builtin:
        raise AccessError(ErrorCode.BUILTIN_LOCKED, "内置角色不能删除")
    holders = role.assignments.count()
    if holders:
        raise AccessError(ErrorCode.ROLE_IN_USE, f"仍有 {holders} 个授权使用该角色，请先收回")
    with transaction.atomic():
        record_event(
            action="access.role.delete",
            actor=actor,
            object_type="role",
            object_id=role.code,
            request=request,
        )
        role.delete()


def users_with_permission(permission: str, institution_id: int | None = None) -> list[Any]:
    """Active staff holding ``permission`` (for ``institution_id`` when given)."""
    from django.contrib.auth import get_user_model

    from jingan.core.access.grants import grants_for

    holders = []
    candidates = (
        get_user_model()
        .objects.filter(is_active=True, role_assignments__isnull=False)
        .distinct()
        .order_by("pk")
    )
    for user in candidates:
        grants = grants_for(user)
        if permission not in grants:
            continue
        scope = grants[permission]
        if institution_id is None or scope is None or institution_id in scope:
            holders.append(user)
    return holders
