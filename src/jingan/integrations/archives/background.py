"""In embedded mode ``jingan serve`` runs the archive simulator beside the platform."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.conf import settings

from jingan.lib.background import BackgroundComponent
from jingan.lib.simulator import serve_until_stopped

logger = logging.getLogger(__name__)


def _run(stop: threading.Event) -> None:
    from jingan.integrations.archives.simulator import ArchiveSimulator, credentials_from_file

    serve_until_stopped(
        stop,
        ArchiveSimulator(
            platform_url=str(settings.ARCHIVES["platform_url"]),
            credentials=credentials_from_file(
                Path(str(settings.ARCHIVES["simulator_credentials"]))
            ),
        ),
        str(settings.ARCHIVES["api_base_url"]),
        label="archive simulator",
        logger=logger,
    )


COMPONENTS = (
    [BackgroundComponent("archive-simulator", "病案归档系统模拟器", _run)]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS
    else []
)
