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

from typing import Any

PROTECTED_TABLES = ("audit_auditentry", "audit_auditcheckpoint")
MESSAGE = "audit log is append-only"
_PG_FUNCTION = "jingan_audit_append_only"


def _sqlite_install(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ]


def _sqlite_remove(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    ]


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
        *_mysql_remove(table),
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} FOR EACH ROW "
        f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{MESSAGE}'",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW "
        f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{MESSAGE}'",
    ]


def _mysql_remove(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    ]


_INSTALL = {"sqlite": _sqlite_install, "postgresql": _postgresql_install, "mysql": _mysql_install}
_REMOVE = {"sqlite": _sqlite_remove, "postgresql": _postgresql_remove, "mysql": _mysql_remove}


def _present_tables(connection: Any) -> list[str]:
    existing = set(connection.introspection.table_names())
    return [table for table in PROTECTED_TABLES if table in existing]


def install(connection: Any) -> None:
    """Create (or re-create) the triggers on every audit table that exists."""
    statements = _INSTALL.get(connection.vendor)
    if statements is None:
        return
    with connection.cursor() as cursor:
        for table in _present_tables(connection):
            for sql in statements(table):
                cursor.execute(sql)


def remove(connection: Any) -> None:
    """Drop the triggers (migration reverse, and the test-only flush)."""
    statements = _REMOVE.get(connection.vendor)
    if statements is None:
        return
    with connection.cursor() as cursor:
        for table in _present_tables(connection):
            for sql in statements(table):
                cursor.execute(sql)
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()")


def installed(connection: Any) -> bool:
    """Whether every audit table carries its triggers (shown on the auditors' page)."""
    tables = _present_tables(connection)
    if connection.vendor not in _INSTALL or not tables:
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
            names = [row[0] for row in cursor.fetchall()]
            return all(names.count(table) >= 2 for table in tables)
        if connection.vendor == "postgresql":
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
