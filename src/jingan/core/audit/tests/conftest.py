from __future__ import annotations

import pytest
from django.db import connection

from jingan.core.audit import append_only_triggers


@pytest.fixture
def empty_chain(db: None) -> None:
    """Start from an empty audit log, inside the test's transaction (rolled back after).

    Earlier transactional tests leave entries behind: the flush between them re-runs
    post_migrate, which syncs the built-in roles, which is audited.
    """
    append_only_triggers.remove(connection)
    with connection.cursor() as cursor:
        for table in ("audit_auditentry", "audit_auditcheckpoint", "audit_chainhead"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    append_only_triggers.install(connection)
