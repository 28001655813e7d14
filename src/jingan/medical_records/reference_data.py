"""Code lists this context ships: loaded by a migration, re-loaded by tests after flushes."""

from __future__ import annotations

from typing import Any

# Reasons a record room gives when it refuses a copy (MR-A3). System entries: they can be
# relabelled or disabled in the dictionary console, never deleted (applications cite them).
REJECT_REASONS = {
    "code": "copy_reject_reason",
    "name": "病案复印拒绝原因",
    "description": "一键式病案服务：病案室拒绝复印申请时选择的原因",
    "entries": [
        ["materials_unclear", "证明材料不清晰或不完整"],
        ["identity_mismatch", "申请人身份与材料不符"],
        ["relation_unproven", "无法证明与患者的关系"],
        ["record_not_found", "未找到对应的住院病案"],
        ["not_copyable", "申请内容不属于可复印范围"],
        ["other", "其他原因"],
    ],
}


def load(apps: Any, schema_editor: Any) -> None:
    Category = apps.get_model("dictionary", "DictionaryCategory")
    Entry = apps.get_model("dictionary", "DictionaryEntry")
    category, _ = Category.objects.get_or_create(
        code=REJECT_REASONS["code"],
        defaults={
            "name": REJECT_REASONS["name"],
            "description": REJECT_REASONS["description"],
            "is_system": True,
        },
    )
    for position, (code, label) in enumerate(REJECT_REASONS["entries"], start=1):
        Entry.objects.get_or_create(
            category=category,
            code=code,
            defaults={"label": label, "sort_order": position * 10, "is_system": True},
        )
    align_code_lists(apps, schema_editor)


def align_code_lists(apps: Any, schema_editor: Any) -> None:
    """Bring databases created before the service's codes settled in line with them.

    ``delivery_method`` first listed 到院自取 (pickup); the service offers electronic copies
    and mail, so the pickup entry becomes the electronic one; ``copy_purpose`` gains
    个人留存 (personal keeping). Fresh databases already have both from the dictionary's
    own code lists.
    """
    Category = apps.get_model("dictionary", "DictionaryCategory")
    Entry = apps.get_model("dictionary", "DictionaryEntry")
    delivery = Category.objects.filter(code="delivery_method").first()
    if (
        delivery is not None
        and not Entry.objects.filter(category=delivery, code="electronic").exists()
    ):
        Entry.objects.filter(category=delivery, code="pickup").update(
            code="electronic", label="电子版下载"
        )
    purpose = Category.objects.filter(code="copy_purpose").first()
    if purpose is not None:
        Entry.objects.get_or_create(
            category=purpose,
            code="personal",
            defaults={"label": "个人留存", "sort_order": 45, "is_system": True},
        )


def unload(apps: Any, schema_editor: Any) -> None:
    apps.get_model("dictionary", "DictionaryCategory").objects.filter(
        code=REJECT_REASONS["code"]
    ).delete()
