"""Scoped reads behind the staff, role and grant console pages (MR-A8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from jingan.core.access.grants import institution_ids_for
from jingan.core.access.models import Role, RoleAssignment

# Re-exported: the cross-helper contract names it here (messaging imports it from here).
__all__ = [
    "StaffState",
    "get_staff_for_user",
    "holds_for",
    "institution_ids_for",
    "permission_groups",
    "role_summaries",
    "search_staff",
    "staff_for",
]

# Django's own actions get Chinese verbs; custom permissions already carry Chinese names.
_DEFAULT_ACTIONS = {"view": "查看", "add": "新增", "change": "修改", "delete": "删除"}
# Bookkeeping tables that no page or API checks permissions on: Django still creates their
# default permissions, but offering them in the matrix would only invite meaningless grants.
# (Their apps can drop them with ``default_permissions = ()``; a role already holding one
# still shows it, so an edit never drops it silently.)
INTERNAL_MODELS = frozenset(
    {
        "access.roleassignment",
        "access.rolepermission",
        "accounts.passwordhistory",
        "accounts.staffsession",
        "audit.auditcheckpoint",
        "audit.chainhead",
        "crypto.rotationcursor",
        "crypto.usednonce",
        "runtime.heartbeat",
    }
)


class StaffState:
    """The list filter's account states."""

    NORMAL = "normal"
    LOCKED = "locked"
    DISABLED = "disabled"
    NO_TOTP = "no_totp"
    CHOICES = (
        (NORMAL, "正常"),
        (LOCKED, "已锁定"),
        (DISABLED, "已停用"),
        (NO_TOTP, "未绑定动态口令"),
    )


def staff_for(user: Any, permission: str) -> QuerySet[Any]:
    """Staff accounts whose institution is within ``user``'s scope for ``permission``.

    A district-wide grant sees everyone, including staff without an institution
    (district and operator staff); an institution grant sees only that institution's.
    """
    queryset = get_user_model().objects.select_related("institution", "department")
    scope = institution_ids_for(user, permission)
    if scope is None:
        return queryset
    if not scope:
        return queryset.none()
    return queryset.filter(institution_id__in=sorted(scope))


def get_staff_for_user(user: Any, permission: str, staff_id: int) -> Any:
    """One staff account within ``user``'s scope for ``permission``; 404 otherwise."""
    found = staff_for(user, permission).filter(pk=staff_id).first()
    if found is None:
        raise Http404("工作人员不存在或不在您的数据范围内")
    return found


def holds_for(user: Any, permission: str, institution_id: int | None) -> bool:
    """Whether ``user`` holds ``permission`` for a row of ``institution_id`` (None: district)."""
    if not user.has_perm(permission):
        return False
    scope = institution_ids_for(user, permission)
    return scope is None or (institution_id is not None and institution_id in scope)


def search_staff(
    queryset: QuerySet[Any],
    *,
    text: str = "",
    institution: str = "",
    role: str = "",
    state: str = "",
) -> QuerySet[Any]:
    """Filter the staff list; empty arguments leave it as it is."""
    if text:
        queryset = queryset.filter(Q(username__icontains=text) | Q(display_name__icontains=text))
    if institution == "none":
        queryset = queryset.filter(institution__isnull=True)
    elif institution.isdigit():
        queryset = queryset.filter(institution_id=int(institution))
    if role:
        queryset = queryset.filter(role_assignments__role__code=role).distinct()
    now = timezone.now()
    locked = Q(locked_until__gt=now)
    no_totp = Q(totp_confirmed_at__isnull=True) | Q(totp_secret="")
    if state == StaffState.NORMAL:
        # The same rule as the list's "正常" badge: can sign in with both factors today.
        queryset = queryset.filter(is_active=True).exclude(locked).exclude(no_totp)
    elif state == StaffState.LOCKED:
        queryset = queryset.filter(locked)
    elif state == StaffState.DISABLED:
        queryset = queryset.filter(is_active=False)
    elif state == StaffState.NO_TOTP:
        queryset = queryset.filter(no_totp)
    # Staff without an institution first, on every database (PostgreSQL sorts NULL last).
    return queryset.order_by(F("institution__code").asc(nulls_first=True), "username")


