"""Model fields for personal data: SM4-GCM encrypted text and HMAC-SM3 blind indexes.

Stored form of an :class:`EncryptedTextField` (a text column, so it works alike on
SQLite, PostgreSQL and MariaDB)::

    sm4gcm1:<key version>:<key id>:<base64(nonce || ciphertext || tag)>

with AAD ``<app_label>.<Model>|<row_key>|<column>|v<version>``: a ciphertext copied to
another row, column or table, or relabelled with another key version, fails to decrypt.
Values are decrypted lazily, on first attribute access, because only the instance knows
its ``row_key`` (``from_db_value`` has no instance). Any failure raises
:class:`DecryptionError` and logs at ERROR; a ciphertext is never handed out as data.

The empty string is stored as the empty string (emptiness is not secret, and a migration
must be able to fill a new column), ``None`` as NULL. Encrypted columns cannot be searched
by value: ``filter``, ``update`` and ``bulk_update`` with a plaintext raise, so nothing is
written unencrypted by accident; search through a :class:`BlindIndexField` instead.
"""

from __future__ import annotations

import base64
import binascii
import logging
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.core import checks, validators
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from jingan.core.crypto.errors import DecryptionError, KeyNotFoundError
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.macs import mac_hex, mac_hex_with_version, mac_version
from jingan.core.crypto.primitives import sm4_gcm_decrypt, sm4_gcm_encrypt

logger = logging.getLogger("jingan.crypto")

FIELD_PURPOSE = "field"
BLIND_INDEX_PURPOSE = "blind-index"
CIPHERTEXT_FORMAT = "sm4gcm1"
_PREFIX = CIPHERTEXT_FORMAT + ":"


# -- the stored form -------------------------------------------------------------------


