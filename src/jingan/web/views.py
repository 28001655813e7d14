"""Pages of the shared surfaces: landing, console frame, resident H5 frame, big screen."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from jingan.core.public import COMPONENT_TITLES, current_resident_summary, platform_health
from jingan.lib.discovery import declared
from jingan.web.navigation import h5_services, surfaces

STATUS_PERMISSION = "runtime.view_platform_status"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    accounts = [account for _, account in declared("demo", "ACCOUNTS")]
    return render(
        request,
        "web/landing.html",
        {"surfaces": surfaces(), "accounts": accounts, "health": platform_health()},
    )


@login_required
@require_GET
def console_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/console/home.html",
        {"breadcrumbs": [("工作台", None)], "health": platform_health()},
    )


@login_required
@permission_required(STATUS_PERMISSION, raise_exception=True)
@require_GET
def console_status(request: HtmxHttpRequest) -> HttpResponse:
    health = platform_health()
    rows = [
        {"name": name, "title": COMPONENT_TITLES.get(name, name), "health": component}
        for name, component in health.components.items()
    ]
    context = {
        "breadcrumbs": [("工作台", "web:console-home"), ("平台运行状态", None)],
        "health": health,
        "rows": rows,
    }
    if request.htmx:
        return render(request, "web/console/status.html#status-table", context)
    return render(request, "web/console/status.html", context)


@require_GET
def h5_home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/h5/home.html", {"services": h5_services(), "tab": "home"})


@require_GET
def h5_me(request: HttpRequest) -> HttpResponse:
    # The resident card (masked) comes from core; the page itself stays generic.
    return render(
        request, "web/h5/me.html", {"tab": "me", "resident": current_resident_summary(request)}
    )


@login_required
@permission_required(STATUS_PERMISSION, raise_exception=True)
@require_GET
def screen_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/screen/platform.html",
        {"health": platform_health(), "titles": COMPONENT_TITLES},
    )
