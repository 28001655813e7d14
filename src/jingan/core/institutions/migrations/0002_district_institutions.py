"""Load the 26 district institutions of the tender (data/institutions.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "institutions.toml"


def _records() -> list[dict[str, Any]]:
    with DATA.open("rb") as handle:
        return list(tomllib.load(handle)["institution"])


def load(apps: Any, schema_editor: Any) -> None:
    Institution = apps.get_model("institutions", "Institution")
    for record in _records():
        # Leave an institution alone if it already exists: the console may have edited it.
        Institution.objects.get_or_create(code=record["code"], defaults=record)


def unload(apps: Any, schema_editor: Any) -> None:
    Institution = apps.get_model("institutions", "Institution")
    Institution.objects.filter(code__in=[r["code"] for r in _records()]).delete()


class Migration(migrations.Migration):
    dependencies = [("institutions", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
