"""Root URLs: health, the API, then each app's own ``urls.py`` (pages under their own prefix)."""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import apps
from django.urls import URLPattern, URLResolver, include, path

from jingan.config.api import api
from jingan.core.runtime.views import healthz


def _app_urls() -> list[URLPattern | URLResolver]:
    """Every installed jingan app with a ``urls.py`` (its own ``app_name`` and full paths)."""
    found: list[URLPattern | URLResolver] = []
    for config in apps.get_app_configs():
        if not config.name.startswith("jingan.") or config.name == "jingan.web":
            continue
        module_name = f"{config.name}.urls"
        if importlib.util.find_spec(module_name) is not None:
            found.append(path("", include(importlib.import_module(module_name))))
    return found


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    *_app_urls(),
    path("", include("jingan.web.urls")),
]