def staff_counts(queryset: QuerySet[Any]) -> dict[str, int]:
    """Totals above the staff list."""
    now = timezone.now()
    return queryset.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(is_active=True)),
        locked=Count("pk", filter=Q(locked_until__gt=now)),
        disabled=Count("pk", filter=Q(is_active=False)),
    )


def roles_by_user(user_ids: list[int]) -> dict[int, list[RoleAssignment]]:
    """The role assignments of a page of staff, for the list's role column."""
    found: dict[int, list[RoleAssignment]] = {}
    rows = (
        RoleAssignment.objects.filter(user_id__in=user_ids)
        .select_related("role", "institution")
        .order_by("role__duty", "role__code", "institution__code")
    )
    for row in rows:
        found.setdefault(row.user_id, []).append(row)
    return found


def assignments_of(staff: Any) -> list[RoleAssignment]:
    return list(
        RoleAssignment.objects.filter(user=staff)
        .select_related("role", "institution", "granted_by")
        .order_by("role__duty", "role__code", "institution__code")
    )


def role_summaries() -> QuerySet[Role]:
    """Every role with its number of holders and of function permissions."""
    return Role.objects.annotate(
        holder_count=Count("assignments__user", distinct=True),
        permission_count=Count("grants", distinct=True),
    ).order_by("-is_builtin", "duty", "code")


def get_role(code: str) -> Role:
    role = role_summaries().filter(code=code).first()
    if role is None:
        raise Http404("角色不存在")
    return role


def role_permission_labels(role: Role) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in role.grants.values_list(
            "permission__content_type__app_label", "permission__codename"
        )
    }


def permission_title(permission: Permission) -> str:
    """``查看 工作人员`` for Django's default actions, the declared name otherwise."""
    action, _, model_name = permission.codename.partition("_")
    model = permission.content_type.model_class()
    if action in _DEFAULT_ACTIONS and model is not None and model_name == model._meta.model_name:
        return f"{_DEFAULT_ACTIONS[action]}{model._meta.verbose_name}"
    return str(permission.name)


@dataclass(frozen=True)
class PermissionChoice:
    label: str  # "app_label.codename"
    title: str
    codename: str
    checked: bool


@dataclass
class PermissionGroup:
    app_label: str
    title: str
    permissions: list[PermissionChoice] = field(default_factory=list)

    @property
    def checked_count(self) -> int:
        return sum(p.checked for p in self.permissions)


def grantable_permissions() -> QuerySet[Permission]:
    """The platform's own permissions (Django's admin, auth and session tables are unused)."""
    own = [config.label for config in apps.get_app_configs() if config.name.startswith("jingan.")]
    return Permission.objects.filter(content_type__app_label__in=own).select_related("content_type")


def permission_groups(
    selected: set[str] | None = None, *, only_selected: bool = False
) -> list[PermissionGroup]:
    """Permissions grouped by app (in the order the apps are installed), ticked if selected."""
    chosen = selected or set()
    order = {config.label: index for index, config in enumerate(apps.get_app_configs())}
    groups: dict[str, PermissionGroup] = {}
    for permission in grantable_permissions():
        app_label = permission.content_type.app_label
        label = f"{app_label}.{permission.codename}"
        if only_selected and label not in chosen:
            continue
        if (
            f"{app_label}.{permission.content_type.model}" in INTERNAL_MODELS
            and label not in chosen
        ):
            continue
        group = groups.get(app_label)
        if group is None:
            title = str(apps.get_app_config(app_label).verbose_name)
            group = groups[app_label] = PermissionGroup(app_label, title)
        group.permissions.append(
            PermissionChoice(
                label, permission_title(permission), permission.codename, label in chosen
            )
        )
    for group in groups.values():
        group.permissions.sort(key=lambda p: (p.codename.partition("_")[2], p.codename))
    return sorted(groups.values(), key=lambda g: order.get(g.app_label, len(order)))


def recent_sign_in_events(staff_id: int, limit: int = 15) -> list[Any]:
    """The latest sign-in related audit entries about one staff account."""
    from jingan.core.audit.models import AuditEntry

    return list(
        AuditEntry.objects.filter(
            object_type="user", object_id=str(staff_id), action__startswith="auth."
        ).order_by("-sequence")[:limit]
    )
