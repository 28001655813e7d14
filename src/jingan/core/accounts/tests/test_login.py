"""Staff sign-in through HTTP: password then TOTP, lockout, throttle, sessions, password policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from jingan.core.accounts.models import StaffSession, User
from jingan.core.accounts.services import set_user_active, unlock_user
from jingan.core.audit.models import AuditEntry
from jingan.testing.fixtures import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
START = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def doctor(make_staff: Callable[..., Any]) -> User:
    user: User = make_staff("doctor", permissions=("runtime.view_platform_status",))
    user.totp_secret = SECRET
    user.totp_confirmed_at = timezone.now()
    user.save()
    return user


def _code(at: dt.datetime) -> str:
    return pyotp.TOTP(SECRET).at(at)


def _password_step(
    client: Client, username: str = "doctor", password: str = DEFAULT_PASSWORD, **extra: Any
) -> Any:
    return client.post("/console/login/", {"username": username, "password": password}, **extra)


def _actions(**filters: Any) -> list[str]:
    return list(
        AuditEntry.objects.filter(**filters).order_by("sequence").values_list("action", flat=True)
    )


@pytest.mark.req("CR-1", "SEC-3")
def test_staff_need_password_and_totp_before_any_console_page(doctor: User) -> None:
    client = Client()
    with time_machine.travel(START, tick=False):
        first = _password_step(client)
        assert first.status_code == 302
        assert first["Location"] == "/console/login/verify/"
        # The password alone opens nothing.
        assert client.get("/console/").status_code == 302
        wrong = client.post("/console/login/verify/", {"code": "000000"})
        assert "动态口令错误" in wrong.content.decode()
        done = client.post("/console/login/verify/", {"code": _code(START)})
    assert done.status_code == 302
    assert done["Location"] == "/console/"
    with time_machine.travel(START + dt.timedelta(seconds=5), tick=False):
        assert client.get("/console/").status_code == 200
    assert _actions(actor_id=doctor.pk) == ["auth.totp.failure", "auth.login.success"]
    assert StaffSession.objects.filter(user=doctor).count() == 1


def test_a_totp_code_works_only_once(doctor: User) -> None:
    with time_machine.travel(START, tick=False):
        first = Client()
        _password_step(first)
        assert first.post("/console/login/verify/", {"code": _code(START)}).status_code == 302
        second = Client()
        _password_step(second)
        replay = second.post("/console/login/verify/", {"code": _code(START)})
    assert "该动态口令已使用过" in replay.content.decode()


def test_first_sign_in_binds_an_authenticator_with_a_qr_code(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff("newcomer")
    client = Client()
    step = _password_step(client, "newcomer")
    assert step["Location"] == "/console/login/enrol/"
    page = client.get("/console/login/enrol/").content.decode()
    assert 'src="data:image/svg+xml;base64,' in page
    secret = client.session["jingan.pending_totp_secret"]
    done = client.post("/console/login/enrol/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.has_totp
    assert user.totp_secret == secret
    assert "auth.totp.enrol" in _actions(actor_id=user.pk)


@pytest.mark.req("SEC-3")
def test_five_failures_lock_the_account_for_thirty_minutes(doctor: User) -> None:
    client = Client()
    with time_machine.travel(START, tick=False):
        for _ in range(5):
            response = _password_step(client, password="Wrong#Password2026")
        assert "账号已锁定" in response.content.decode()
        # The sixth attempt, with the right password, is refused as well.
        refused = _password_step(client)
        assert refused.status_code == 200
        assert "账号已锁定" in refused.content.decode()
    doctor.refresh_from_db()
    assert doctor.locked_until == START + dt.timedelta(minutes=30)
    assert _actions(actor_id=doctor.pk).count("auth.lockout") == 1
    with time_machine.travel(START + dt.timedelta(minutes=31), tick=False):
        assert _password_step(Client())["Location"] == "/console/login/verify/"


def test_totp_failures_count_towards_the_same_lockout(doctor: User) -> None:
    client = Client()
    with time_machine.travel(START, tick=False):
        _password_step(client)
        for _ in range(4):
            client.post("/console/login/verify/", {"code": "123456"})
        locked = client.post("/console/login/verify/", {"code": "654321"})
    assert locked.status_code == 403
    assert "账号已锁定" in locked.content.decode()


def test_a_security_administrator_can_unlock(doctor: User, make_staff: Callable[..., Any]) -> None:
    security = make_staff("security", roles=("security_admin",))
    doctor.failed_login_count = 5
    doctor.locked_until = timezone.now() + dt.timedelta(minutes=20)
    doctor.save()
    unlock_user(actor=security, user=doctor)
    doctor.refresh_from_db()
    assert (doctor.failed_login_count, doctor.locked_until) == (0, None)
    assert _password_step(Client())["Location"] == "/console/login/verify/"


@override_settings(TRUSTED_PROXIES=("10.0.0.0/8",))
def test_per_address_throttle_uses_the_real_client_behind_the_proxy(
    make_staff: Callable[..., Any],
) -> None:
    for index in range(7):
        make_staff(f"user{index}")
    attacker = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    for attempt in range(20):
        _password_step(Client(), f"user{attempt % 7}", "Wrong#Password2026", **attacker)
    throttled = _password_step(Client(), "user0", DEFAULT_PASSWORD, **attacker)
    assert "该网络地址登录失败次数过多" in throttled.content.decode()
    # Another resident of the same proxy is not locked out with the attacker.
    colleague = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.8"}
    assert _password_step(Client(), "user0", DEFAULT_PASSWORD, **colleague).status_code == 302


@pytest.mark.req("SEC-3")
def test_idle_sessions_end_after_thirty_minutes(
    doctor: User, client_for: Callable[[Any], Client]
) -> None:
    with time_machine.travel(START, tick=False):
        client = client_for(doctor)
        assert client.get("/console/").status_code == 200
    with time_machine.travel(START + dt.timedelta(minutes=29), tick=False):
        assert client.get("/console/").status_code == 200
    with time_machine.travel(START + dt.timedelta(minutes=60), tick=False):
        expired = client.get("/console/")
    assert expired["Location"] == "/console/login/?expired=idle"
    assert "auth.session.expired" in _actions(actor_id=doctor.pk)


def test_sessions_end_after_twelve_hours_even_when_busy(
    doctor: User, client_for: Callable[[Any], Client]
) -> None:
    with time_machine.travel(START, tick=False):
        client = client_for(doctor)
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(START + dt.timedelta(minutes=minutes), tick=False):
            assert client.get("/console/").status_code == 200
    with time_machine.travel(START + dt.timedelta(hours=12, minutes=1), tick=False):
        assert client.get("/console/")["Location"] == "/console/login/?expired=absolute"


@pytest.mark.req("SEC-3")
def test_disabling_a_user_ends_their_sessions(
    doctor: User, make_staff: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    admin = make_staff("admin", roles=("system_admin",))
    client = client_for(doctor)
    assert client.get("/console/").status_code == 200
    set_user_active(actor=admin, user=doctor, active=False, reason="离职")
    assert client.get("/console/").status_code == 302
    assert not StaffSession.objects.filter(user=doctor).exists()
    assert _password_step(Client()).status_code == 200


def test_logout_deletes_the_server_session(
    doctor: User, client_for: Callable[[Any], Client]
) -> None:
    client = client_for(doctor)
    key = client.session.session_key
    response = client.post("/console/logout/")
    assert response["Location"] == "/console/login/"
    assert response["Clear-Site-Data"] == '"cache", "storage"'
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/console/").status_code == 302


def test_a_session_without_the_second_factor_is_refused(doctor: User) -> None:
    client = Client()
    client.force_login(doctor, backend="jingan.core.access.backends.RoleBackend")
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")
