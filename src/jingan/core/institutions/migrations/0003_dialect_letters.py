"""Rename the HIS dialect letters to the accompaniment issue's: A HL7 v2 (MLLP), B REST/JSON
push, C 互联互通 SOAP web service, D database views (was B web service, C views, D REST).

Databases loaded before the rename hold the old letters; databases created since get
today's letters from 0002 (the data file). The forward step recognises which it has by
comparing the district institutions with the data file under both letterings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from django.db import migrations, models

FORWARD = {"A": "A", "B": "C", "C": "D", "D": "B"}
BACKWARD = {new: old for old, new in FORWARD.items()}
DATA = Path(__file__).resolve().parent.parent / "data" / "institutions.toml"


def _rename(apps: Any, mapping: dict[str, str]) -> None:
    Institution = apps.get_model("institutions", "Institution")
    for pk, letter in list(Institution.objects.values_list("pk", "his_dialect")):
        Institution.objects.filter(pk=pk).update(his_dialect=mapping.get(letter, letter))


def forward(apps: Any, schema_editor: Any) -> None:
    Institution = apps.get_model("institutions", "Institution")
    with DATA.open("rb") as handle:
        today = {r["code"]: r["his_dialect"] for r in tomllib.load(handle)["institution"]}
    stored = dict(
        Institution.objects.filter(code__in=list(today)).values_list("code", "his_dialect")
    )
    old_letters = sum(1 for code, letter in stored.items() if letter == BACKWARD[today[code]])
    new_letters = sum(1 for code, letter in stored.items() if letter == today[code])
    if old_letters > new_letters:
        _rename(apps, FORWARD)


def backward(apps: Any, schema_editor: Any) -> None:
    _rename(apps, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("institutions", "0002_district_institutions")]

    operations = [
        migrations.RunPython(forward, backward),
        migrations.AlterField(
            model_name="institution",
            name="his_dialect",
            field=models.CharField(
                choices=[
                    ("A", "A · HL7 v2.5（MLLP）"),
                    ("B", "B · REST/JSON 推送"),
                    ("C", "C · 互联互通 Web Service（SOAP）"),
                    ("D", "D · 数据库视图"),
                ],
                default="B",
                max_length=1,
                verbose_name="HIS 接口方式",
            ),
        ),
    ]
