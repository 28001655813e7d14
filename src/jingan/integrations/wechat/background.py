"""In embedded mode ``jingan serve`` runs the WeChat simulator beside the platform."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from django.conf import settings

from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.integrations.wechat.simulator import WeChatSimulator, demo_users

    address = urlsplit(settings.WECHAT["api_base_url"])
    simulator = WeChatSimulator(
        app_id=settings.WECHAT["app_id"],
        app_secret=settings.WECHAT["app_secret"],
        users=demo_users(),
    )
    try:
        simulator.start(address.hostname or "127.0.0.1", address.port or 80)
    except OSError as error:
        # Another simulator (e.g. `jingan simulate`) may already own the port: use that one.
        logger.warning("WeChat simulator not started on %s: %s", address.netloc, error)
        return
    logger.info("WeChat simulator at %s", simulator.url)
    stop.wait()
    simulator.stop()


COMPONENTS = (
    [BackgroundComponent("wechat-simulator", "微信公众平台模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS
    else []
)
