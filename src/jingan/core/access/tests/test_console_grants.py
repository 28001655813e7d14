from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from jingan.core.access.grants import institution_ids_for
from jingan.core.access.models import Role, RoleAssignment
from jingan.core.accounts.models import User
from jingan.core.audit.models import AuditEntry
from jingan.core.institutions.models import Institution


@pytest.fixture
def central(db: None) -> Institution:
    return Institution.objects.unscoped().get(code="310106001")


@pytest.fixture
def zhabei(db: None) -> Institution:
    return Institution.objects.unscoped().get(code="310106002")


@pytest.fixture
def security_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("secadmin", roles=("security_admin",))


@pytest.fixture
def newcomer(make_staff: Callable[..., Any], central: Institution) -> Any:
    return make_staff("newcomer", institution=central, display_name="新同事")


def _held(user: Any) -> list[tuple[str, int | None]]:
    return sorted(
        RoleAssignment.objects.filter(user=user).values_list("role__code", "institution_id")
    )


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.req("MR-A8")
def test_a_security_admin_grants_an_institution_role_which_applies_at_once(
    security_admin: Any,
    newcomer: Any,
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    their_browser = client_for(newcomer)
    assert their_browser.get(reverse("institutions:list")).status_code == 403

    response = client_for(security_admin).post(
        reverse("access:staff-grant", args=[newcomer.pk]),
        {"role": "record_room_reviewer", "institution": central.pk},
        follow=True,
    )

    assert _messages(response) == [f"已授予「病案室审核员」（{central.name}），立即生效"]
    holder = User.objects.get(pk=newcomer.pk)
    assert holder.has_perm("institutions.view_department") is True
    assert institution_ids_for(holder, "institutions.view_department") == frozenset({central.pk})
    assert _held(holder) == [("record_room_reviewer", central.pk)]
    entry = AuditEntry.objects.get(action="access.role.grant", object_id=str(newcomer.pk))
    assert (entry.actor_username, entry.institution_id) == ("secadmin", central.pk)
    # The holder's next request already carries the new permission.
    assert their_browser.get(reverse("institutions:list")).status_code == 200


@pytest.mark.req("MR-A8")
def test_an_institution_role_needs_an_institution_and_a_district_role_ignores_one(
    security_admin: Any,
    newcomer: Any,
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    client = client_for(security_admin)
    url = reverse("access:staff-grant", args=[newcomer.pk])

    response = client.post(url, {"role": "record_room_reviewer", "institution": ""}, follow=True)
    assert _messages(response) == ["数据范围（机构）：角色「病案室审核员」须指定机构"]
    assert _held(newcomer) == []

    client.post(url, {"role": "district_regulator", "institution": central.pk})
    assert _held(newcomer) == [("district_regulator", None)]


@pytest.mark.req("SEC-3")
def test_a_security_admin_cannot_grant_themselves_a_role(
    security_admin: Any, client_for: Callable[[Any], Any], central: Institution
) -> None:
    client = client_for(security_admin)
    page = client.get(reverse("access:staff-detail", args=[security_admin.pk]))
    assert page.context["can_assign"] is False
    assert "不能给自己授予或收回角色" in page.content.decode()

    response = client.post(
        reverse("access:staff-grant", args=[security_admin.pk]),
        {"role": "record_room_reviewer", "institution": central.pk},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response.context["problem"] == "不能给自己授予角色"
    assert '<div class="alert alert-danger m-3 mb-0" role="alert" id="grant-problem">' in (
        response.content.decode()
    )
    assert _held(security_admin) == [("security_admin", None)]
    assert not AuditEntry.objects.filter(
        action="access.role.grant", actor_username="secadmin"
    ).exists()


@pytest.mark.req("SEC-3")
def test_granting_auditor_to_a_system_admin_is_refused_by_the_separation_of_duties(
    security_admin: Any, make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    operator = make_staff("sysadmin", roles=("system_admin",))

    response = client_for(security_admin).post(
        reverse("access:staff-grant", args=[operator.pk]), {"role": "auditor"}, follow=True
    )

    assert _messages(response) == ["三权分立：系统管理、安全审计 不能由同一人兼任"]
    assert _held(operator) == [("system_admin", None)]
    assert User.objects.get(pk=operator.pk).has_perm("audit.view_auditentry") is False


@pytest.mark.req("SEC-3")
def test_over_htmx_the_roles_card_is_returned_with_the_refusal_or_the_new_grant(
    security_admin: Any, newcomer: Any, client_for: Callable[[Any], Any], central: Institution
) -> None:
    client = client_for(security_admin)
    url = reverse("access:staff-grant", args=[newcomer.pk])

    response = client.post(
        url, {"role": "record_room_reviewer", "institution": central.pk}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="card" id="roles">')
    assert "<html" not in html
    assert response.context["notice"] == f"已授予「病案室审核员」（{central.name}），立即生效"

    response = client.post(url, {"role": "record_room_reviewer"}, HTTP_HX_REQUEST="true")
    assert response.context["grant_form"].errors == {
        "institution": ["角色「病案室审核员」须指定机构"]
    }
    assert "角色「病案室审核员」须指定机构</div>" in response.content.decode()

    response = client.post(url, {"role": "security_admin"}, HTTP_HX_REQUEST="true")
    assert response.context["problem"] == "三权分立：安全管理、业务 不能由同一人兼任"
    assert _held(newcomer) == [("record_room_reviewer", central.pk)]


@pytest.mark.req("MR-A8")
def test_revoking_takes_the_permission_away_at_once(
    security_admin: Any,
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    holder = make_staff("reviewer", roles=("record_room_reviewer",), institution=central)
    assignment = RoleAssignment.objects.get(user=holder)
    their_browser = client_for(holder)
    assert their_browser.get(reverse("institutions:list")).status_code == 200

    response = client_for(security_admin).post(
        reverse("access:staff-revoke", args=[holder.pk, assignment.pk]), follow=True
    )

    assert _messages(response) == [f"已收回「病案室审核员」（{central.name}），立即生效"]
    assert _held(holder) == []
    assert User.objects.get(pk=holder.pk).has_perm("institutions.view_department") is False
    assert their_browser.get(reverse("institutions:list")).status_code == 403


@pytest.mark.req("SEC-3")
def test_an_assignment_of_someone_else_cannot_be_revoked_through_another_users_url(
    security_admin: Any,
    make_staff: Callable[..., Any],
    newcomer: Any,
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    holder = make_staff("reviewer", roles=("record_room_reviewer",), institution=central)
    assignment = RoleAssignment.objects.get(user=holder)

    response = client_for(security_admin).post(
        reverse("access:staff-revoke", args=[newcomer.pk, assignment.pk])
    )

    assert response.status_code == 404
    assert _held(holder) == [("record_room_reviewer", central.pk)]


@pytest.mark.req("SEC-3")
def test_an_institution_scoped_assigner_stays_within_their_institution(
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Any],
    central: Institution,
    zhabei: Institution,
) -> None:
    local = make_staff(
        "central-sec",
        permissions=("access.assign_role", "accounts.view_user"),
        institution=central,
    )
    colleague = make_staff("central-nurse", institution=central)
    regulator = make_staff("regulator", roles=("district_regulator",), institution=central)
    other = make_staff("zhabei-nurse", institution=zhabei)
    client = client_for(local)

    # Other institutions' staff do not exist for them.
    response = client.post(
        reverse("access:staff-grant", args=[other.pk]),
        {"role": "record_room_reviewer", "institution": zhabei.pk},
    )
    assert response.status_code == 404
    # Only their own institution can be chosen as the data scope.
    response = client.post(
        reverse("access:staff-grant", args=[colleague.pk]),
        {"role": "record_room_reviewer", "institution": zhabei.pk},
        follow=True,
    )
    assert _messages(response) == ["数据范围（机构）：请选择您数据范围内的机构"]
    # District-wide roles are granted and taken back only by district-wide administrators.
    response = client.post(
        reverse("access:staff-grant", args=[colleague.pk]),
        {"role": "district_regulator"},
        follow=True,
    )
    assert _messages(response) == ["只有全区授权管理员可以授予全区角色"]
    district_grant = RoleAssignment.objects.get(user=regulator)
    response = client.post(
        reverse("access:staff-revoke", args=[regulator.pk, district_grant.pk]), follow=True
    )
    assert _messages(response) == ["只有全区授权管理员可以收回全区角色"]
    assert _held(colleague) == []
    assert _held(other) == []
    assert _held(regulator) == [("district_regulator", None)]

    response = client.post(
        reverse("access:staff-grant", args=[colleague.pk]),
        {"role": "record_room_reviewer", "institution": central.pk},
    )
    assert _held(colleague) == [("record_room_reviewer", central.pk)]


@pytest.mark.req("SEC-3")
def test_a_system_admin_cannot_grant_or_revoke(
    make_staff: Callable[..., Any], newcomer: Any, client_for: Callable[[Any], Any]
) -> None:
    operator = make_staff("sysadmin", roles=("system_admin",))
    client = client_for(operator)
    page = client.get(reverse("access:staff-detail", args=[newcomer.pk]))
    assert page.context["can_assign"] is False
    assert 'id="grant-form"' not in page.content.decode()

    response = client.post(
        reverse("access:staff-grant", args=[operator.pk]), {"role": "security_admin"}
    )
    assert response.status_code == 403
    own = RoleAssignment.objects.get(user=operator)
    response = client.post(reverse("access:staff-revoke", args=[operator.pk, own.pk]))
    assert response.status_code == 403
    assert _held(operator) == [("system_admin", None)]
    assert Role.objects.get(code="security_admin").assignments.count() == 0