class Sealed:
    """A ciphertext as loaded from the database, not yet decrypted.

    It turns into text only through its model instance; ``str()`` refuses, so a sealed
    value cannot slip into a page or an export as if it were data.
    """

    __slots__ = ("key_id", "text", "version")

    def __init__(self, text: str) -> None:
        self.text = text
        parts = text.split(":", 3)
        if len(parts) == 4 and parts[0] == CIPHERTEXT_FORMAT and parts[1].isdigit():
            self.version: int | None = int(parts[1])
            self.key_id = parts[2]
        else:
            self.version = None
            self.key_id = ""

    def __repr__(self) -> str:
        return f"<Sealed {CIPHERTEXT_FORMAT} v{self.version}>"

    def __str__(self) -> str:
        raise DecryptionError(
            "an encrypted value was read without its model instance (values()/values_list()); "
            "load instances, or use jingan.core.crypto.fields.decrypt_value"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def associated_data(model_label: str, row_key: uuid.UUID | str, column: str, version: int) -> bytes:
    """What binds a ciphertext to its table, row, column and key version."""
    return f"{model_label}|{row_key}|{column}|v{version}".encode()


def encrypt_value(
    model_label: str,
    row_key: uuid.UUID | str,
    column: str,
    plaintext: str,
    *,
    version: int | None = None,
) -> str:
    """Encrypt one value for one cell under the current (or given) "field" key version."""
    keyring = get_keyring()
    key = keyring.current(FIELD_PURPOSE) if version is None else keyring.get(FIELD_PURPOSE, version)
    blob = sm4_gcm_encrypt(
        key.material,
        plaintext.encode("utf-8"),
        associated_data(model_label, row_key, column, key.version),
    )
    return f"{_PREFIX}{key.version}:{key.key_id}:{base64.b64encode(blob).decode('ascii')}"


def decrypt_value(
    model_label: str, row_key: uuid.UUID | str, column: str, stored: str | Sealed
) -> str:
    """Decrypt one cell's stored text; raises DecryptionError (and logs it) on any failure."""
    sealed = stored if isinstance(stored, Sealed) else Sealed(stored)
    try:
        if sealed.version is None:
            raise DecryptionError(f"not a {CIPHERTEXT_FORMAT} value")
        key = get_keyring().get(FIELD_PURPOSE, sealed.version)
        if key.key_id != sealed.key_id:
            raise DecryptionError(
                f"written under key id {sealed.key_id}, but this keyring's field "
                f"v{sealed.version} is {key.key_id} (another keyring?)"
            )
        _, _, _, payload = sealed.text.split(":", 3)
        blob = base64.b64decode(payload, validate=True)
        aad = associated_data(model_label, row_key, column, sealed.version)
        return sm4_gcm_decrypt(key.material, blob, aad).decode("utf-8")
    except (DecryptionError, KeyNotFoundError, binascii.Error, UnicodeDecodeError) as error:
        logger.error(
            "decryption failed for %s.%s of row %s (key field v%s): %s",
            model_label,
            column,
            row_key,
            sealed.version,
            error,
        )
        raise DecryptionError(
            f"cannot decrypt {model_label}.{column} of row {row_key}: {error}"
        ) from None


# -- normalisers for blind indexes ---------------------------------------------------------


def normalize_text(value: str) -> str:
    """NFKC, surrounding blanks removed, inner runs of blanks collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def normalize_id_number(value: str) -> str:
    """ID numbers: NFKC (full-width digits/X), no blanks at all, upper-case check letter."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def normalize_mobile(value: str) -> str:
    """Mobile numbers: digits only, without the +86 / 0086 country prefix."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit())
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


# -- fields ------------------------------------------------------------------------------------


def _cache_name(attname: str) -> str:
    return f"_crypto_sealed_{attname}"


class _EncryptedAttribute(DeferredAttribute):
    """Decrypts on first access, with the instance's ``row_key``; caches the plaintext."""

    field: EncryptedTextField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        data = instance.__dict__
        attname = self.field.attname
        if attname not in data:
            super().__get__(instance, cls)  # loads a deferred column
        value = data[attname]
        if isinstance(value, Sealed):
            plaintext = self.field.open_for(instance, value)
            data[attname] = plaintext
            data[_cache_name(attname)] = (value, plaintext, str(instance.row_key))
            return plaintext
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """Text encrypted with SM4-GCM under the versioned "field" key; a plain str in Python."""

    description = "SM4-GCM encrypted text"
    descriptor_class = _EncryptedAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.unique or self.primary_key or getattr(self, "db_index", False):
            errors.append(
                checks.Error(
                    "EncryptedTextField cannot be unique, indexed or a primary key "
                    "(ciphertexts are randomised); add a BlindIndexField instead.",
                    obj=self,
                    id="crypto.E001",
                )
            )
        model = getattr(self, "model", None)
        if model is not None and not model._meta.abstract and not issubclass(model, EncryptedModel):
            errors.append(
                checks.Error(
                    f"{model._meta.label} has an EncryptedTextField but does not inherit "
                    "jingan.core.crypto.fields.EncryptedModel (which provides row_key).",
                    obj=self,
                    id="crypto.E002",
                )
            )
        return errors

    def model_label(self) -> str:
        return str(self.model._meta.label)

    def open_for(self, instance: Any, sealed: Sealed) -> str:
        """Decrypt a sealed value of this field for ``instance``."""
        return decrypt_value(self.model_label(), instance.row_key, str(self.column), sealed)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return Sealed(value)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Sealed | str):
            return value
        return str(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, Sealed):
            return value.text
        if isinstance(value, str) and value.startswith(_PREFIX):
            return value  # the ciphertext pre_save made
        raise ValueError(
            f"{self.model_label()}.{self.name} is encrypted: a plaintext cannot be written "
            "with update()/bulk_update() or searched with filter(); save the model instance, "
            "and search through a BlindIndexField"
        )

    def get_lookup(self, lookup_name: str) -> Any:
        # Only emptiness can be asked about; anything else would compare ciphertexts.
        if lookup_name not in {"isnull", "exact"}:
            return None
        return super().get_lookup(lookup_name)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        data = model_instance.__dict__
        value = data.get(self.attname)
        if value is None or value == "":
            return value
        current_version = get_keyring().current(FIELD_PURPOSE).version
        row_key = str(model_instance.row_key)
        if isinstance(value, Sealed):
            if not add and value.version == current_version:
                return value.text  # never read, so unchanged: keep the stored ciphertext
            value = getattr(model_instance, self.attname)  # decrypt, re-encrypt below
        else:
            cached = data.get(_cache_name(self.attname))
            if (
                cached is not None
                and cached[1] == value
                and cached[2] == row_key
                and cached[0].version == current_version
            ):
                return cached[0].text
        if not isinstance(value, str):
            value = str(value)
        stored = encrypt_value(self.model_label(), row_key, str(self.column), value)
        data[_cache_name(self.attname)] = (Sealed(stored), value, row_key)
        return stored

    def formfield(self, **kwargs: Any) -> Any:
        defaults: dict[str, Any] = {"form_class": forms.CharField, "max_length": self.max_length}
        if self.choices is None:
            defaults["widget"] = forms.TextInput
        return models.Field.formfield(self, **{**defaults, **kwargs})


