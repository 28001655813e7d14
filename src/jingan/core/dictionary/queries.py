"""Reads of the data dictionary and of per-institution settings."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from jingan.core.dictionary.models import DictionaryCategory, DictionaryEntry, InstitutionSetting
from jingan.lib.discovery import declared
from jingan.lib.settings_spec import SettingSpec, SettingValue


def entries(category_code: str, *, include_inactive: bool = False) -> list[tuple[str, str]]:
    """``(code, label)`` of a code list in display order, e.g. for form choices."""
    queryset = DictionaryEntry.objects.filter(category__code=category_code)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return list(queryset.order_by("sort_order", "code").values_list("code", "label"))


def label_for(category_code: str, code: str) -> str:
    """The label of one code (inactive ones included: old records still show it); else the code."""
    return dict(entries(category_code, include_inactive=True)).get(code, code)


def categories_with_counts() -> QuerySet[DictionaryCategory]:
    return DictionaryCategory.objects.annotate(
        entry_count=Count("entries"),
        active_count=Count("entries", filter=Q(entries__is_active=True)),
    ).order_by("-is_system", "code")


def setting_specs() -> dict[str, SettingSpec]:
    """Every declared per-institution setting, by key (``<app>/institution_settings.py``)."""
    specs: dict[str, SettingSpec] = {}
    for label, spec in declared("institution_settings", "INSTITUTION_SETTINGS"):
        if spec.key in specs:
            raise RuntimeError(f"institution setting {spec.key} declared twice ({label})")
        specs[spec.key] = spec
    return specs


def institution_setting(institution_id: int, key: str) -> SettingValue:
    """The institution's value of a declared setting, or the setting's default."""
    spec = setting_specs()[key]
    stored = (
        InstitutionSetting.objects.unscoped()
        .filter(institution_id=institution_id, key=key)
        .values_list("value", flat=True)
        .first()
    )
    # A value stored under an older spec that no longer fits falls back to the default.
    if stored is None or not spec.is_valid(stored):
        return spec.default
    return stored


def institution_settings(institution_id: int) -> dict[str, SettingValue]:
    """Every declared setting of one institution, defaults filled in."""
    stored = dict(
        InstitutionSetting.objects.unscoped()
        .filter(institution_id=institution_id)
        .values_list("key", "value")
    )
    values: dict[str, SettingValue] = {}
    for key, spec in setting_specs().items():
        value: Any = stored.get(key)
        values[key] = value if value is not None and spec.is_valid(value) else spec.default
    return values
