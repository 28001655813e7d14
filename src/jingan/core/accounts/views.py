"""Staff sign-in: password, then TOTP (or its first binding), then a forced password change if due."""

from __future__ import annotations

import base64
import time

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from jingan.core.accounts import services, sessions
from jingan.core.accounts.models import StaffSession, User
from jingan.core.audit.services import record_event
from jingan.lib.net import client_ip

_EXPIRED_MESSAGES = {
    "idle": "您已超过 30 分钟未操作，为保护数据安全已自动退出，请重新登录。",
    "absolute": "本次登录已超过 12 小时，请重新登录。",
}


class PasswordStepForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=150)
    password = forms.CharField(label="密码", strip=False, widget=forms.PasswordInput)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label="动态口令",
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        error_messages={"invalid": "请输入 6 位数字动态口令。", "required": "请输入动态口令。"},
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(label="当前密码", strip=False, widget=forms.PasswordInput)
    new_password = forms.CharField(label="新密码", strip=False, widget=forms.PasswordInput)
    confirm_password = forms.CharField(label="确认新密码", strip=False, widget=forms.PasswordInput)

    def __init__(self, user: User, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean_current_password(self) -> str:
        value: str = self.cleaned_data["current_password"]
        if not self.user.check_password(value):
            raise forms.ValidationError("当前密码不正确。")
        return value

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        new, confirm = data.get("new_password"), data.get("confirm_password")
        if new and confirm and new != confirm:
            self.add_error("confirm_password", "两次输入的新密码不一致。")
        elif new:
            for message in services.validate_new_password(str(new), self.user):
                self.add_error("new_password", message)
        return data


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _demo_code(user: User) -> str | None:
    """In the embedded demo, the current code of a demo account, so visitors can sign in."""
    if settings.PLATFORM_MODE != "embedded" or not user.has_totp:
        return None
    from jingan.core.accounts.demo import is_demo_account

    if not is_demo_account(user):
        return None
    import pyotp

    return pyotp.TOTP(user.totp_secret).now()


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request, request.GET.get("next")))
    form = PasswordStepForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    notice = _EXPIRED_MESSAGES.get(request.GET.get("expired", ""))
    if request.method == "POST" and form.is_valid():
        try:
            check = services.check_password_step(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                ip=client_ip(request),
                request=request,
            )
        except services.AccountError as error:
            form.add_error(None, error.message)
        else:
            request.session.cycle_key()
            request.session[sessions.PENDING_USER] = check.user_id
            request.session[sessions.PENDING_AT] = time.time()
            request.session[sessions.PENDING_NEXT] = next_url
            if check.needs_enrolment:
                request.session[sessions.PENDING_SECRET] = services.new_totp_secret()
                return redirect("accounts:totp-enrol")
            return redirect("accounts:totp")
    return render(
        request, "accounts/login.html", {"form": form, "next": next_url, "notice": notice}
    )


def _finish_login(request: HttpRequest, user: User) -> HttpResponse:
    next_url = request.session.get(sessions.PENDING_NEXT) or ""
    login(request, user, backend="jingan.core.access.backends.RoleBackend")
    sessions.mark_fully_authenticated(request.session)
    request.session.save()
    services.record_session_start(
        user=user,
        session_key=request.session.session_key or "",
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        request=request,
    )
    if user.must_change_password or user.password_expired():
        return redirect("accounts:password-change")
    return redirect(_safe_next(request, next_url))


def _pending_user(request: HttpRequest) -> User | None:
    user_id = sessions.pending_user_id(request.session)
    if user_id is None:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@never_cache
@require_http_methods(["GET", "POST"])
def totp_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    if not user.has_totp:
        return redirect("accounts:totp-enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = services.check_totp_step(
                user_id=user.pk,
                code=form.cleaned_data["code"],
                ip=client_ip(request),
                request=request,
            )
        except services.AccountError as error:
            form.add_error(None, error.message)
            if error.code == services.ErrorCode.LOCKED:
                request.session.flush()
                return render(
                    request, "accounts/locked.html", {"message": error.message}, status=403
                )
        else:
            return _finish_login(request, verified)
    return render(
        request,
        "accounts/totp.html",
        {"form": form, "staff": user, "demo_code": _demo_code(user)},
    )


def _qr_data_uri(text: str) -> str:
    svg = segno.make(text, error="m").svg_inline(scale=5, border=2, dark="#1d273b")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@never_cache
@require_http_methods(["GET", "POST"])
def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    secret = request.session.get(sessions.PENDING_SECRET)
    if user is None or not secret:
        return redirect("accounts:login")
    if user.has_totp:
        return redirect("accounts:totp")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolled = services.confirm_totp_enrolment(
                user_id=user.pk,
                secret=secret,
                code=form.cleaned_data["code"],
                ip=client_ip(request),
                request=request,
            )
        except services.AccountError as error:
            form.add_error(None, error.message)
        else:
            return _finish_login(request, enrolled)
    uri = services.provisioning_uri(user, secret)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "accounts/totp_enrol.html",
        {"form": form, "staff": user, "qr": _qr_data_uri(uri), "secret": grouped},
    )


@sensitive_post_parameters("current_password", "new_password", "confirm_password")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.change_password(
            actor=user,
            user=user,
            new_password=form.cleaned_data["new_password"],
            current_session_key=request.session.session_key,
            request=request,
        )
        user.refresh_from_db()
        # This session stays valid under the new password hash; every other one has ended.
        update_session_auth_hash(request, user)
        return render(request, "accounts/password_changed.html", {"staff": user})
    reason = (
        "initial" if user.must_change_password else ("expired" if user.password_expired() else "")
    )
    return render(
        request,
        "accounts/password_change.html",
        {
            "form": form,
            "reason": reason,
            "rules": [
                "至少 12 个字符",
                "包含大写字母、小写字母、数字、特殊字符中的至少三类",
                "不能包含用户名或手机号",
                "不能是常见密码，不能与最近 5 次密码相同",
                "密码有效期 90 天，到期须修改",
            ],
        },
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated:
        record_event(
            action="auth.logout",
            actor=user,
            object_type="user",
            object_id=str(user.pk),
            request=request,
        )
        StaffSession.objects.filter(session_key=request.session.session_key).delete()
    logout(request)
    response = redirect("accounts:login")
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response
