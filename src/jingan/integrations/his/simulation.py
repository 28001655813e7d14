"""What every HIS simulator offers the clinic-day player and the tests.

A simulator plays one dialect for any number of institutions. ``emit`` makes the HIS
record a node change (in our vocabulary, a ``HisEvent``) and deliver it the way that
dialect does: A sends an HL7 v2 message over MLLP to the platform's listener, B posts
signed vendor JSON to the platform's API, C publishes a v3 message that the platform's
SOAP poll will read, D writes rows that the platform's view poll will read. Emitting
the same event twice re-sends the same message (same message id): a duplicate.

``outage`` simulates the HIS (or its interface engine) being down: push dialects hold
their messages and deliver them in order when the outage ends; polled dialects answer
errors (C: HTTP 503 SOAP fault, D: the database cannot be opened).
"""

from __future__ import annotations

from typing import Protocol

from jingan.integrations.his.port import HisEvent


def source_for(dialect: str, institution_code: str) -> str:
    """The journal ``source`` of an institution's HIS channel, e.g. ``his-a:310106001``."""
    return f"his-{dialect.lower()}:{institution_code}"


class DialectSimulator(Protocol):
    dialect: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def emit(self, event: HisEvent) -> None: ...

    def set_outage(self, institution_code: str | None, down: bool) -> None:
        """Take one institution's HIS (``None``: all of this dialect's) down or back up."""
        ...

    def pending(self) -> int:
        """Messages held back (push dialects during an outage), for progress displays."""
        ...
