"""Load the system code lists (data/dictionaries.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "dictionaries.toml"


def _categories() -> list[dict[str, Any]]:
    with DATA.open("rb") as handle:
        return list(tomllib.load(handle)["category"])


def load(apps: Any, schema_editor: Any) -> None:
    Category = apps.get_model("dictionary", "DictionaryCategory")
    Entry = apps.get_model("dictionary", "DictionaryEntry")
    for record in _categories():
        category, _ = Category.objects.get_or_create(
            code=record["code"],
            defaults={
                "name": record["name"],
                "description": record["description"],
                "is_system": True,
            },
        )
        for position, (code, label) in enumerate(record["entries"], start=1):
            Entry.objects.get_or_create(
                category=category,
                code=code,
                defaults={"label": label, "sort_order": position * 10, "is_system": True},
            )


def unload(apps: Any, schema_editor: Any) -> None:
    Category = apps.get_model("dictionary", "DictionaryCategory")
    Category.objects.filter(code__in=[r["code"] for r in _categories()]).delete()


class Migration(migrations.Migration):
    dependencies = [("dictionary", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
