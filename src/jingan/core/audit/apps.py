from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _reinstall_triggers(sender: AppConfig, using: str, **kwargs: Any) -> None:
    # SQLite drops a table's triggers whenever a migration rebuilds the table.
    from django.db import connections

    from jingan.core.audit import append_only_triggers

    append_only_triggers.install(connections[using])


class AuditConfig(AppConfig):
    name = "jingan.core.audit"
    label = "audit"
    verbose_name = "审计日志"

    def ready(self) -> None:
        post_migrate.connect(_reinstall_triggers, sender=self, dispatch_uid="audit-triggers")
