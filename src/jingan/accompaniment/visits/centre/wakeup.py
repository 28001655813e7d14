"""Wake sub-centres as soon as new events are committed.

In this process a threading event does it (``jingan serve`` ingests and folds in one
process). Across processes on PostgreSQL, ingest sends ``NOTIFY`` inside its transaction
(delivered at commit) and each sub-centre ``LISTEN``s on a connection of its own: no
busy polling, and a fold starts within milliseconds of the commit. Other databases fall
back to a short poll. PostgreSQL-specific code stays in this module.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "jingan_visit_events"

_event = threading.Event()


def notify() -> None:
    """Wake the sub-centres of this process (called after an ingest commits)."""
    _event.set()


def notify_other_processes() -> None:
    """Inside the ingest transaction: PostgreSQL delivers the NOTIFY at commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


def wait(timeout: float) -> bool:
    """Block until woken in this process or ``timeout`` seconds pass; True when woken."""
    woken = _event.wait(timeout)
    _event.clear()
    return woken


class Waiter:
    """What a sub-centre waits on when it has nothing to fold."""

    def __init__(self, idle_wait: float) -> None:
        self.idle_wait = idle_wait
        self._listener: Any = None
        if connection.vendor == "postgresql":
            self._listener = self._listen()

    def _listen(self) -> Any:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        try:
            listener = psycopg.connect(**params, autocommit=True)
            listener.execute(f"LISTEN {CHANNEL}")
        except Exception:
            logger.warning("LISTEN %s failed; polling instead", CHANNEL, exc_info=True)
            return None
        return listener

    def wait(self) -> None:
        if self._listener is None:
            wait(self.idle_wait)
            return
        if _event.is_set():
            _event.clear()
            return
        try:
            # Up to a second: also the pace of lease upkeep when nothing happens.
            for _ in self._listener.notifies(timeout=1.0, stop_after=1):
                break
        except Exception:
            logger.warning("lost the LISTEN connection; reconnecting", exc_info=True)
            self.close()
            self._listener = self._listen()

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
