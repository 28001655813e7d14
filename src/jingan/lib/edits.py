"""The two steps every console edit of a coded record takes: apply a change set, then save.

Model-free: these take any Django model instance and import none of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


def apply_changes(
    instance: Any, changes: Mapping[str, object], allowed: Iterable[str]
) -> dict[str, list[object]]:
    """Set the changed fields (strings stripped); return ``{field: [old, new]}`` for the audit."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    changed: dict[str, list[object]] = {}
    for name, value in changes.items():
        if isinstance(value, str):
            value = value.strip()
        old = getattr(instance, name)
        if old != value:
            changed[name] = [old, value]
            setattr(instance, name, value)
    return changed


def save_checked(
    instance: Any,
    errors: Mapping[str, str],
    *,
    taken: Callable[[], Mapping[str, str]],
    exclude: list[str] | None = None,
) -> None:
    """Save after our own uniqueness checks found nothing; raise ValidationError otherwise.

    ``errors`` are what the caller's checks found (field -> Chinese message); ``taken``
    names the fields when the database still refuses a duplicate.
    """
    if errors:
        raise ValidationError(dict(errors))
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        # Another request took the code or name between our check and the insert.
        raise ValidationError(dict(taken())) from None
