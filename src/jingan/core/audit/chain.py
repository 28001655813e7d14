"""The canonical bytes of an audit entry and the keyed MACs over them.

What is hashed is exactly what is stored: every value is normalised to its stored
form (microsecond UTC time, truncated strings, canonical JSON text) before the MAC
is computed, so a verifier reading the row back recomputes the same bytes on every
database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jingan.core.crypto.macs import mac_hex, verify_mac

CHAIN_PURPOSE = "audit-chain"
CANONICAL_VERSION = 1

# The columns covered by the MAC, in the order they appear in the canonical form.
CHAINED_FIELDS = (
    "sequence",
    "prev_mac",
    "occurred_at",
    "action",
    "outcome",
    "actor_id",
    "actor_username",
    "actor_roles",
    "resident_id",
    "object_type",
    "object_id",
    "institution_id",
    "request_id",
    "ip",
    "user_agent",
    "detail",
)


def canonical_time(value: datetime) -> str:
    """UTC with exactly six fractional digits, the resolution every supported database keeps."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_bytes(values: dict[str, Any]) -> bytes:
    """The bytes the chain MAC covers for one entry (``values`` holds CHAINED_FIELDS)."""
    document: dict[str, Any] = {"v": CANONICAL_VERSION}
    for name in CHAINED_FIELDS:
        value = values[name]
        if name == "occurred_at":
            value = canonical_time(value)
        document[name] = value
    return canonical_json(document).encode("utf-8")


def entry_values(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in CHAINED_FIELDS}


def chain_mac(values: dict[str, Any]) -> str:
    return mac_hex(CHAIN_PURPOSE, canonical_bytes(values))


def chain_mac_valid(values: dict[str, Any], tag: str) -> bool:
    return verify_mac(CHAIN_PURPOSE, canonical_bytes(values), tag)
