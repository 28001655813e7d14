"""The simulators this context declares for ``jingan simulate`` (``lib.discovery``).

``feeds``: the public account, internet hospital and regional file feeds, generating
the same synthetic world the demo data loaded (scale and seed recorded by
``supervision.demo``), at ``settings.SUPERVISION["feeds_base_url"]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from jingan.integrations.feeds.simulator import FeedSimulator
from jingan.integrations.feeds.synthetic import RESIDENTS, Scale
from jingan.lib.simulator import SimulatorServer

logger = logging.getLogger(__name__)


def synthetic_marker() -> Path:
    """Where the demo records which synthetic world (scale, seed) it loaded."""
    return Path(str(settings.SUPERVISION["lake_dir"])).parent / "synthetic-sources.json"


def synthetic_world() -> tuple[Scale, int]:
    """The scale and seed the demo loaded; "small" and the configured seed before any."""
    seed = int(str(settings.SUPERVISION["synthetic_seed"]))
    marker = synthetic_marker()
    if not marker.exists():
        return "small", seed
    try:
        recorded: dict[str, Any] = json.loads(marker.read_text())
        scale = recorded["scale"]
        if scale not in RESIDENTS:
            raise ValueError(scale)
        return scale, int(recorded["seed"])
    except (ValueError, KeyError, TypeError):
        # A damaged marker must not stop `jingan serve`: say so and use the defaults.
        logger.warning("ignoring unreadable %s", marker)
        return "small", seed


def build_feed_simulator() -> FeedSimulator:
    """The feed simulator for the recorded synthetic world, serving up to yesterday."""
    scale, seed = synthetic_world()
    return FeedSimulator(scale=scale, seed=seed)


SIMULATORS: list[tuple[str, str, Callable[[], SimulatorServer], str]] = [
    (
        "feeds",
        "监管数据源模拟器（公众号、互联网医院、区域平台文件）",
        build_feed_simulator,
        str(settings.SUPERVISION["feeds_base_url"]),
    )
]
