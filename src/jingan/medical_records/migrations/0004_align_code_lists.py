"""Delivery methods and purposes as the copy service offers them (reference_data.py)."""

from django.db import migrations

from jingan.medical_records import reference_data


class Migration(migrations.Migration):
    dependencies = [("medical_records", "0003_copy_document")]

    operations = [migrations.RunPython(reference_data.align_code_lists, migrations.RunPython.noop)]
