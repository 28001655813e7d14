"""The staff password policy, table-driven, and the forced changes it leads to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from jingan.core.accounts.models import User
from jingan.core.accounts.services import create_user

pytestmark = pytest.mark.django_db


@pytest.mark.req("SEC-3")
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short#1a", "密码长度太短。密码必须包含至少 12 个字符。"),
        (
            "alllowercaseletters",
            "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类（当前仅含：小写字母）。",
        ),
        ("Zhangwei#2026x", "密码中不能包含用户名。"),
        ("Ab#13812341234", "密码中不能包含手机号。"),
        ("1qaz@WSX3edc", "该密码过于常见，容易被猜中，请换一个。"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, message: str) -> None:
    user = User(username="zhangwei", mobile="13812341234")
    with translation.override("zh-hans"):
        with pytest.raises(ValidationError) as refused:
            validate_password(password, user)
        assert message in refused.value.messages


def test_a_good_password_passes() -> None:
    user = User(username="zhangwei", mobile="13812341234")
    assert validate_password("Lan-Ting#Xu2026", user) is None


def test_new_staff_must_change_the_initial_password(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    admin = make_staff("admin", roles=("system_admin",))
    user = create_user(
        actor=admin, username="liming", display_name="李明", initial_password="Initial#Pass2026"
    )
    client = client_for(user)
    assert client.get("/console/")["Location"] == "/console/password/"
    page = client.get("/console/password/").content.decode()
    assert "这是管理员设置的初始密码" in page
    reused = client.post(
        "/console/password/",
        {
            "current_password": "Initial#Pass2026",
            "new_password": "Initial#Pass2026",
            "confirm_password": "Initial#Pass2026",
        },
    )
    assert "新密码不能与最近 5 次使用过的密码相同。" in reused.content.decode()
    done = client.post(
        "/console/password/",
        {
            "current_password": "Initial#Pass2026",
            "new_password": "Gu-Lou#Bridge88",
            "confirm_password": "Gu-Lou#Bridge88",
        },
    )
    assert "密码已修改" in done.content.decode()
    assert client.get("/console/").status_code == 200
    user.refresh_from_db()
    assert not user.must_change_password
    assert user.password_history.count() == 1


def test_passwords_expire_after_ninety_days(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    start = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        user = make_staff("oldtimer")
    with time_machine.travel(start + dt.timedelta(days=91), tick=False):
        client = client_for(user)
        assert client.get("/console/")["Location"] == "/console/password/"
        assert "已使用超过 90 天" in client.get("/console/password/").content.decode()


def test_changing_the_password_ends_the_other_sessions(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    user = make_staff("busy")
    laptop, phone = client_for(user), client_for(user)
    changed = laptop.post(
        "/console/password/",
        {
            "current_password": "Test#Password2026",
            "new_password": "Jade-Buddha#2026",
            "confirm_password": "Jade-Buddha#2026",
        },
    )
    assert "密码已修改" in changed.content.decode()
    assert laptop.get("/console/").status_code == 200
    assert phone.get("/console/").status_code == 302


@pytest.mark.req("SEC-2", "CR-6")
def test_staff_mobiles_and_totp_secrets_are_ciphertext_in_the_database(
    make_staff: Callable[..., Any],
) -> None:
    from django.db import connection

    user = make_staff("withphone", mobile="13912345678")
    user.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    user.save()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT mobile, totp_secret FROM {User._meta.db_table} WHERE id = %s", [user.pk]
        )
        mobile, secret = cursor.fetchone()
    assert "13912345678" not in mobile
    assert "JBSWY3DP" not in secret
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.mobile, fresh.totp_secret) == ("13912345678", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


@pytest.mark.req("CR-1")
def test_passwords_are_hashed_with_pbkdf2_sm3() -> None:
    from django.contrib.auth.hashers import check_password, make_password
    from django.test import override_settings

    with override_settings(
        PASSWORD_HASHERS=["jingan.core.accounts.hashers.PBKDF2SM3PasswordHasher"]
    ):
        encoded = make_password("Lan-Ting#Xu2026", salt="fixedsaltvalue12")
        assert encoded.startswith("pbkdf2_sm3$150000$fixedsaltvalue12$")
        assert check_password("Lan-Ting#Xu2026", encoded)
        assert not check_password("Lan-Ting#Xu2027", encoded)
