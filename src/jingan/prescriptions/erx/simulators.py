"""The simulators this context declares for ``jingan simulate`` (``lib.discovery``).

Each entry is ``(name, title, factory, default_base_url)``: ``factory()`` builds an
unbound ``SimulatorServer``; ``default_base_url`` is where the platform expects it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre.port import CentreProfile
from jingan.integrations.erx_centre.simulator import ErxCentreSimulator
from jingan.lib.simulator import SimulatorServer


def centre_profile() -> CentreProfile:
    """The centre's profile as configured (``settings.ERX_CENTRE``)."""
    config: dict[str, Any] = dict(settings.ERX_CENTRE)
    return CentreProfile(
        base_url=str(config["api_base_url"]),
        version=str(config["version"]),
        enc_type=str(config["enc_type"]),
        sign_type=str(config["sign_type"]),
        path_prefix=str(config["path_prefix"]),
        paths=dict(config["paths"]),
        timeout_seconds=float(config["timeout_seconds"]),
    )


def build_centre_simulator() -> ErxCentreSimulator:
    """The centre simulator on the Tongsuo back-end, reading the demo's key store."""
    return ErxCentreSimulator(
        backend=get_sm2_backend(),
        state_path=Path(str(settings.ERX_CENTRE["simulator_state"])),
        profile=centre_profile(),
    )


SIMULATORS: list[tuple[str, str, Callable[[], SimulatorServer], str]] = [
    (
        "erx-centre",
        "医保电子处方中心模拟器",
        build_centre_simulator,
        str(settings.ERX_CENTRE["api_base_url"]),
    )
]
