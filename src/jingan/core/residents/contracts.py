"""Types other contexts receive from ``jingan.core.residents.public``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResidentSummary:
    """The signed-in resident, already masked for display."""

    resident_id: int
    nickname: str
    masked_name: str
    is_verified: bool
