"""In embedded mode ``jingan serve`` runs the e-prescription centre simulator beside it."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from jingan.lib.background import BackgroundComponent
from jingan.lib.simulator import serve_until_stopped

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.prescriptions.erx.simulators import build_centre_simulator

    serve_until_stopped(
        stop,
        build_centre_simulator(),
        str(settings.ERX_CENTRE["api_base_url"]),
        label="e-prescription centre simulator",
        logger=logger,
    )


def _centre_is_local() -> bool:
    # Only a centre on this machine is ours to simulate; a real centre URL means production.
    return str(settings.ERX_CENTRE["api_base_url"]).startswith(
        ("http://127.0.0.1:", "http://localhost:")
    )


COMPONENTS = (
    [BackgroundComponent("erx-centre-simulator", "医保电子处方中心模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded"
    and settings.SIMULATED_INTEGRATIONS
    and _centre_is_local()
    else []
)
