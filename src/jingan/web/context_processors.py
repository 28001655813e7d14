"""Template context every page gets: the sidebar for staff, the platform's name and mode."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jingan.web.navigation import console_menu

PLATFORM_NAME = "健康静安 · 便捷就医"


def platform(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    context: dict[str, Any] = {
        "platform_name": PLATFORM_NAME,
        "platform_mode": settings.PLATFORM_MODE,
    }
    if user is not None and user.is_authenticated and request.path.startswith("/console/"):
        context["console_menu"] = console_menu(user, request.path)
    return context
