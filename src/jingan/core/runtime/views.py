"""Machine-facing health endpoint."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jingan.core.runtime.health import platform_health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each component's state when all are healthy, 503 naming the failed ones."""
    health = platform_health()
    return JsonResponse(
        health.as_dict(),
        status=200 if health.ok else 503,
        json_dumps_params={"ensure_ascii": False},
    )
