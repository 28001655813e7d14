"""Resident sessions, separate from staff authentication: the resident id lives in the session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from jingan.core.residents.models import Resident

SESSION_KEY = "_resident_id"
_CACHE_ATTRIBUTE = "_cached_resident"


def get_current_resident(request: HttpRequest) -> Resident | None:
    """The resident signed in on this request's session, or None."""
    if hasattr(request, _CACHE_ATTRIBUTE):
        return getattr(request, _CACHE_ATTRIBUTE)
    resident = None
    session = getattr(request, "session", None)
    resident_id = session.get(SESSION_KEY) if session is not None else None
    if isinstance(resident_id, int):
        resident = Resident.objects.filter(pk=resident_id).first()
    setattr(request, _CACHE_ATTRIBUTE, resident)
    return resident


def log_in_resident(request: HttpRequest, resident: Resident) -> None:
    # A new session key on every sign-in defeats session fixation.
    request.session.cycle_key()
    request.session[SESSION_KEY] = resident.pk
    setattr(request, _CACHE_ATTRIBUTE, resident)


def log_out_resident(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    setattr(request, _CACHE_ATTRIBUTE, None)


def _to(url_name: str, request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse(url_name)}?{urlencode({'next': request.get_full_path()})}")


def resident_required(
    view: Callable[..., HttpResponse] | None = None, *, verified: bool = True
) -> Any:
    """Only signed-in residents (and, by default, only real-name verified ones) pass.

    Not signed in: off to WeChat sign-in. Signed in but not verified: off to the
    real-name page. Either way the resident comes back to the page asked for.
    """

    def decorate(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(function)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            resident = get_current_resident(request)
            if resident is None:
                return _to("residents:login", request)
            if verified and not resident.is_verified:
                return _to("residents:verify", request)
            return function(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
