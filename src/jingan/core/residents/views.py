"""Resident H5 pages: WeChat sign-in, real-name verification, the resident's own profile."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.residents import services
from jingan.core.residents.auth import (
    get_current_resident,
    log_in_resident,
    log_out_resident,
    resident_required,
)
from jingan.core.residents.forms import VerifyIdentityForm
from jingan.core.residents.gateways import wechat_port
from jingan.integrations.wechat import WeChatError

OAUTH_SESSION_KEY = "_resident_oauth"
OAUTH_STATE_MAX_AGE_SECONDS = 600


def _safe_next(request: HttpRequest, default: str) -> str:
    candidate = request.GET.get("next") or request.POST.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _problem(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "residents/h5/problem.html",
        {"title": title, "message": message, "tab": "me"},
        status=status,
    )


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """Send the resident to WeChat's authorisation page with a state bound to this session."""
    next_url = _safe_next(request, reverse("residents:profile"))
    if get_current_resident(request) is not None:
        return redirect(next_url)
    state = secrets.token_urlsafe(24)
    request.session[OAUTH_SESSION_KEY] = {"state": state, "next": next_url, "at": time.time()}
    callback = request.build_absolute_uri(reverse("residents:login-callback"))
    return redirect(wechat_port().authorize_url(redirect_uri=callback, state=state))


@require_GET
def login_callback(request: HttpRequest) -> HttpResponse:
    """WeChat sends the resident back here with a code; the state must be this session's."""
    pending: dict[str, Any] = request.session.pop(OAUTH_SESSION_KEY, None) or {}
    expected = str(pending.get("state", ""))
    given = request.GET.get("state", "")
    fresh = time.time() - float(pending.get("at", 0)) < OAUTH_STATE_MAX_AGE_SECONDS
    if not expected or not fresh or not secrets.compare_digest(expected, given):
        # Forged, replayed or stale: a login CSRF must not sign anyone in.
        return _problem(
            request, "登录请求已失效", "本次微信登录请求已失效或不是从本页面发起，请重新登录。", 400
        )
    code = request.GET.get("code", "")
    if not code:
        return _problem(
            request, "未完成微信授权", "您已取消微信授权。授权后才能使用个人服务。", 200
        )
    try:
        identity = wechat_port().exchange_code(code)
    except WeChatError as error:
        if error.retryable:
            return _problem(request, "微信登录失败", "微信服务暂时繁忙，请稍后重新登录。", 503)
        return _problem(request, "微信登录失败", "微信授权已过期或无效，请重新登录。", 400)
    resident = services.sign_in_resident(identity=identity, request=request)
    log_in_resident(request, resident)
    next_url = str(pending.get("next") or reverse("residents:profile"))
    if not resident.is_verified and not next_url.startswith(reverse("residents:verify")):
        return redirect(f"{reverse('residents:verify')}?{urlencode({'next': next_url})}")
    return redirect(next_url)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    if resident is not None:
        services.record_resident_logout(actor=resident, request=request)
    log_out_resident(request)
    return redirect("web:h5-me")


@resident_required(verified=False)
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    assert resident is not None
    next_url = _safe_next(request, reverse("residents:profile"))
    if resident.is_verified:
        return redirect(next_url)
    result: services.VerificationResult | None = None
    status = 200
    if request.method == "POST":
        form = VerifyIdentityForm(request.POST, request.FILES)
        if form.is_valid():
            result = services.verify_resident_identity(
                actor=resident,
                name=form.cleaned_data["name"],
                id_number=form.cleaned_data["id_number"],
                mobile=form.cleaned_data["mobile"],
                photo=form.cleaned_data["photo"].read(),
                request=request,
            )
            if result.verified:
                return redirect(next_url)
        else:
            status = 400
    else:
        form = VerifyIdentityForm()
    context = {
        "form": form,
        "result": result,
        "next": next_url,
        "failures_left": max(services.DAILY_FAILURE_LIMIT - services.failures_today(resident), 0),
        "limit": services.DAILY_FAILURE_LIMIT,
        "simulated": settings.SIMULATED_INTEGRATIONS,
        "demo_people": _demo_people() if settings.SIMULATED_INTEGRATIONS else [],
        "resident": resident,
        "tab": "me",
    }
    return render(request, "residents/h5/verify.html", context, status=status)


def _demo_people() -> list[Any]:
    """Register entries no demo WeChat user has taken, for trying the flow as a new user."""
    from jingan.core.residents.demo import unbound_demo_people

    return unbound_demo_people()[:3]


@resident_required
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    resident = get_current_resident(request)
    return render(request, "residents/h5/profile.html", {"resident": resident, "tab": "me"})
