"""What a staff session carries once both factors passed, and its clocks."""

from __future__ import annotations

import time
from typing import Any

SECOND_FACTOR = "jingan.mfa"
AUTHENTICATED_AT = "jingan.auth_at"
LAST_SEEN = "jingan.last_seen"
PENDING_USER = "jingan.pending_user"
PENDING_AT = "jingan.pending_at"
PENDING_SECRET = "jingan.pending_totp_secret"
PENDING_NEXT = "jingan.pending_next"
# How long the step between password and code may take.
PENDING_SECONDS = 5 * 60


def mark_fully_authenticated(session: Any, now: float | None = None) -> None:
    moment = time.time() if now is None else now
    session[SECOND_FACTOR] = True
    session[AUTHENTICATED_AT] = moment
    session[LAST_SEEN] = moment
    for key in (PENDING_USER, PENDING_AT, PENDING_SECRET, PENDING_NEXT):
        session.pop(key, None)


def pending_user_id(session: Any, now: float | None = None) -> int | None:
    """The user who passed the password step recently, if any."""
    moment = time.time() if now is None else now
    user_id = session.get(PENDING_USER)
    started = float(session.get(PENDING_AT, 0))
    if user_id is None or moment - started > PENDING_SECONDS:
        return None
    return int(user_id)
