"""Key rotation: a new key version, then every encrypted cell re-encrypted, resumably.

``rotate_encryption_keys`` adds a version of the "field" key (and, when asked, of the
"blind-index" key), then walks every model with encrypted fields in primary-key order,
in batches, one transaction per batch. A ``RotationCursor`` per model remembers the last
primary key done, so a run that is interrupted (Ctrl-C, crash, deploy) continues where
it stopped instead of starting again; it does not add yet another key version.

Reads never stop working: old versions stay in the keyring, each ciphertext names its
version, and each rewrite is a compare-and-swap on the old ciphertext so a value the
application changed meanwhile is left alone (it was written under the new key anyway).
``retire_old_keys`` destroys old versions only once no row uses them any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from jingan.core.crypto.errors import KeyringError
from jingan.core.crypto.fields import (
    BLIND_INDEX_PURPOSE,
    CIPHERTEXT_FORMAT,
    FIELD_PURPOSE,
    BlindIndexField,
    EncryptedTextField,
    Sealed,
    blind_index_fields,
    decrypt_value,
    encrypt_value,
    encrypted_fields,
)
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.macs import mac_version
from jingan.core.crypto.models import RotationCursor

Advance = Callable[[int], Any]


@dataclass
class ModelProgress:
    """What one run did to one model."""

    model_label: str
    rows_done: int
    rows_rewritten: int


@dataclass
class RotationReport:
    """Outcome of one rotation run for one purpose."""

    purpose: str
    target_version: int
    resumed: bool
    models: list[ModelProgress] = field(default_factory=list)


def encrypted_models() -> list[type[models.Model]]:
    """Installed concrete models with at least one encrypted field."""
    return [
        model
        for model in apps.get_models()
        if not model._meta.proxy and model._meta.managed and encrypted_fields(model)
    ]


def blind_indexed_models() -> list[type[models.Model]]:
    """Installed concrete models with at least one blind-index field."""
    return [
        model
        for model in apps.get_models()
        if not model._meta.proxy and model._meta.managed and blind_index_fields(model)
    ]


def _record(action: str, purpose: str, version: int, detail: dict[str, object]) -> None:
    from jingan.core.audit.services import record_event

    record_event(
        action=action,
        object_type="crypto.key",
        object_id=f"{purpose}:v{version}",
        detail={"purpose": purpose, "version": version, **detail},
    )


def _open_cursors(purpose: str) -> list[RotationCursor]:
    return list(
        RotationCursor.objects.filter(purpose=purpose, finished_at__isnull=True).order_by("pk")
    )


def _start_or_resume(purpose: str, labels: Sequence[str]) -> tuple[int, bool]:
    """The version being rotated to, and whether an interrupted run is being resumed."""
    open_cursors = _open_cursors(purpose)
    if open_cursors:
        return open_cursors[0].target_version, True
    key = get_keyring().rotate(purpose)
    with transaction.atomic():
        for label in labels:
            RotationCursor.objects.get_or_create(
                purpose=purpose, model_label=label, target_version=key.version
            )
        _record("crypto.key.rotate", purpose, key.version, {"models": len(labels)})
    return key.version, False


def _pk_value(model: type[models.Model], text: str) -> Any:
    pk_field = model._meta.pk
    assert pk_field is not None
    return pk_field.to_python(text)


def _source_field(model: type[models.Model], field_: BlindIndexField) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", model._meta.get_field(field_.source))


def _remaining(model: type[models.Model], cursor: RotationCursor) -> int:
    rows = model._base_manager.all()
    if cursor.last_pk:
        rows = rows.filter(pk__gt=_pk_value(model, cursor.last_pk))
    return rows.count()


def _batches(
    model: type[models.Model], cursor: RotationCursor, columns: Sequence[str], batch_size: int
) -> Iterable[list[tuple[Any, ...]]]:
    while True:
        rows = model._base_manager.order_by("pk")
        if cursor.last_pk:
            rows = rows.filter(pk__gt=_pk_value(model, cursor.last_pk))
        batch = list(rows.values_list("pk", "row_key", *columns)[:batch_size])
        if not batch:
            return
        yield batch


def _reencrypt_row(
    model: type[models.Model],
    fields: Sequence[EncryptedTextField],
    row: tuple[Any, ...],
    target: int,
) -> int:
    pk, row_key, *values = row
    label = str(model._meta.label)
    changes: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for field_, value in zip(fields, values, strict=True):
        if isinstance(value, Sealed) and value.version != target:
            plaintext = decrypt_value(label, row_key, str(field_.column), value)
            changes[field_.attname] = Sealed(
                encrypt_value(label, row_key, str(field_.column), plaintext, version=target)
            )
            expected[field_.attname] = value
    if not changes:
        return 0
    # Compare-and-swap: a value the application rewrote meanwhile is already current.
    return model._base_manager.filter(pk=pk, **expected).update(**changes)


def _reindex_row(
    model: type[models.Model],
    fields: Sequence[BlindIndexField],
    row: tuple[Any, ...],
    target: int,
) -> int:
    from jingan.core.crypto.macs import mac_hex_with_version

    pk, row_key, *values = row
    label = str(model._meta.label)
    sources, indexes = values[: len(fields)], values[len(fields) :]
    changes: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for field_, source_value, index in zip(fields, sources, indexes, strict=True):
        if index is not None and mac_version(index) == target:
            continue
        if isinstance(source_value, Sealed):
            source = _source_field(model, field_)
            source_value = decrypt_value(label, row_key, str(source.column), source_value)
        message = None if source_value is None else field_.message_for(str(source_value))
        if message is None:
            new_index = None if field_.null else ""
        else:
            new_index = mac_hex_with_version(BLIND_INDEX_PURPOSE, target, message)
        if new_index != index:
            changes[field_.attname] = new_index
            expected[field_.attname] = index
    if not changes:
        return 0
    return model._base_manager.filter(pk=pk, **expected).update(**changes)


def _run_cursor(
    purpose: str,
    model: type[models.Model],
    cursor: RotationCursor,
    batch_size: int,
    advance: Advance,
) -> ModelProgress:
    done = rewritten = 0
    if purpose == FIELD_PURPOSE:
        encrypted = encrypted_fields(model)
        columns = [f.attname for f in encrypted]

        def work(row: tuple[Any, ...]) -> int:
            return _reencrypt_row(model, encrypted, row, cursor.target_version)
    else:
        indexed = blind_index_fields(model)
        columns = [_source_field(model, f).attname for f in indexed] + [f.attname for f in indexed]

        def work(row: tuple[Any, ...]) -> int:
            return _reindex_row(model, indexed, row, cursor.target_version)

    for batch in _batches(model, cursor, columns, batch_size):
        with transaction.atomic():
            changed = sum(work(row) for row in batch)
            cursor.last_pk = str(batch[-1][0])
            cursor.rows_done += len(batch)
            cursor.rows_rewritten += changed
            cursor.save(update_fields=["last_pk", "rows_done", "rows_rewritten"])
        done += len(batch)
        rewritten += changed
        advance(len(batch))
    cursor.finished_at = timezone.now()
    cursor.save(update_fields=["finished_at"])
    return ModelProgress(str(model._meta.label), done, rewritten)


def rotation_plan(
    purpose: str, model_list: Sequence[type[models.Model]] | None = None
) -> tuple[list[tuple[type[models.Model], RotationCursor | None]], int]:
    """Models still to do for an interrupted run (cursor) or a fresh one (None), and rows."""
    candidates = list(
        model_list
        if model_list is not None
        else (encrypted_models() if purpose == FIELD_PURPOSE else blind_indexed_models())
    )
    open_cursors = {c.model_label: c for c in _open_cursors(purpose)}
    plan: list[tuple[type[models.Model], RotationCursor | None]] = []
    rows = 0
    for model in candidates:
        cursor = open_cursors.get(str(model._meta.label))
        if open_cursors and cursor is None:
            continue  # finished in the interrupted run
        plan.append((model, cursor))
        rows += _remaining(model, cursor) if cursor else model._base_manager.count()
    return plan, rows


def rotate_encryption_keys(
    *,
    actor: Any = None,
    purpose: str = FIELD_PURPOSE,
    model_list: Sequence[type[models.Model]] | None = None,
    batch_size: int = 500,
    advance: Advance | None = None,
) -> RotationReport:
    """Rotate ``purpose`` ("field" or "blind-index") and bring every row to the new version.

    Continues an interrupted run of the same purpose instead of adding another version.
    """
    if purpose not in {FIELD_PURPOSE, BLIND_INDEX_PURPOSE}:
        raise KeyringError(f"rotate-keys rotates 'field' or 'blind-index', not {purpose!r}")
    candidates = list(
        model_list
        if model_list is not None
        else (encrypted_models() if purpose == FIELD_PURPOSE else blind_indexed_models())
    )
    by_label = {str(model._meta.label): model for model in candidates}
    target, resumed = _start_or_resume(purpose, list(by_label))
    report = RotationReport(purpose=purpose, target_version=target, resumed=resumed)
    for cursor in _open_cursors(purpose):
        model = by_label.get(cursor.model_label)
        if model is None:
            raise KeyringError(
                f"an interrupted rotation still has {cursor.model_label} to do, but that "
                "model is not part of this run"
            )
        report.models.append(_run_cursor(purpose, model, cursor, batch_size, advance or _ignore))
    with transaction.atomic():
        _record(
            "crypto.key.reencrypt",
            purpose,
            target,
            {
                "resumed": resumed,
                "rows": sum(m.rows_done for m in report.models),
                "rewritten": sum(m.rows_rewritten for m in report.models),
            },
        )
    return report


def _ignore(_: int) -> None:
    return None


def rows_using_version(
    purpose: str, version: int, model_list: Sequence[type[models.Model]] | None = None
) -> dict[str, int]:
    """How many rows of each model still hold a value under ``purpose`` v``version``."""
    usage: dict[str, int] = {}
    if purpose == FIELD_PURPOSE:
        prefix = f"{CIPHERTEXT_FORMAT}:{version}:"
        for model in model_list if model_list is not None else encrypted_models():
            condition = models.Q()
            annotations = {}
            for index, field_ in enumerate(encrypted_fields(model)):
                alias = f"stored_text_{index}"
                annotations[alias] = Cast(field_.attname, output_field=models.TextField())
                condition |= models.Q(**{f"{alias}__startswith": prefix})
            count = model._base_manager.annotate(**annotations).filter(condition).count()
            if count:
                usage[str(model._meta.label)] = count
    else:
        for model in model_list if model_list is not None else blind_indexed_models():
            condition = models.Q()
            for index_field in blind_index_fields(model):
                condition |= models.Q(**{f"{index_field.attname}__startswith": f"{version}:"})
            count = model._base_manager.filter(condition).count()
            if count:
                usage[str(model._meta.label)] = count
    return usage


def retire_old_keys(
    *,
    actor: Any = None,
    purpose: str = FIELD_PURPOSE,
    model_list: Sequence[type[models.Model]] | None = None,
) -> list[int]:
    """Destroy every non-current version of ``purpose``; refuses while any row still uses one."""
    if _open_cursors(purpose):
        raise KeyringError(f"a rotation of {purpose!r} is unfinished; run rotate-keys first")
    keyring = get_keyring()
    current = keyring.current(purpose).version
    old = sorted(key.version for key in keyring.kept(purpose) if key.version != current)
    for version in old:
        usage = rows_using_version(purpose, version, model_list)
        if usage:
            where = ", ".join(f"{label}: {count}" for label, count in sorted(usage.items()))
            raise KeyringError(
                f"{purpose} v{version} is still used ({where}); run rotate-keys before retiring"
            )
    for version in old:
        keyring.retire(purpose, version)
        with transaction.atomic():
            _record("crypto.key.retire", purpose, version, {})
    return old