class BlindIndexField(models.CharField):
    """HMAC-SM3 ("blind-index" key) of the normalised ``source`` field, filled on save."""

    description = "HMAC-SM3 blind index"

    def __init__(
        self,
        *args: Any,
        source: str,
        normalizer: Callable[[str], str] = normalize_text,
        domain: str = "",
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.normalizer = normalizer
        self.domain = domain
        kwargs.setdefault("max_length", 80)
        kwargs.setdefault("db_index", not kwargs.get("unique", False))
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if self.normalizer is not normalize_text:
            kwargs["normalizer"] = self.normalizer
        if self.domain:
            kwargs["domain"] = self.domain
        return name, path, args, kwargs

    def message_for(self, value: str) -> bytes | None:
        """What the HMAC covers: the domain and the normalised value (None when empty)."""
        normalized = self.normalizer(value)
        if not normalized:
            return None
        return f"{self.domain or self.source}\x1f{normalized}".encode()

    def index_for(self, value: str | None) -> str | None:
        """The blind index of ``value`` under the current key (None when there is nothing)."""
        if value is None:
            return None
        message = self.message_for(value)
        if message is None:
            return None
        return mac_hex(BLIND_INDEX_PURPOSE, message)

    def index_candidates(self, value: str) -> list[str]:
        """The index of ``value`` under every kept key version (search during a rebuild)."""
        message = self.message_for(value)
        if message is None:
            return []
        return [
            mac_hex_with_version(BLIND_INDEX_PURPOSE, key.version, message)
            for key in get_keyring().kept(BLIND_INDEX_PURPOSE)
        ]

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        source = model_instance._meta.get_field(self.source)
        raw = model_instance.__dict__.get(source.attname)
        existing = model_instance.__dict__.get(self.attname)
        if (
            isinstance(raw, Sealed)
            and existing
            and mac_version(existing) == get_keyring().current(BLIND_INDEX_PURPOSE).version
        ):
            return existing  # the source was never read, so it did not change
        index = self.index_for(getattr(model_instance, source.attname))
        if index is None and not self.null:
            index = ""
        setattr(model_instance, self.attname, index)
        return index


class EncryptedModel(models.Model):
    """Abstract base of models with encrypted fields: gives each row its AAD ``row_key``."""

    row_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            # A changed source must take its blind index along, or searches would miss it.
            names = set(update_fields)
            extra = [
                field.name
                for field in self._meta.concrete_fields
                if isinstance(field, BlindIndexField)
                and field.source in names
                and field.name not in names
            ]
            if extra:
                kwargs["update_fields"] = [*update_fields, *extra]
        super().save(*args, **kwargs)


def blind_index(model: type[models.Model], field_name: str, value: str) -> str:
    """The value to filter ``field_name`` by to find rows whose source equals ``value``.

    ``Resident.objects.filter(id_number_index=blind_index(Resident, "id_number_index", v))``;
    a value that normalises to nothing gives ``""``, which matches no row.
    """
    field = model._meta.get_field(field_name)
    if not isinstance(field, BlindIndexField):
        raise TypeError(f"{model._meta.label}.{field_name} is not a BlindIndexField")
    return field.index_for(value) or ""


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    """The encrypted fields of a concrete model (for rotation and inventories)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def blind_index_fields(model: type[models.Model]) -> list[BlindIndexField]:
    """The blind-index fields of a concrete model."""
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]
