"""In embedded mode ``jingan serve`` runs the regional platform simulator beside the platform."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from jingan.lib.background import BackgroundComponent
from jingan.lib.simulator import serve_until_stopped

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.integrations.regional.simulator import RegionalSimulator

    serve_until_stopped(
        stop,
        RegionalSimulator(),
        settings.REGIONAL["api_base_url"],
        label="regional platform simulator",
        logger=logger,
    )


COMPONENTS = (
    [BackgroundComponent("regional-simulator", "区域卫生平台模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS
    else []
)
