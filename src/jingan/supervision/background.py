"""In embedded mode ``jingan serve`` runs the supervision feed simulator beside it."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from jingan.lib.background import BackgroundComponent
from jingan.lib.simulator import serve_until_stopped

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.supervision.simulators import build_feed_simulator

    serve_until_stopped(
        stop,
        build_feed_simulator(),
        str(settings.SUPERVISION["feeds_base_url"]),
        label="supervision feed simulator",
        logger=logger,
    )


def _feeds_are_local() -> bool:
    # Only feeds on this machine are ours to simulate; a real URL means production sources.
    return str(settings.SUPERVISION["feeds_base_url"]).startswith(
        ("http://127.0.0.1:", "http://localhost:")
    )


COMPONENTS = (
    [BackgroundComponent("supervision-feeds-simulator", "监管数据源模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded"
    and settings.SIMULATED_INTEGRATIONS
    and _feeds_are_local()
    else []
)
