"""In embedded mode ``jingan serve`` runs the regional platform simulator beside the platform."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from django.conf import settings

from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.integrations.regional.simulator import RegionalSimulator

    address = urlsplit(settings.REGIONAL["api_base_url"])
    simulator = RegionalSimulator()
    try:
        simulator.start(address.hostname or "127.0.0.1", address.port or 80)
    except OSError as error:
        # Another simulator (e.g. `jingan simulate`) may already own the port: use that one.
        logger.warning("regional platform simulator not started on %s: %s", address.netloc, error)
        return
    logger.info("regional platform simulator at %s", simulator.url)
    stop.wait()
    simulator.stop()


COMPONENTS = (
    [BackgroundComponent("regional-simulator", "区域卫生平台模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS
    else []
)
