"""The unread count in every console page's header (``web/layouts/console.html``)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import HttpRequest

from jingan.core.messaging.services import unread_count_for_staff

BADGE_TEMPLATE = "messaging/partials/badge.html"


def unread(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # A callable: the template calls it only when the badge is rendered, so pages that
    # never show the header (partials, redirects) cost no query.
    return {
        "message_badge_template": BADGE_TEMPLATE,
        "message_unread_count": partial(unread_count_for_staff, user),
    }
