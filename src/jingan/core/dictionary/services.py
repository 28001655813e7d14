"""Every write to the data dictionary and to per-institution settings, audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from jingan.core.audit.services import record_event
from jingan.core.dictionary.models import DictionaryCategory, DictionaryEntry, InstitutionSetting
from jingan.core.dictionary.queries import setting_specs
from jingan.core.institutions.models import Institution
from jingan.lib.edits import apply_changes, save_checked

CATEGORY_FIELDS = ("code", "name", "description")
ENTRY_FIELDS = ("code", "label", "sort_order")


def _clean(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# -- categories ---------------------------------------------------------------------


def _category_event(
    verb: str,
    code: str,
    actor: Any,
    detail: Mapping[str, object],
    request: HttpRequest | None,
) -> None:
    record_event(
        action=f"dictionary.category.{verb}",
        actor=actor,
        object_type="dictionary.category",
        object_id=code,
        detail=detail,
        request=request,
    )


def _save_category(category: DictionaryCategory) -> None:
    others = DictionaryCategory.objects.exclude(pk=category.pk)
    errors: dict[str, str] = {}
    holder = others.filter(code=category.code).first()
    if holder is not None:
        errors["code"] = f"分类编码 {category.code} 已被「{holder.name}」使用"
    holder = others.filter(name=category.name).first()
    if holder is not None:
        errors["name"] = f"分类名称「{category.name}」已存在（编码 {holder.code}）"
    save_checked(category, errors, taken=lambda: {"code": "分类编码或名称已被占用"})


def create_category(
    *, actor: Any, code: str, name: str, description: str = "", request: HttpRequest | None = None
) -> DictionaryCategory:
    """Add a code list of our own (never a system one)."""
    with transaction.atomic():
        category = DictionaryCategory(
            code=code.strip(), name=name.strip(), description=description.strip()
        )
        _save_category(category)
        detail = {"code": category.code, "name": category.name}
        _category_event("create", category.code, actor, detail, request)
    return category


def update_category(
    *,
    actor: Any,
    category_id: int,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> DictionaryCategory:
    """Rename or describe a code list; a system list keeps its code."""
    with transaction.atomic():
        category = DictionaryCategory.objects.select_for_update().get(pk=category_id)
        if category.is_system and "code" in changes and _clean(changes["code"]) != category.code:
            raise ValidationError({"code": "系统内置分类的编码不能修改"})
        changed = apply_changes(category, changes, CATEGORY_FIELDS)
        if not changed:
            return category
        _save_category(category)
        _category_event("update", category.code, actor, {"changes": changed}, request)
    return category


def delete_category(*, actor: Any, category_id: int, request: HttpRequest | None = None) -> None:
    """Delete a code list of our own with its entries; system lists cannot be deleted."""
    with transaction.atomic():
        category = DictionaryCategory.objects.select_for_update().get(pk=category_id)
        if category.is_system:
            raise ValidationError("系统内置分类不能删除")
        code = category.code
        detail = {"code": code, "name": category.name, "entries": category.entries.count()}
        category.delete()
        _category_event("delete", code, actor, detail, request)


# -- entries ------------------------------------------------------------------------


def _save_entry(entry: DictionaryEntry) -> None:
    holder = (
        DictionaryEntry.objects.filter(category_id=entry.category_id, code=entry.code)
        .exclude(pk=entry.pk)
        .first()
    )
    errors = {} if holder is None else {"code": f"条目编码 {entry.code} 已被「{holder.label}」使用"}
    save_checked(
        entry,
        errors,
        exclude=["category"],
        taken=lambda: {"code": f"条目编码 {entry.code} 已被使用"},
    )


def _entry_event(
    action: str,
    entry: DictionaryEntry,
    actor: Any,
    detail: Mapping[str, object],
    request: HttpRequest | None,
) -> None:
    record_event(
        action=action,
        actor=actor,
        object_type="dictionary.entry",
        object_id=str(entry.pk),
        detail={"category": entry.category.code, "code": entry.code, **detail},
        request=request,
    )


def create_entry(
    *,
    actor: Any,
    category_id: int,
    code: str,
    label: str,
    sort_order: int = 0,
    request: HttpRequest | None = None,
) -> DictionaryEntry:
    """Add a code to a list (entries added in the console are never system entries)."""
    with transaction.atomic():
        category = DictionaryCategory.objects.select_for_update().get(pk=category_id)
        entry = DictionaryEntry(
            category=category, code=code.strip(), label=label.strip(), sort_order=sort_order
        )
        _save_entry(entry)
        _entry_event("dictionary.entry.create", entry, actor, {"label": entry.label}, request)
    return entry


def update_entry(
    *,
    actor: Any,
    entry_id: int,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> DictionaryEntry:
    """Relabel or reorder a code; a system code keeps its code."""
    with transaction.atomic():
        entry = (
            DictionaryEntry.objects.select_for_update().select_related("category").get(pk=entry_id)
        )
        if entry.is_system and "code" in changes and _clean(changes["code"]) != entry.code:
            raise ValidationError({"code": "系统内置条目的编码不能修改，可停用后另建"})
        changed = apply_changes(entry, changes, ENTRY_FIELDS)
        if not changed:
            return entry
        _save_entry(entry)
        _entry_event("dictionary.entry.update", entry, actor, {"changes": changed}, request)
    return entry


def set_entry_active(
    *, actor: Any, entry_id: int, active: bool, request: HttpRequest | None = None
) -> DictionaryEntry:
    """Enable or disable a code; disabled codes leave forms but still label old records."""
    with transaction.atomic():
        entry = (
            DictionaryEntry.objects.select_for_update().select_related("category").get(pk=entry_id)
        )
        if entry.is_active != active:
            entry.is_active = active
            entry.save(update_fields=["is_active", "updated_at"])
            action = "dictionary.entry." + ("enable" if active else "disable")
            _entry_event(action, entry, actor, {}, request)
    return entry


def delete_entry(*, actor: Any, entry_id: int, request: HttpRequest | None = None) -> None:
    """Delete a code added in the console; system codes can only be disabled."""
    with transaction.atomic():
        entry = (
            DictionaryEntry.objects.select_for_update().select_related("category").get(pk=entry_id)
        )
        if entry.is_system:
            raise ValidationError("系统内置条目不能删除，请改为停用")
        _entry_event("dictionary.entry.delete", entry, actor, {"label": entry.label}, request)
        entry.delete()


# -- per-institution settings ----------------------------------------------------------


def set_institution_settings(
    *,
    actor: Any,
    institution_id: int,
    values: Mapping[str, object],
    request: HttpRequest | None = None,
) -> dict[str, list[object]]:
    """Store an institution's chosen values of declared settings; returns what changed."""
    specs = setting_specs()
    errors: dict[str, str] = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            errors[key] = f"未声明的参数 {key}"
        elif not spec.is_valid(value):
            errors[key] = f"「{spec.title}」的取值无效"
    if errors:
        raise ValidationError(errors)
    changed: dict[str, list[object]] = {}
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        stored = {
            setting.key: setting
            for setting in InstitutionSetting.objects.unscoped()
            .select_for_update()
            .filter(institution=institution, key__in=list(values))
        }
        for key, value in values.items():
            setting = stored.get(key)
            old = setting.value if setting is not None else specs[key].default
            if setting is not None and setting.value == value:
                continue
            if setting is None and value == specs[key].default:
                continue
            if setting is None:
                setting = InstitutionSetting(institution=institution, key=key)
            setting.value = value
            setting.updated_by = actor if getattr(actor, "pk", None) else None
            setting.save()
            changed[key] = [old, value]
        if changed:
            record_event(
                action="dictionary.institution_setting.update",
                actor=actor,
                object_type="institutions.institution",
                object_id=str(institution.pk),
                institution_id=institution.pk,
                detail={"changes": changed},
                request=request,
            )
    return changed
