"""JSON API of the runtime app: the platform status the console and big screen poll."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError
from ninja.security import django_auth

from jingan.core.runtime.health import COMPONENT_TITLES, platform_health
from jingan.core.runtime.models import Heartbeat
from jingan.core.runtime.schemas import PlatformStatusRead

router = Router(tags=["平台运行状态"])

VIEW_STATUS = "runtime.view_platform_status"


@router.get("/status", response=PlatformStatusRead, auth=django_auth, summary="平台运行状态")
def read_platform_status(request: HttpRequest) -> dict[str, object]:
    """Each component's health and the heartbeats of the running processes."""
    if not request.user.has_perm(VIEW_STATUS):
        raise HttpError(403, "无权查看平台运行状态")
    health = platform_health()
    return {
        "status": "ok" if health.ok else "fail",
        "mode": health.mode,
        "checked_at": health.checked_at,
        "failed": health.failed,
        "components": [
            {"name": name, "title": COMPONENT_TITLES[name], **vars(component)}
            for name, component in health.components.items()
        ],
        "heartbeats": list(Heartbeat.objects.order_by("component", "-seen_at")[:50]),
    }


ROUTERS = [("/platform", router)]
