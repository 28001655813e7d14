"""Staff sign-in and account lifecycle: password + TOTP, lockout, throttle, sessions."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jingan.core.accounts.models import (
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    PasswordHistory,
    StaffSession,
    User,
)
from jingan.core.accounts.passwords import HISTORY_DEPTH
from jingan.core.audit.services import record_event

logger = logging.getLogger(__name__)

TOTP_ISSUER = "健康静安"
# Failures from one address before it must wait, whoever the accounts were.
IP_FAILURE_LIMIT = 20
IP_FAILURE_WINDOW_SECONDS = 15 * 60


class ErrorCode(enum.StrEnum):
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    THROTTLED = "throttled"
    BAD_CODE = "bad_code"
    CODE_REUSED = "code_reused"
    NOT_ALLOWED = "not_allowed"
    INVALID_PASSWORD = "invalid_password"
    DUPLICATE = "duplicate"


class AccountError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, locked_until: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.locked_until = locked_until


@dataclass(frozen=True)
class PasswordCheck:
    """The first factor passed; the second is still to come."""

    user_id: int
    needs_enrolment: bool


# -- throttle --------------------------------------------------------------------------------


def _ip_key(ip: str) -> str:
    return f"login-failures-ip:{ip}"


def ip_throttled(ip: str) -> bool:
    return int(cache.get(_ip_key(ip), 0)) >= IP_FAILURE_LIMIT


def _count_ip_failure(ip: str) -> None:
    key = _ip_key(ip)
    if cache.add(key, 1, IP_FAILURE_WINDOW_SECONDS):
        return
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, IP_FAILURE_WINDOW_SECONDS)


# -- first factor ------------------------------------------------------------------------------


def _lock_message(user: User) -> str:
    until = timezone.localtime(user.locked_until).strftime("%H:%M")
    return f"连续登录失败次数过多，账号已锁定，请于 {until} 后重试或联系安全管理员解锁。"


def _register_failure(user: User, *, ip: str, step: str, request: Any) -> AccountError:
    """One more failure for the account (and the address); lock at the threshold."""
    _count_ip_failure(ip)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
        user.refresh_from_db(fields=["failed_login_count", "locked_until"])
        record_event(
            action=f"auth.{step}.failure",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            outcome="failure",
            detail={"failures": user.failed_login_count},
            request=request,
        )
        if user.failed_login_count >= LOCKOUT_THRESHOLD:
            user.locked_until = timezone.now() + LOCKOUT_DURATION
            user.save(update_fields=["locked_until"])
            record_event(
                action="auth.lockout",
                actor=user,
                object_type="user",
                object_id=str(user.pk),
                outcome="denied",
                detail={"until": user.locked_until.isoformat()},
                request=request,
            )
            return AccountError(
                ErrorCode.LOCKED, _lock_message(user), locked_until=user.locked_until
            )
    if step == "totp":
        return AccountError(ErrorCode.BAD_CODE, "动态口令错误，请核对后重新输入。")
    return AccountError(ErrorCode.BAD_CREDENTIALS, "用户名或密码错误。")


def check_password_step(
    *, username: str, password: str, ip: str, request: Any = None
) -> PasswordCheck:
    """Verify the password: generic errors, account lockout, per-address throttle."""
    if ip_throttled(ip):
        record_event(
            action="auth.throttled",
            outcome="denied",
            detail={"username": username[:64]},
            request=request,
        )
        raise AccountError(ErrorCode.THROTTLED, "该网络地址登录失败次数过多，请 15 分钟后再试。")
    user = User.objects.filter(username__iexact=username.strip()).first()
    if user is None or not user.is_active:
        _count_ip_failure(ip)
        User().set_password(password)  # same work as a real check, so timing tells nothing
        record_event(
            action="auth.password.failure",
            outcome="failure",
            detail={"username": username[:64], "reason": "unknown_or_disabled"},
            request=request,
        )
        raise AccountError(ErrorCode.BAD_CREDENTIALS, "用户名或密码错误。")
    if user.is_locked():
        record_event(
            action="auth.password.failure",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            outcome="denied",
            detail={"reason": "locked"},
            request=request,
        )
        raise AccountError(ErrorCode.LOCKED, _lock_message(user), locked_until=user.locked_until)
    if not user.check_password(password):
        raise _register_failure(user, ip=ip, step="password", request=request)
    return PasswordCheck(user_id=user.pk, needs_enrolment=not user.has_totp)


# -- second factor -------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, at: float) -> int | None:
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(at // totp.interval)
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def check_totp_step(*, user_id: int, code: str, ip: str, request: Any = None) -> User:
    """Verify the TOTP code of a user who passed the password; single use, same lockout."""
    user = User.objects.get(pk=user_id)
    if not user.is_active:
        raise AccountError(ErrorCode.BAD_CREDENTIALS, "账号已停用。")
    if user.is_locked():
        raise AccountError(ErrorCode.LOCKED, _lock_message(user), locked_until=user.locked_until)
    step = _matching_step(user.totp_secret, code, time.time()) if user.has_totp else None
    if step is None:
        raise _register_failure(user, ip=ip, step="totp", request=request)
    claimed = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(
        totp_last_step=step, failed_login_count=0, locked_until=None
    )
    if not claimed:
        record_event(
            action="auth.totp.failure",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            outcome="failure",
            detail={"reason": "reused"},
            request=request,
        )
        raise AccountError(ErrorCode.CODE_REUSED, "该动态口令已使用过，请等待下一个口令。")
    user.refresh_from_db()
    return user


def confirm_totp_enrolment(
    *, user_id: int, secret: str, code: str, ip: str, request: Any = None
) -> User:
    """Bind a new authenticator after the password step, proven by one valid code."""
    user = User.objects.get(pk=user_id)
    if user.has_totp:
        raise AccountError(ErrorCode.NOT_ALLOWED, "该账号已绑定动态口令。")
    step = _matching_step(secret, code, time.time())
    if step is None:
        raise _register_failure(user, ip=ip, step="totp", request=request)
    with transaction.atomic():
        user.totp_secret = secret
        user.totp_confirmed_at = timezone.now()
        user.totp_last_step = step
        user.failed_login_count = 0
        user.save(
            update_fields=[
                "totp_secret",
                "totp_confirmed_at",
                "totp_last_step",
                "failed_login_count",
            ]
        )
        record_event(
            action="auth.totp.enrol",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            request=request,
        )
    return user


# -- sessions -------------------------------------------------------------------------------------


def record_session_start(
    *, user: User, session_key: str, ip: str, user_agent: str, request: Any = None
) -> None:
    with transaction.atomic():
        StaffSession.objects.update_or_create(
            session_key=session_key,
            defaults={"user": user, "ip": ip or None, "user_agent": user_agent[:255]},
        )
        record_event(
            action="auth.login.success",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            request=request,
        )


def end_sessions(*, user: User, keep_session_key: str | None = None) -> int:
    """Delete the user's server-side sessions (all, or all but the current one)."""
    rows = StaffSession.objects.filter(user=user)
    if keep_session_key:
        rows = rows.exclude(session_key=keep_session_key)
    keys = list(rows.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    rows.delete()
    return len(keys)


# -- passwords ------------------------------------------------------------------------------------


def change_password(
    *,
    actor: User,
    user: User,
    new_password: str,
    current_session_key: str | None = None,
    request: Any = None,
) -> None:
    """Set a new password that passes the policy; other sessions end (ASVS 7.4.3)."""
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        if user.password:
            PasswordHistory.objects.create(user=user, password=user.password)
        stale = user.password_history.values_list("pk", flat=True)[HISTORY_DEPTH:]
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.must_change_password = actor.pk != user.pk
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])
        record_event(
            action="auth.password.change"
            if actor.pk == user.pk
            else "accounts.user.password_reset",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            request=request,
        )
    end_sessions(user=user, keep_session_key=current_session_key if actor.pk == user.pk else None)


