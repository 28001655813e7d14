"""Live pushes to the residents' open visit pages, after the fold has committed."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_name(visit_id: int) -> str:
    return f"visit-{visit_id}"


def push_visit_changed(changes: Iterable[tuple[int, int]]) -> None:
    """Tell every open page of each visit ``(visit_id, revision)`` that it changed.

    Best effort: a page that misses a push still polls; a failing channel layer must not
    undo or repeat the fold that already committed. One event-loop round trip for the
    whole batch.
    """
    layer = get_channel_layer()
    pending = list(changes)
    if layer is None or not pending:
        return

    async def send_all() -> None:
        for visit_id, revision in pending:
            await layer.group_send(
                group_name(visit_id), {"type": "visit.changed", "revision": revision}
            )

    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(send_all)()
        else:
            # Called from a thread that already runs an event loop (async_to_sync would
            # refuse): send from a short-lived thread with a loop of its own.
            sender = threading.Thread(target=asyncio.run, args=(send_all(),), daemon=True)
            sender.start()
            sender.join(timeout=5)
    except Exception:
        logger.warning("live push of %s visits failed", len(pending), exc_info=True)
