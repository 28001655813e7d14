"""The one door of ``jingan.core``: what other contexts and the wiring may call."""

from __future__ import annotations

from jingan.core.runtime.health import (
    COMPONENT_TITLES,
    ComponentHealth,
    PlatformHealth,
    platform_health,
)
from jingan.core.runtime.services import record_heartbeat

__all__ = [
    "COMPONENT_TITLES",
    "ComponentHealth",
    "PlatformHealth",
    "platform_health",
    "record_heartbeat",
]
