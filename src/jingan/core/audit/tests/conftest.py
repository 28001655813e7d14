from __future__ import annotations

import pytest
from django.db import connection

from jingan.core.audit.tests.lifting import lift_triggers


@pytest.fixture
def empty_chain(db: None) -> None:
    """Start from an empty audit log. Tests using it must be marked ``LIFTS_TRIGGERS``.

    Earlier transactional tests leave entries behind: the flush between them re-runs
    post_migrate, which syncs the built-in roles, which is audited.
    """
    with lift_triggers(), connection.cursor() as cursor:
        for table in ("audit_auditentry", "audit_auditcheckpoint", "audit_chainhead"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
