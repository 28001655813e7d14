"""Load the reasons a record room may give for refusing a copy (reference_data.py)."""

from django.db import migrations

from jingan.medical_records import reference_data


class Migration(migrations.Migration):
    dependencies = [
        ("medical_records", "0001_initial"),
        ("dictionary", "0002_system_dictionaries"),
    ]

    operations = [migrations.RunPython(reference_data.load, reference_data.unload)]
