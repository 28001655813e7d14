"""What the platform needs from the district regional health platform's identity service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RegionalConfig:
    """Where the regional platform's identity service lives (``settings.REGIONAL``)."""

    api_base_url: str
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class IdentityVerdict:
    """The face + ID comparison: ``matched`` decided by the platform, ``score`` in [0, 1]."""

    matched: bool
    score: float
    reference: str


class IdentityError(Exception):
    """The identity service refused the request (``code`` e.g. E1001) or was unreachable."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class IdentityPort(Protocol):
    def verify(self, *, id_number: str, name: str, photo: bytes) -> IdentityVerdict: ...
