"""System checks: a production deployment must find its provisioned keyring at start-up."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.security)
def keyring_is_provisioned(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Fail fast, before the first encrypted read, when the keyring cannot be used."""
    from jingan.core.crypto.errors import KeyringError
    from jingan.core.crypto.keyring import keyring_location

    try:
        path, may_create = keyring_location()
    except KeyringError as error:
        return [checks.Error(str(error), id="crypto.E010")]
    if not may_create and not path.is_file():
        return [
            checks.Error(
                f"JINGAN_KEYRING points at {path}, which does not exist; provision it with "
                "`jingan init-keyring --path …` (keys are never created silently in production)",
                id="crypto.E011",
            )
        ]
    return []