def validate_new_password(password: str, user: User) -> list[str]:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        return list(error.messages)
    return []


# -- account lifecycle (system administrators; scope-checked by the views) -------------------------


def create_user(
    *,
    actor: User,
    username: str,
    display_name: str,
    initial_password: str,
    institution_id: int | None = None,
    department_id: int | None = None,
    mobile: str = "",
    email: str = "",
    request: Any = None,
) -> User:
    """A new staff account; the initial password must be changed at first sign-in."""
    if User.objects.filter(username__iexact=username.strip()).exists():
        raise AccountError(ErrorCode.DUPLICATE, f"用户名 {username} 已存在")
    user = User(
        username=username.strip(),
        display_name=display_name,
        institution_id=institution_id,
        department_id=department_id,
        mobile=mobile,
        email=email,
        is_staff=True,
        must_change_password=True,
    )
    password_validation.validate_password(initial_password, user)
    with transaction.atomic():
        user.set_password(initial_password)
        user.password_changed_at = timezone.now()
        user.save()
        record_event(
            action="accounts.user.create",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            institution_id=institution_id,
            detail={"username": user.username},
            request=request,
        )
    return user


def update_user(*, actor: User, user: User, request: Any = None, **changes: Any) -> User:
    allowed = {"display_name", "institution_id", "department_id", "mobile", "email"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    from jingan.core.access.grants import institution_ids_for

    scope = institution_ids_for(actor, "accounts.change_user")
    targets = {user.institution_id, changes.get("institution_id", user.institution_id)}
    if scope is not None and not targets <= scope:
        raise AccountError(ErrorCode.NOT_ALLOWED, "该工作人员或所选机构不在您的管理范围内")
    with transaction.atomic():
        for name, value in changes.items():
            setattr(user, name, value)
        user.save()
        record_event(
            action="accounts.user.update",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            institution_id=user.institution_id,
            detail={"fields": sorted(changes)},
            request=request,
        )
    return user


def set_user_active(
    *, actor: User, user: User, active: bool, reason: str = "", request: Any = None
) -> None:
    """Disable (ending every session at once) or re-enable a staff account."""
    if actor.pk == user.pk:
        raise AccountError(ErrorCode.NOT_ALLOWED, "不能停用或启用自己的账号")
    with transaction.atomic():
        user.is_active = active
        user.disabled_reason = "" if active else reason
        user.save(update_fields=["is_active", "disabled_reason"])
        record_event(
            action="accounts.user.enable" if active else "accounts.user.disable",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            institution_id=user.institution_id,
            detail={"reason": reason} if reason else None,
            request=request,
        )
    if not active:
        end_sessions(user=user)


def unlock_user(*, actor: User, user: User, reset_totp: bool = False, request: Any = None) -> None:
    """Lift a lockout (and optionally require a new authenticator binding)."""
    if actor.pk == user.pk:
        raise AccountError(ErrorCode.NOT_ALLOWED, "不能解锁自己的账号")
    with transaction.atomic():
        user.failed_login_count = 0
        user.locked_until = None
        fields = ["failed_login_count", "locked_until"]
        if reset_totp:
            user.totp_secret = ""
            user.totp_confirmed_at = None
            fields += ["totp_secret", "totp_confirmed_at"]
        user.save(update_fields=fields)
        record_event(
            action="accounts.user.unlock",
            actor=actor,
            object_type="user",
            object_id=str(user.pk),
            detail={"reset_totp": reset_totp},
            request=request,
        )
    if reset_totp:
        end_sessions(user=user)
