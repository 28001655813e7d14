"""A throw-away model with encrypted fields, in an isolated registry with its own table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models
from django.test.utils import isolate_apps

from jingan.core.crypto.fields import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    normalize_id_number,
    normalize_mobile,
)


@contextmanager
def vault_model() -> Iterator[Any]:
    """Yield a ``Vault`` model class whose table exists for the duration of the block."""
    with isolate_apps("jingan.core.crypto"):

        class Vault(EncryptedModel):
            name = EncryptedTextField(max_length=50, blank=True)
            id_number = EncryptedTextField(blank=True)
            id_number_index = BlindIndexField(source="id_number", normalizer=normalize_id_number)
            mobile = EncryptedTextField(null=True, blank=True)
            mobile_index = BlindIndexField(source="mobile", normalizer=normalize_mobile)
            note = models.CharField(max_length=20, default="")

            class Meta:
                app_label = "crypto"
                db_table = "crypto_test_vault"

            def __str__(self) -> str:
                return f"vault {self.pk}"

        with connection.schema_editor() as editor:
            editor.create_model(Vault)
        try:
            yield Vault
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Vault)
