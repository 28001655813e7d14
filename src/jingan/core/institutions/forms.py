"""Console forms; uniqueness is checked by the services, which phrase the Chinese messages."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from jingan.core.institutions.models import (
    Department,
    DepartmentCategory,
    Institution,
    InstitutionKind,
)

PHONE_VALIDATOR = RegexValidator(
    r"^[0-9][0-9 ()\-]{6,38}$", "请填写总机号码，例如 021-61234567（可含区号、空格、连字符）"
)

_REQUIRED = {"required": "此项为必填项"}


class _TablerForm(forms.ModelForm):
    """Tabler classes on every widget; database uniqueness is left to the services."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")
            if field.required:
                field.error_messages.update(_REQUIRED)

    def validate_unique(self) -> None:
        return

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        for name in self.errors:
            widget = self.fields[name].widget if name in self.fields else None
            if widget is not None and "is-invalid" not in widget.attrs.get("class", ""):
                widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"


class InstitutionForm(_TablerForm):
    class Meta:
        model = Institution
        fields = [
            "code",
            "name",
            "short_name",
            "kind",
            "has_inpatient",
            "his_dialect",
            "address",
            "phone",
        ]
        help_texts = {
            "code": "建议沿用区划代码 310106 加三位序号，发布后不要更改：HIS 接口以此识别机构",
            "his_dialect": "该机构 HIS 与平台对接所用的接口方式",
            "phone": "对外公开的总机号码",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = InstitutionKind.choices
        self.fields["phone"].validators.append(PHONE_VALIDATOR)


class DepartmentForm(_TablerForm):
    class Meta:
        model = Department
        fields = ["code", "name", "category", "has_inpatient"]
        help_texts = {"code": "在本机构内唯一，建议采用诊疗科目代码，如 03 内科"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = DepartmentCategory.choices
