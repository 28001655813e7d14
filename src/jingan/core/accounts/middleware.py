"""Staff session rules on every request: second factor, idle and absolute limits, expired passwords."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from jingan.core.accounts import sessions
from jingan.core.accounts.models import StaffSession
from jingan.core.audit.services import record_event

# Reachable while a password change is due.
_PASSWORD_CHANGE_EXEMPT = ("accounts:password-change", "accounts:logout")
_TOUCH_EVERY_SECONDS = 60


class StaffSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        if not session.get(sessions.SECOND_FACTOR):
            logout(request)
            return redirect(f"{reverse('accounts:login')}?next={request.get_full_path()}")
        idle = now - float(session.get(sessions.LAST_SEEN, 0))
        age = now - float(session.get(sessions.AUTHENTICATED_AT, 0))
        if (
            idle > settings.STAFF_SESSION_IDLE_SECONDS
            or age > settings.STAFF_SESSION_ABSOLUTE_SECONDS
        ):
            reason = "idle" if idle > settings.STAFF_SESSION_IDLE_SECONDS else "absolute"
            record_event(
                action="auth.session.expired",
                actor=user,
                object_type="user",
                object_id=str(user.pk),
                detail={"reason": reason},
                request=request,
            )
            StaffSession.objects.filter(session_key=session.session_key).delete()
            logout(request)
            return redirect(f"{reverse('accounts:login')}?expired={reason}")
        if now - float(session.get(sessions.LAST_SEEN, 0)) > _TOUCH_EVERY_SECONDS:
            session[sessions.LAST_SEEN] = now
            StaffSession.objects.filter(session_key=session.session_key).update(
                last_seen_at=timezone.now()
            )
        if getattr(user, "must_change_password", False) or user.password_expired():
            exempt = {reverse(name) for name in _PASSWORD_CHANGE_EXEMPT}
            if request.path not in exempt and not request.path.startswith("/static/"):
                return redirect("accounts:password-change")
        return self.get_response(request)
