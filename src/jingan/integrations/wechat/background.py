"""In embedded mode ``jingan serve`` runs the WeChat simulator beside the platform."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from jingan.lib.background import BackgroundComponent
from jingan.lib.simulator import serve_until_stopped

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.integrations.wechat.simulator import WeChatSimulator, demo_users

    simulator = WeChatSimulator(
        app_id=settings.WECHAT["app_id"],
        app_secret=settings.WECHAT["app_secret"],
        users=demo_users(),
    )
    serve_until_stopped(
        stop, simulator, settings.WECHAT["api_base_url"], label="WeChat simulator", logger=logger
    )


COMPONENTS = (
    [BackgroundComponent("wechat-simulator", "微信公众平台模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS
    else []
)
