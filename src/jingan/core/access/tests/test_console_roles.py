from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from jingan.core.access.builtin import BUILTIN_ROLES
from jingan.core.access.models import Role
from jingan.core.access.queries import role_permission_labels
from jingan.core.audit.models import AuditEntry


@pytest.fixture
def security_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("secadmin", roles=("security_admin",))


@pytest.fixture
def system_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("sysadmin", roles=("system_admin",))


def _custom_role(code: str = "clerk", permissions: tuple[str, ...] = ()) -> Role:
    from jingan.core.access.services import create_role

    return create_role(
        actor=None,
        code=code,
        name="病案室登记员",
        duty="business",
        scope_kind="institution",
        permissions=permissions,
    )


@pytest.mark.req("MR-A8")
@pytest.mark.req("SEC-3")
def test_a_system_admin_can_neither_see_nor_change_roles(
    system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    role = _custom_role()
    client = client_for(system_admin)
    assert client.get(reverse("access:role-list")).status_code == 403
    assert client.get(reverse("access:role-detail", args=["clerk"])).status_code == 403
    assert client.get(reverse("access:role-create")).status_code == 403
    assert (
        client.post(reverse("access:role-create"), {"code": "x1", "name": "x"}).status_code == 403
    )
    assert (
        client.post(
            reverse("access:role-edit", args=["clerk"]),
            {"permissions": ["accounts.view_user"]},
        ).status_code
        == 403
    )
    assert client.post(reverse("access:role-delete", args=["clerk"])).status_code == 403
    assert Role.objects.filter(code="x1").exists() is False
    assert role_permission_labels(role) == set()
    assert Role.objects.filter(code="clerk").exists()


@pytest.mark.req("SEC-3")
def test_anonymous_visitors_are_sent_to_sign_in(client: Any, db: None) -> None:
    for url in (
        reverse("access:role-list"),
        reverse("access:role-create"),
        reverse("access:role-detail", args=["auditor"]),
        reverse("access:role-edit", args=["auditor"]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/?next=")
    response = client.post(reverse("access:role-delete", args=["auditor"]))
    assert response["Location"].startswith("/console/login/?next=")
    assert Role.objects.filter(code="auditor").exists()


@pytest.mark.req("MR-A8")
def test_the_role_list_marks_built_in_roles_and_counts_holders_and_permissions(
    security_admin: Any, make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    make_staff("auditor-1", roles=("auditor",))
    make_staff("auditor-2", roles=("auditor",))
    _custom_role(permissions=("institutions.view_institution",))

    response = client_for(security_admin).get(reverse("access:role-list"))

    rows = {
        role.code: (
            role.is_builtin,
            role.get_duty_display(),
            role.holder_count,
            role.permission_count,
        )
        for role in response.context["roles"]
    }
    spec = {role.code: len(role.permissions) for role in BUILTIN_ROLES}
    assert rows["auditor"] == (True, "安全审计", 2, spec["auditor"])
    assert rows["security_admin"] == (True, "安全管理", 1, spec["security_admin"])
    assert rows["system_admin"] == (True, "系统管理", 0, spec["system_admin"])
    assert rows["clerk"] == (False, "业务", 0, 1)
    html = response.content.decode()
    assert html.count('<span class="badge bg-secondary-lt ms-1">内置</span>') == len(BUILTIN_ROLES)
    assert response.context["can_add"] is True


@pytest.mark.req("MR-A8")
def test_the_role_page_groups_permissions_by_app(
    security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    response = client_for(security_admin).get(
        reverse("access:role-detail", args=["security_admin"])
    )

    groups = [
        (group.title, [p.title for p in group.permissions]) for group in response.context["groups"]
    ]
    assert groups == [
        ("机构与科室", ["查看医疗机构"]),
        ("账号", ["解锁账号与重置动态口令", "查看工作人员"]),
        ("权限", ["新增角色", "授予与收回角色", "修改角色", "删除角色", "查看角色"]),
    ]
    assert [a.user.username for a in response.context["holders"]] == ["secadmin"]
    # Built-in roles are read-only: no edit or delete button.
    assert response.context["can_change"] is False
    assert response.context["can_delete"] is False
    assert reverse("access:role-edit", args=["security_admin"]) not in response.content.decode()


@pytest.mark.req("MR-A8")
def test_a_security_admin_creates_a_custom_role_from_the_permission_matrix(
    security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    client = client_for(security_admin)
    form = client.get(reverse("access:role-create"))
    offered = {
        group.app_label: [p.label for p in group.permissions] for group in form.context["groups"]
    }
    # Only the platform's own apps, and none of their bookkeeping tables.
    assert "auth" not in offered
    assert "admin" not in offered
    assert offered["access"] == [
        "access.add_role",
        "access.assign_role",
        "access.change_role",
        "access.delete_role",
        "access.view_role",
    ]
    assert "accounts.view_staffsession" not in offered["accounts"]
    assert "accounts.unlock_user" in offered["accounts"]

    response = client.post(
        reverse("access:role-create"),
        {
            "code": "record_clerk",
            "name": "病案室登记员",
            "description": "登记病案复印申请",
            "duty": "business",
            "scope_kind": "institution",
            "permissions": ["institutions.view_institution", "institutions.view_department"],
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("access:role-detail", args=["record_clerk"])
    role = Role.objects.get(code="record_clerk")
    assert (role.name, role.duty, role.scope_kind, role.is_builtin) == (
        "病案室登记员",
        "business",
        "institution",
        False,
    )
    assert role_permission_labels(role) == {
        "institutions.view_institution",
        "institutions.view_department",
    }
    entry = AuditEntry.objects.get(action="access.role.create", object_id="record_clerk")
    assert entry.actor_username == "secadmin"


def test_bad_role_input_is_explained_in_chinese(
    security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    client = client_for(security_admin)
    response = client.post(
        reverse("access:role-create"),
        {
            "code": "Bad Code",
            "name": "安全审计员",
            "duty": "business",
            "scope_kind": "institution",
            "permissions": ["auth.add_user"],
        },
    )
    errors = response.context["form"].errors
    assert errors["code"] == ["角色编码须以小写字母开头，只能包含小写字母、数字、下划线和连字符"]
    assert errors["permissions"] == ["功能权限 auth.add_user 不存在"]

    response = client.post(
        reverse("access:role-create"),
        {"code": "dup", "name": "安全审计员", "duty": "business", "scope_kind": "district"},
    )
    assert response.context["form"].non_field_errors() == ["角色名称「安全审计员」已存在"]
    assert not Role.objects.filter(code__in=["dup", "Bad Code"]).exists()


@pytest.mark.req("MR-A8")
def test_changing_a_custom_roles_permissions_takes_effect_for_its_holders_at_once(
    security_admin: Any, make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    role = _custom_role(permissions=("institutions.view_institution",))
    holder = make_staff("clerk-1")
    from jingan.core.access.services import grant_role
    from jingan.core.institutions.models import Institution

    central = Institution.objects.unscoped().get(code="310106001")
    grant_role(actor=None, user=holder, role=role, institution_id=central.pk)
    holder_client = client_for(holder)
    assert holder_client.get(reverse("access:staff-list")).status_code == 403

    response = client_for(security_admin).post(
        reverse("access:role-edit", args=["clerk"]),
        {"permissions": ["institutions.view_institution", "accounts.view_user"]},
    )

    assert response.status_code == 302
    assert role_permission_labels(role) == {"institutions.view_institution", "accounts.view_user"}
    assert holder_client.get(reverse("access:staff-list")).status_code == 200


@pytest.mark.req("MR-A8")
def test_built_in_roles_cannot_be_edited_or_deleted(
    security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    client = client_for(security_admin)
    before = role_permission_labels(Role.objects.get(code="auditor"))

    response = client.get(reverse("access:role-edit", args=["auditor"]), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["内置角色的权限由系统维护，不能修改"]

    response = client.post(
        reverse("access:role-edit", args=["auditor"]), {"permissions": ["accounts.view_user"]}
    )
    assert response.context["form"].non_field_errors() == ["内置角色的权限由系统维护，不能修改"]

    response = client.post(reverse("access:role-delete", args=["auditor"]), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["内置角色不能删除"]
    assert role_permission_labels(Role.objects.get(code="auditor")) == before


@pytest.mark.req("MR-A8")
def test_a_role_in_use_cannot_be_deleted_an_unused_one_can(
    security_admin: Any, make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    make_staff("holder", permissions=("institutions.view_institution",))
    _custom_role()
    client = client_for(security_admin)

    response = client.post(reverse("access:role-delete", args=["test-holder"]), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["仍有 1 个授权使用该角色，请先收回"]
    assert Role.objects.filter(code="test-holder").exists()

    response = client.post(reverse("access:role-delete", args=["clerk"]), follow=True)
    assert response.redirect_chain == [(reverse("access:role-list"), 302)]
    assert [str(m) for m in response.context["messages"]] == ["已删除角色「病案室登记员」"]
    assert not Role.objects.filter(code="clerk").exists()


@pytest.mark.req("SEC-3")
def test_only_district_wide_security_admins_define_roles(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    from jingan.core.institutions.models import Institution

    central = Institution.objects.unscoped().get(code="310106001")
    local = make_staff(
        "local-sec",
        permissions=("access.view_role", "access.add_role", "access.change_role"),
        institution=central,
    )
    _custom_role()
    client = client_for(local)
    assert client.get(reverse("access:role-list")).context["can_add"] is False
    assert client.get(reverse("access:role-create")).status_code == 403
    response = client.post(
        reverse("access:role-edit", args=["clerk"]), {"permissions": ["accounts.view_user"]}
    )
    assert response.status_code == 403
    assert role_permission_labels(Role.objects.get(code="clerk")) == set()
