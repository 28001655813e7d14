from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jingan.core.accounts.models import StaffSession, User
from jingan.core.audit.models import AuditEntry
from jingan.core.institutions.models import Institution

STRONG_PASSWORD = "Ward#Kettle2026"


@pytest.fixture
def central(db: None) -> Institution:
    return Institution.objects.unscoped().get(code="310106001")


@pytest.fixture
def zhabei(db: None) -> Institution:
    return Institution.objects.unscoped().get(code="310106002")


@pytest.fixture
def system_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("sysadmin", roles=("system_admin",), display_name="系统管理员甲")


@pytest.fixture
def security_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("secadmin", roles=("security_admin",), display_name="安全管理员乙")


def _entries(action: str, object_id: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_id=object_id))


# -- creating accounts ------------------------------------------------------------------


@pytest.mark.req("MR-A8")
def test_system_admin_creates_a_user_who_must_change_the_initial_password(
    system_admin: Any, client_for: Callable[[Any], Any], central: Institution
) -> None:
    response = client_for(system_admin).post(
        reverse("access:staff-create"),
        {
            "username": "wang.fang",
            "display_name": "王芳",
            "institution": central.pk,
            "department": "",
            "mobile": "13812345678",
            "email": "",
            "initial_password": STRONG_PASSWORD,
            "confirm_password": STRONG_PASSWORD,
        },
    )

    created = User.objects.get(username="wang.fang")
    assert response.status_code == 302
    assert response["Location"] == reverse("access:staff-detail", args=[created.pk])
    assert created.display_name == "王芳"
    assert created.institution_id == central.pk
    assert created.mobile == "13812345678"
    assert created.must_change_password is True
    assert created.check_password(STRONG_PASSWORD)
    [entry] = _entries("accounts.user.create", str(created.pk))
    assert entry.actor_username == "sysadmin"
    assert entry.institution_id == central.pk


@pytest.mark.req("MR-A8")
def test_a_weak_initial_password_is_refused_with_the_policy_in_chinese(
    system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    response = client_for(system_admin).post(
        reverse("access:staff-create"),
        {
            "username": "li.lei",
            "display_name": "李雷",
            "institution": "",
            "initial_password": "abcdefghijkl",
            "confirm_password": "abcdefghijkl",
        },
    )

    assert response.status_code == 200
    errors = response.context["form"].errors["initial_password"]
    assert (
        "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类（当前仅含：小写字母）。" in errors
    )
    assert not User.objects.filter(username="li.lei").exists()


def test_a_taken_username_and_mismatched_confirmation_are_reported(
    system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    client = client_for(system_admin)
    data = {
        "username": "SysAdmin",
        "display_name": "重复",
        "initial_password": STRONG_PASSWORD,
        "confirm_password": STRONG_PASSWORD,
    }
    response = client.post(reverse("access:staff-create"), data)
    assert response.context["form"].errors["username"] == ["用户名 SysAdmin 已存在"]

    data.update(username="new.one", confirm_password=STRONG_PASSWORD + "x")
    response = client.post(reverse("access:staff-create"), data)
    assert response.context["form"].errors["confirm_password"] == ["两次输入的密码不一致"]
    assert User.objects.count() == 1


@pytest.mark.req("SEC-3")
def test_an_institution_scoped_creator_must_pick_one_of_their_institutions(
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Any],
    central: Institution,
    zhabei: Institution,
) -> None:
    local = make_staff(
        "central-hr", permissions=("accounts.view_user", "accounts.add_user"), institution=central
    )
    client = client_for(local)
    base = {
        "username": "intruder",
        "display_name": "越权",
        "initial_password": STRONG_PASSWORD,
        "confirm_password": STRONG_PASSWORD,
    }
    response = client.post(reverse("access:staff-create"), {**base, "institution": zhabei.pk})
    assert response.context["form"].errors["institution"] == ["请选择您数据范围内的机构"]
    response = client.post(reverse("access:staff-create"), {**base, "institution": ""})
    assert response.context["form"].errors["institution"] == ["此项为必填项"]
    assert not User.objects.filter(username="intruder").exists()

    response = client.post(reverse("access:staff-create"), {**base, "institution": central.pk})
    assert response.status_code == 302
    assert User.objects.get(username="intruder").institution_id == central.pk


def test_a_department_must_belong_to_the_chosen_institution(
    system_admin: Any, client_for: Callable[[Any], Any], central: Institution, zhabei: Institution
) -> None:
    from jingan.core.institutions.models import Department

    ward = Department.objects.create(
        institution=zhabei, code="03", name="内科", category="outpatient"
    )
    response = client_for(system_admin).post(
        reverse("access:staff-create"),
        {
            "username": "zhang.wei",
            "display_name": "张伟",
            "institution": central.pk,
            "department": ward.pk,
            "initial_password": STRONG_PASSWORD,
            "confirm_password": STRONG_PASSWORD,
        },
    )
    assert response.context["form"].errors["department"] == ["所选科室不属于所选机构"]
    assert not User.objects.filter(username="zhang.wei").exists()


# -- list, detail and scope --------------------------------------------------------------


@pytest.mark.req("SEC-3")
def test_an_institution_admin_sees_only_their_institutions_staff(
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Any],
    central: Institution,
    zhabei: Institution,
) -> None:
    admin = make_staff("central-admin", roles=("institution_admin",), institution=central)
    colleague = make_staff("central-nurse", institution=central)
    other = make_staff("zhabei-nurse", institution=zhabei)
    make_staff("district-officer")
    client = client_for(admin)

    response = client.get(reverse("access:staff-list"))
    assert response.status_code == 200
    assert [row.username for row in response.context["rows"]] == [
        "central-admin",
        "central-nurse",
    ]
    assert response.context["counts"]["total"] == 2

    assert client.get(reverse("access:staff-detail", args=[colleague.pk])).status_code == 200
    assert client.get(reverse("access:staff-detail", args=[other.pk])).status_code == 404
    # Filtering by another institution's id does not widen the scope.
    response = client.get(reverse("access:staff-list"), {"institution": zhabei.pk})
    assert list(response.context["rows"]) == []
    # Looking is all an institution administrator does here.
    assert client.get(reverse("access:staff-edit", args=[colleague.pk])).status_code == 403


