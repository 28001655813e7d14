"""``flush`` that refuses to empty the audit log, except in the test suite.

Django's test cases flush every table between transactional tests; the audit tables'
triggers would refuse that. Only where ``settings.AUDIT_LOG_FLUSHABLE`` is true (the
test settings) are the triggers lifted for the flush and put back afterwards.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DEFAULT_DB_ALIAS, connections

from jingan.core.audit import append_only_triggers


class Command(DjangoFlush):
    help = DjangoFlush.help + " The audit log is append-only: refused outside the test suite."

    def handle(self, **options: Any) -> None:
        if not getattr(settings, "AUDIT_LOG_FLUSHABLE", False):
            raise CommandError(
                "审计日志只能追加，flush 会清空审计记录，已拒绝。"
                "(flush would empty the append-only audit log; refused.)"
            )
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        append_only_triggers.remove(connection)
        try:
            super().handle(**options)
        finally:
            append_only_triggers.install(connection)
