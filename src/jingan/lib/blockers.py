"""Open work that stops an institution or department from being deleted or disabled.

Any installed app may declare ``INSTITUTION_BLOCKERS`` in its ``blockers.py``: a list of
callables ``(institution_id, department_id) -> list[Blocker]``. ``department_id`` is None
when the whole institution is at stake. A callable returns only blockers with a positive
count; the institutions context collects them through ``jingan.lib.discovery.declared``
and refuses the delete or disable while any remain (MR-A7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Blocker:
    """One kind of open work, e.g. "在办病案复印申请" × 3, with where to see it."""

    title: str
    count: int
    url: str | None = None


BlockerSource = Callable[[int, int | None], list[Blocker]]
