"""District regional health platform: identity port, httpx adapter and a local simulator."""

from __future__ import annotations

from jingan.integrations.regional.port import (
    IdentityError,
    IdentityPort,
    IdentityVerdict,
    RegionalConfig,
)

__all__ = ["IdentityError", "IdentityPort", "IdentityVerdict", "RegionalConfig", "get_identity"]


def get_identity(config: RegionalConfig) -> IdentityPort:
    """The identity adapter for ``config``."""
    from jingan.integrations.regional.adapter import HttpIdentityAdapter

    return HttpIdentityAdapter(config)
