"""HMAC-SM3 tags under versioned keys: ``"<version>:<hex>"``, verifiable with any kept version."""

from __future__ import annotations

import hmac

from jingan.core.crypto.errors import KeyNotFoundError
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.primitives import hmac_sm3


def mac_hex(purpose: str, data: bytes) -> str:
    """HMAC-SM3 of ``data`` under the current key of ``purpose``, as ``"<version>:<hex>"``."""
    key = get_keyring().current(purpose)
    return f"{key.version}:{hmac_sm3(key.material, data).hex()}"


def mac_hex_with_version(purpose: str, version: int, data: bytes) -> str:
    """Like :func:`mac_hex` under a given kept version (for rebuilding and comparing)."""
    key = get_keyring().get(purpose, version)
    return f"{key.version}:{hmac_sm3(key.material, data).hex()}"


def mac_version(tag: str) -> int | None:
    """The key version a tag was made with, or None if the tag is malformed."""
    version, separator, _ = tag.partition(":")
    if not separator or not version.isdigit():
        return None
    return int(version)


def verify_mac(purpose: str, data: bytes, tag: str) -> bool:
    """True if ``tag`` is a valid HMAC-SM3 of ``data`` under a kept version of ``purpose``.

    The comparison is constant-time; malformed tags, unknown and retired versions are False.
    """
    version = mac_version(tag)
    if version is None:
        return False
    try:
        key = get_keyring().get(purpose, version)
    except KeyNotFoundError:
        return False
    expected = f"{key.version}:{hmac_sm3(key.material, data).hex()}"
    return hmac.compare_digest(expected.encode(), tag.encode())