@pytest.mark.req("MR-A8")
def test_the_list_searches_and_filters_by_institution_role_and_state(
    make_staff: Callable[..., Any],
    system_admin: Any,
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    make_staff(
        "reviewer", roles=("record_room_reviewer",), institution=central, display_name="赵审核"
    )
    make_staff(
        "locked-one", institution=central, locked_until=timezone.now() + timedelta(minutes=10)
    )
    make_staff("gone", is_active=False, display_name="已离职")
    make_staff(
        "bound",
        totp_secret="JBSWY3DPEHPK3PXP",
        totp_confirmed_at=timezone.now(),
    )
    client = client_for(system_admin)

    def usernames(**params: str) -> list[str]:
        response = client.get(reverse("access:staff-list"), params)
        return [row.username for row in response.context["rows"]]

    assert usernames(q="赵") == ["reviewer"]
    assert usernames(q="LOCKED") == ["locked-one"]
    assert usernames(institution=str(central.pk)) == ["locked-one", "reviewer"]
    # Staff without an institution (district, operator) come first.
    assert usernames(institution="none") == ["bound", "gone", "sysadmin"]
    assert usernames(role="record_room_reviewer") == ["reviewer"]
    assert usernames(state="locked") == ["locked-one"]
    assert usernames(state="disabled") == ["gone"]
    assert usernames(state="normal") == ["bound"]
    assert usernames(state="no_totp") == ["gone", "sysadmin", "locked-one", "reviewer"]


@pytest.mark.req("SEC-2")
def test_mobiles_are_shown_masked_in_the_list_and_on_the_detail_page(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff("with-phone", mobile="13912345678")
    client = client_for(system_admin)

    listing = client.get(reverse("access:staff-list")).content.decode()
    detail = client.get(reverse("access:staff-detail", args=[person.pk])).content.decode()

    for page in (listing, detail):
        assert "139****5678" in page
        assert "13912345678" not in page


def test_the_detail_page_lists_roles_and_live_sessions(
    make_staff: Callable[..., Any],
    system_admin: Any,
    client_for: Callable[[Any], Any],
    central: Institution,
) -> None:
    person = make_staff("reviewer", roles=("record_room_reviewer",), institution=central)
    client_for(person)

    response = client_for(system_admin).get(reverse("access:staff-detail", args=[person.pk]))

    assert [(a.role.code, a.institution_id) for a in response.context["assignments"]] == [
        ("record_room_reviewer", central.pk)
    ]
    assert [s.user_id for s in response.context["sessions"]] == [person.pk]
    # No grant form for someone who may not grant, no sign-in history without the audit right.
    assert response.context["can_assign"] is False
    assert response.context["show_events"] is False
    assert 'id="grant-form"' not in response.content.decode()
    assert 'id="sign-in-events"' not in response.content.decode()


def test_sign_in_history_is_shown_to_holders_of_the_audit_permission(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    from jingan.core.accounts.services import record_session_start

    person = make_staff("reviewer")
    record_session_start(user=person, session_key="k" * 32, ip="10.1.2.3", user_agent="测试")
    viewer = make_staff("viewer", permissions=("accounts.view_user", "audit.view_auditentry"))

    response = client_for(viewer).get(reverse("access:staff-detail", args=[person.pk]))

    assert [(e.action, e.title, e.ip) for e in response.context["events"]] == [
        ("auth.login.success", "登录成功", "")
    ]
    assert 'id="sign-in-events"' in response.content.decode()


# -- outsiders ----------------------------------------------------------------------------


def _staff_urls(target: Any) -> list[tuple[str, str]]:
    return [
        ("get", reverse("access:staff-list")),
        ("get", reverse("access:staff-create")),
        ("get", reverse("access:staff-detail", args=[target.pk])),
        ("get", reverse("access:staff-edit", args=[target.pk])),
        ("post", reverse("access:staff-toggle", args=[target.pk])),
        ("post", reverse("access:staff-password", args=[target.pk])),
        ("post", reverse("access:staff-unlock", args=[target.pk])),
        ("post", reverse("access:staff-grant", args=[target.pk])),
        ("post", reverse("access:staff-revoke", args=[target.pk, 1])),
    ]


@pytest.mark.req("SEC-3")
def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(
    make_staff: Callable[..., Any], client: Any
) -> None:
    target = make_staff("target", mobile="13912345678")
    for method, url in _staff_urls(target):
        response = getattr(client, method)(url, {"reason": "x", "new_password": "Aa#12345678901"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/console/login/?next="), url
    target.refresh_from_db()
    assert target.is_active is True
    assert target.check_password("Test#Password2026")


@pytest.mark.req("SEC-3")
def test_staff_without_the_account_permissions_get_403_and_change_nothing(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Any]
) -> None:
    target = make_staff("target")
    outsider = make_staff("ops", permissions=("runtime.view_platform_status",))
    client = client_for(outsider)
    for method, url in _staff_urls(target):
        response = getattr(client, method)(url, {"reason": "离职", "role": "auditor"})
        assert response.status_code == 403, url
    target.refresh_from_db()
    assert target.is_active is True
    assert list(target.role_assignments.all()) == []


@pytest.mark.req("SEC-3")
def test_actions_refuse_get_requests(
    make_staff: Callable[..., Any], security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    target = make_staff("target", locked_until=timezone.now() + timedelta(minutes=10))
    client = client_for(security_admin)
    for url in (
        reverse("access:staff-unlock", args=[target.pk]),
        reverse("access:staff-grant", args=[target.pk]),
    ):
        assert client.get(url).status_code == 405
    target.refresh_from_db()
    assert target.is_locked()


# -- account actions ----------------------------------------------------------------------


@pytest.mark.req("MR-A8")
def test_disabling_a_user_signs_out_their_live_session_at_once(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff("leaver", permissions=("runtime.view_platform_status",))
    their_browser = client_for(person)
    assert their_browser.get("/console/status/").status_code == 200

    response = client_for(system_admin).post(
        reverse("access:staff-toggle", args=[person.pk]), {"reason": "调离本机构"}
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_active is False
    assert person.disabled_reason == "调离本机构"
    assert StaffSession.objects.filter(user=person).count() == 0
    after = their_browser.get("/console/status/")
    assert after.status_code == 302
    assert after["Location"].startswith("/console/login/")
    [entry] = _entries("accounts.user.disable", str(person.pk))
    assert entry.detail_data == {"reason": "调离本机构"}


def test_disabling_needs_a_reason_and_enabling_restores_the_account(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff("leaver")
    client = client_for(system_admin)
    url = reverse("access:staff-toggle", args=[person.pk])

    response = client.post(url, {"reason": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["此项为必填项"]
    person.refresh_from_db()
    assert person.is_active is True

    client.post(url, {"reason": "休假"})
    response = client.post(url)
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.is_active, person.disabled_reason) == (True, "")


def test_an_administrator_cannot_disable_their_own_account(
    system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    client = client_for(system_admin)
    response = client.post(
        reverse("access:staff-toggle", args=[system_admin.pk]), {"reason": "测试"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["不能停用或启用自己的账号"]
    system_admin.refresh_from_db()
    assert system_admin.is_active is True


@pytest.mark.req("MR-A8")
def test_unlocking_clears_the_lockout(
    make_staff: Callable[..., Any], security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff(
        "forgetful", failed_login_count=5, locked_until=timezone.now() + timedelta(minutes=30)
    )
    response = client_for(security_admin).post(reverse("access:staff-unlock", args=[person.pk]))

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.locked_until is None
    assert person.failed_login_count == 0
    assert person.is_locked() is False
    assert len(_entries("accounts.user.unlock", str(person.pk))) == 1


def test_resetting_the_authenticator_forces_a_new_binding(
    make_staff: Callable[..., Any], security_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff(
        "lost-phone", totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=timezone.now()
    )
    their_browser = client_for(person)

    client_for(security_admin).post(
        reverse("access:staff-unlock", args=[person.pk]), {"reset_totp": "1"}
    )

    person.refresh_from_db()
    assert (person.totp_secret, person.totp_confirmed_at, person.has_totp) == ("", None, False)
    assert their_browser.get("/console/").status_code == 302


def test_a_system_admin_cannot_unlock(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff("locked", locked_until=timezone.now() + timedelta(minutes=30))
    response = client_for(system_admin).post(reverse("access:staff-unlock", args=[person.pk]))
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.is_locked()


@pytest.mark.req("MR-A8")
def test_an_administrator_resets_a_password_which_must_then_be_changed(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    person = make_staff("forgot")
    their_browser = client_for(person)
    client = client_for(system_admin)
    url = reverse("access:staff-password", args=[person.pk])

    response = client.post(
        url, {"new_password": "forgot#forgot", "confirm_password": "forgot#forgot"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password"] == [
        "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类（当前仅含：小写字母、特殊字符）。",
        "密码中不能包含用户名。",
    ]

    response = client.post(
        url, {"new_password": STRONG_PASSWORD, "confirm_password": STRONG_PASSWORD}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password(STRONG_PASSWORD)
    assert person.must_change_password is True
    assert their_browser.get("/console/").status_code == 302
    assert len(_entries("accounts.user.password_reset", str(person.pk))) == 1


def test_an_administrator_edits_an_account_within_their_scope(
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Any],
    central: Institution,
    zhabei: Institution,
) -> None:
    editor = make_staff(
        "central-hr",
        permissions=("accounts.view_user", "accounts.change_user"),
        institution=central,
    )
    person = make_staff("nurse", institution=central, display_name="护士")
    client = client_for(editor)
    url = reverse("access:staff-edit", args=[person.pk])

    response = client.post(url, {"display_name": "护士长", "institution": zhabei.pk})
    assert response.context["form"].errors["institution"] == ["请选择您数据范围内的机构"]

    response = client.post(
        url, {"display_name": "护士长", "institution": central.pk, "mobile": "13700001111"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.display_name, person.institution_id, person.mobile) == (
        "护士长",
        central.pk,
        "13700001111",
    )
    [entry] = _entries("accounts.user.update", str(person.pk))
    assert entry.detail_data == {"fields": ["display_name", "mobile"]}


def test_the_list_answers_htmx_searches_with_the_table_alone(
    make_staff: Callable[..., Any], system_admin: Any, client_for: Callable[[Any], Any]
) -> None:
    make_staff("zhou.min", display_name="周敏")
    response = client_for(system_admin).get(
        reverse("access:staff-list"), {"q": "周"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="staff-table">')
    assert "<html" not in html
    assert [row.username for row in response.context["rows"]] == ["zhou.min"]
