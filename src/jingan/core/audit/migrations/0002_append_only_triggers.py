"""Database-level append-only protection for the audit tables (see append_only_triggers)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from jingan.core.audit import append_only_triggers


def install(apps: Any, schema_editor: Any) -> None:
    append_only_triggers.install(schema_editor.connection)


def remove(apps: Any, schema_editor: Any) -> None:
    append_only_triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
