"""Roles as data: 三权分立 rules, MAC-checked rows, scoped querysets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.http import Http404

from jingan.core.access.builtin import BUILTIN_ROLES
from jingan.core.access.models import Role, RoleAssignment, RolePermission
from jingan.core.access.scoping import UnscopedQueryError, get_for_user
from jingan.core.access.services import (
    AccessError,
    ErrorCode,
    grant_role,
    revoke_role,
    users_with_permission,
)
from jingan.core.audit.models import AuditEntry
from jingan.core.institutions.models import Institution

pytestmark = pytest.mark.django_db


def _two_institutions() -> tuple[Institution, Institution]:
    first, second = Institution.objects.unscoped().order_by("code")[:2]
    return first, second


@pytest.mark.req("MR-A8")
def test_every_builtin_permission_exists_and_is_granted() -> None:
    for spec in BUILTIN_ROLES:
        role = Role.objects.get(code=spec.code)
        labels = sorted(
            f"{row.permission.content_type.app_label}.{row.permission.codename}"
            for row in role.grants.select_related("permission__content_type")
        )
        assert labels == sorted(set(spec.permissions)), spec.code


@pytest.mark.req("SEC-3")
def test_administrator_duties_never_combine(make_staff: Callable[..., Any]) -> None:
    security = make_staff("security", roles=("security_admin",))
    admin = make_staff("admin", roles=("system_admin",))
    with pytest.raises(AccessError) as refused:
        grant_role(actor=security, user=admin, role=Role.objects.get(code="auditor"))
    assert refused.value.code == ErrorCode.DUTY_CONFLICT
    assert refused.value.message == "三权分立：系统管理、安全审计 不能由同一人兼任"
    assert not admin.has_perm("audit.view_auditentry")


@pytest.mark.req("SEC-3")
def test_nobody_grants_themselves(make_staff: Callable[..., Any]) -> None:
    security = make_staff("security", roles=("security_admin",))
    with pytest.raises(AccessError) as refused:
        grant_role(actor=security, user=security, role=Role.objects.get(code="district_regulator"))
    assert refused.value.code == ErrorCode.SELF_GRANT
    assert RoleAssignment.objects.filter(user=security).count() == 1


def test_granting_needs_the_permission(make_staff: Callable[..., Any]) -> None:
    admin = make_staff("admin", roles=("system_admin",))
    clerk = make_staff("clerk")
    with pytest.raises(AccessError) as refused:
        grant_role(actor=admin, user=clerk, role=Role.objects.get(code="district_regulator"))
    assert refused.value.code == ErrorCode.NOT_ALLOWED


@pytest.mark.req("MR-A8")
def test_institution_roles_give_permissions_only_for_that_institution(
    make_staff: Callable[..., Any],
) -> None:
    first, second = _two_institutions()
    security = make_staff("security", roles=("security_admin",))
    reviewer = make_staff("reviewer")
    with pytest.raises(AccessError) as refused:
        grant_role(
            actor=security, user=reviewer, role=Role.objects.get(code="record_room_reviewer")
        )
    assert refused.value.code == ErrorCode.INSTITUTION_REQUIRED
    assignment = grant_role(
        actor=security,
        user=reviewer,
        role=Role.objects.get(code="record_room_reviewer"),
        institution_id=first.pk,
    )
    assert reviewer.has_perm("institutions.view_department")
    visible = Institution.objects.restrict(reviewer, "institutions.view_institution")
    assert list(visible.values_list("pk", flat=True)) == [first.pk]
    assert (
        get_for_user(Institution.objects, reviewer, "institutions.view_institution", pk=first.pk)
        == first
    )
    with pytest.raises(Http404):
        get_for_user(Institution.objects, reviewer, "institutions.view_institution", pk=second.pk)
    revoke_role(actor=security, assignment=assignment)
    assert not Institution.objects.restrict(reviewer, "institutions.view_institution").exists()
    assert [
        e.action for e in AuditEntry.objects.filter(object_id=str(reviewer.pk)).order_by("sequence")
    ][-2:] == [
        "access.role.grant",
        "access.role.revoke",
    ]


def test_scoped_querysets_refuse_to_run_unscoped() -> None:
    with pytest.raises(UnscopedQueryError):
        list(Institution.objects.all())
    with pytest.raises(UnscopedQueryError):
        Institution.objects.filter(has_inpatient=True).count()
    assert Institution.objects.unscoped().count() == 26


def test_superuser_status_grants_nothing(make_staff: Callable[..., Any]) -> None:
    root = make_staff("root", is_superuser=True)
    assert not root.has_perm("institutions.delete_institution")
    assert not Institution.objects.restrict(root, "institutions.view_institution").exists()


@pytest.mark.req("CR-5")
def test_a_role_row_changed_in_sql_grants_nothing_and_alerts(
    make_staff: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    security = make_staff("security", roles=("security_admin",))
    clerk = make_staff("clerk", roles=("district_regulator",))
    auditor_role = Role.objects.get(code="auditor")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RoleAssignment._meta.db_table} SET role_id = %s WHERE user_id = %s",
            [auditor_role.pk, clerk.pk],
        )
    clerk = type(clerk).objects.get(pk=clerk.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert not clerk.has_perm("audit.view_auditentry")
        assert not clerk.has_perm("institutions.view_institution")
    violation = AuditEntry.objects.get(action="access.integrity.violation")
    assert violation.object_type == "role_assignment"
    from jingan.core.messaging.models import Message

    alert = Message.objects.get(category="security")
    assert alert.staff_user_id == security.pk
    assert alert.title == "权限数据完整性告警"


@pytest.mark.req("CR-5")
def test_a_permission_inserted_in_sql_is_not_granted(make_staff: Callable[..., Any]) -> None:
    from django.contrib.auth.models import Permission

    clerk = make_staff("clerk", roles=("district_regulator",))
    role = Role.objects.get(code="district_regulator")
    delete = Permission.objects.get(
        content_type__app_label="institutions", codename="delete_institution"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RolePermission._meta.db_table} (role_id, permission_id, mac, created_at) "
            "VALUES (%s, %s, %s, CURRENT_TIMESTAMP)",
            [role.pk, delete.pk, "1:" + "0" * 64],
        )
    clerk = type(clerk).objects.get(pk=clerk.pk)
    assert clerk.has_perm("institutions.view_institution")
    assert not clerk.has_perm("institutions.delete_institution")


def test_permission_holders_are_found_for_alerts(make_staff: Callable[..., Any]) -> None:
    first, _ = _two_institutions()
    security = make_staff("security", roles=("security_admin",))
    admin = make_staff("inst-admin", roles=("institution_admin",), institution=first)
    assert users_with_permission("access.assign_role") == [security]
    assert users_with_permission("institutions.change_department", institution_id=first.pk) == [
        admin
    ]
