"""Lifting the append-only triggers in a test: to empty the log, or to play the attacker.

Lifting a trigger is DDL. PostgreSQL and SQLite roll DDL back with the test's
transaction, so such a test runs inside one like any other. MariaDB/MySQL commit
implicitly around every DDL statement: inside a test's transaction, the rows the test
had written so far would be committed (and survive the rollback into later tests),
and a dropped trigger would stay dropped. There such a test runs as a transactional
test instead; the flush after it empties the tables and puts the triggers back.

Mark every test that lifts the triggers (directly, or through ``empty_chain``) with
``LIFTS_TRIGGERS``; ``lift_triggers`` fails a test that was not marked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from jingan.core.audit import append_only_triggers

LIFTS_TRIGGERS = pytest.mark.django_db(transaction=not connection.features.can_rollback_ddl)


@contextmanager
def lift_triggers() -> Iterator[None]:
    """The triggers are dropped inside the block and re-created after it."""
    if connection.in_atomic_block and not connection.features.can_rollback_ddl:
        pytest.fail(
            f"{connection.vendor} commits DDL implicitly: a test that lifts the audit "
            "triggers must be marked LIFTS_TRIGGERS (jingan.core.audit.tests.lifting)"
        )
    append_only_triggers.remove(connection)
    yield
    append_only_triggers.install(connection)


def tamper(*statements: str) -> None:
    """Run raw SQL as someone who can drop the triggers (and puts them back after)."""
    with lift_triggers(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
