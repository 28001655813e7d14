"""ASGI entry: HTTP through Django, websockets through Channels routes the contexts declare.

A context exposes ``WEBSOCKETS = [path(...), ...]`` in its ``routing.py``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingan.config.settings")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from jingan.lib.discovery import declared  # noqa: E402

websocket_routes = [route for _, route in declared("routing", "WEBSOCKETS")]

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes))),
    }
)
