"""Database triggers that refuse UPDATE and DELETE on the audit tables, per database vendor.

The Python models already refuse changes; these stop everything else that talks to
the database with the application's account (raw SQL, an admin shell, a buggy
migration). Someone who can drop triggers can still change rows, which is why the
chain is keyed and checkpoints are signed: the verifier finds what the triggers
could not prevent.

Used by migration ``0002_append_only_triggers`` (install / remove), by the flush
command in tests, and re-applied after every ``migrate`` because SQLite drops a
table's triggers whenever a migration rebuilds that table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

PROTECTED_TABLES = ("audit_auditentry", "audit_auditcheckpoint")
MESSAGE = "audit log is append-only"
_PG_FUNCTION = "jingan_audit_append_only"


_ROW_OPERATIONS = ("UPDATE", "DELETE")


def _row_triggers(table: str, create: str, body: str) -> list[str]:
    """``{table}_no_update`` and ``{table}_no_delete``, each running ``body`` before the change."""
    return [
        f"{create} {table}_no_{operation.lower()} BEFORE {operation} ON {table} {body}"
        for operation in _ROW_OPERATIONS
    ]


def _drop_row_triggers(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{operation.lower()}" for operation in _ROW_OPERATIONS
    ]


def _sqlite_install(table: str) -> list[str]:
    return _row_triggers(
        table, "CREATE TRIGGER IF NOT EXISTS", f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )


def _postgresql_install(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME; END; $$",
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()",
        # TRUNCATE fires no row triggers; it needs its own statement-level one.
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()",
    ]


def _postgresql_remove(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def _mysql_install(table: str) -> list[str]:
    # One statement per trigger, so no DELIMITER juggling. MariaDB/MySQL have no
    # TRUNCATE trigger: the application account must not hold the DROP privilege
    # (deployment guide), which TRUNCATE requires.
    return [
        *_drop_row_triggers(table),
        *_row_triggers(
            table,
            "CREATE TRIGGER",
            f"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{MESSAGE}'",
        ),
    ]


_INSTALL = {"sqlite": _sqlite_install, "postgresql": _postgresql_install, "mysql": _mysql_install}
_REMOVE = {
    "sqlite": _drop_row_triggers,
    "postgresql": _postgresql_remove,
    "mysql": _drop_row_triggers,
}


def _present_tables(connection: Any) -> list[str]:
    existing = set(connection.introspection.table_names())
    return [table for table in PROTECTED_TABLES if table in existing]


def _run(
    connection: Any, statements: Mapping[str, Callable[[str], list[str]]], *after: str
) -> None:
    """Run the vendor's statements for every audit table that exists, then ``after``."""
    per_table = statements.get(connection.vendor)
    if per_table is None:
        return
    with connection.cursor() as cursor:
        for table in _present_tables(connection):
            for sql in per_table(table):
                cursor.execute(sql)
        for sql in after:
            cursor.execute(sql)


def install(connection: Any) -> None:
    """Create (or re-create) the triggers on every audit table that exists."""
    _run(connection, _INSTALL)


def remove(connection: Any) -> None:
    """Drop the triggers (migration reverse, and the test-only flush)."""
    if connection.vendor == "postgresql":
        _run(connection, _REMOVE, f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()")
    else:
        _run(connection, _REMOVE)


def installed(connection: Any) -> bool:
    """Whether every audit table carries its triggers (shown on the auditors' page)."""
    tables = _present_tables(connection)
    if connection.vendor not in _INSTALL or not tables:
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'"
            )
        else:
            cursor.execute(
                "SELECT event_object_table FROM information_schema.triggers "
                "WHERE trigger_schema = DATABASE()"
            )
        names = [row[0] for row in cursor.fetchall()]
    return all(names.count(table) >= 2 for table in tables)
