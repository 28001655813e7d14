"""System checks of the database the platform runs on (run by ``migrate`` and ``check --database``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections


@checks.register(checks.Tags.database)
def mysql_time_zones_are_loaded(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """MariaDB/MySQL need their time zone tables for local-day statistics (Trunc* with a zone).

    Without them CONVERT_TZ returns NULL and every per-day count fails at run time; say so
    before the first page does.
    """
    problems: list[checks.CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CONVERT_TZ('2026-01-01 00:00:00', 'UTC', %s)", [settings.TIME_ZONE]
            )
            (converted,) = cursor.fetchone()
        if converted is None:
            problems.append(
                checks.Error(
                    f"database '{alias}' has no time zone definitions: CONVERT_TZ to "
                    f"{settings.TIME_ZONE} returns NULL, so per-day statistics cannot be counted",
                    hint="load them once per server: mariadb-tzinfo-to-sql /usr/share/zoneinfo "
                    "| mariadb -u root mysql",
                    id="runtime.E001",
                )
            )
    return problems
