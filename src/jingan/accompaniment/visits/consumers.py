"""The live channel of a visit page: tells the resident's open page that the visit changed.

Only the visit's own resident may listen: the resident is read from the session (as the
H5 pages read it), the visit through the same resident-scoped query. Anonymous sockets
are closed with 4401, anyone else's with 4403; neither learns whether the visit exists.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from jingan.accompaniment.visits import queries
from jingan.accompaniment.visits.centre.live import group_name
from jingan.core.public import get_current_resident

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _visit_for_session(session: Any, reference: str) -> tuple[int | None, int | None]:
    """``(resident_id, visit_id)`` of the session's resident and their visit (None if not)."""
    # get_current_resident reads the resident id from request.session; a socket has the
    # session in its scope, not a request.
    resident = get_current_resident(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if resident is None or not resident.is_verified:
        return None, None
    try:
        visit = queries.get_visit_for_resident(resident, reference)
    except Http404:
        return resident.pk, None
    return resident.pk, visit.pk


class VisitConsumer(AsyncJsonWebsocketConsumer):
    """``ws/visits/<reference>/``: pushes ``{"revision": n}`` whenever the visit changes."""

    group: str | None = None

    async def connect(self) -> None:
        reference = str(self.scope["url_route"]["kwargs"]["reference"])
        session = self.scope.get("session")
        resident_id, visit_id = (
            await _visit_for_session(session, reference) if session is not None else (None, None)
        )
        if resident_id is None or visit_id is None:
            # Accept first: a close before the handshake is a bare HTTP 403 and the page
            # could not tell "signed out" from "not yours" to stop retrying.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED if resident_id is None else CLOSE_FORBIDDEN)
            return
        self.group = group_name(visit_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The page only listens; anything it sends is ignored.
        return

    async def visit_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"revision": event["revision"]})
