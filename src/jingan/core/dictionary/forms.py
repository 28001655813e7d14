"""Console forms of the data dictionary and per-institution settings."""

from __future__ import annotations

from typing import Any

from django import forms

from jingan.core.dictionary.models import DictionaryCategory, DictionaryEntry
from jingan.core.institutions.forms import _TablerForm
from jingan.lib.settings_spec import SettingSpec, SettingValue


class CategoryForm(_TablerForm):
    class Meta:
        model = DictionaryCategory
        fields = ["code", "name", "description"]
        help_texts = {"code": "小写字母开头，可含数字和下划线，如 copy_purpose；其他功能以此引用"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.is_system:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "系统内置分类的编码不能修改"


class EntryForm(_TablerForm):
    class Meta:
        model = DictionaryEntry
        fields = ["code", "label", "sort_order"]
        help_texts = {"sort_order": "数字越小越靠前"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sort_order"].error_messages["invalid"] = "请输入整数"
        self.fields["sort_order"].error_messages["min_value"] = "排序不能小于 0"
        if self.instance.pk and self.instance.is_system:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "系统内置条目的编码不能修改"


class InstitutionSettingsForm(forms.Form):
    """One field per declared setting, built from the specs."""

    def __init__(
        self,
        *args: Any,
        specs: dict[str, SettingSpec],
        initial_values: dict[str, SettingValue],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.specs = specs
        for key, spec in specs.items():
            field: forms.Field
            if spec.kind == "choice":
                field = forms.ChoiceField(
                    choices=spec.choices or (),
                    widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                    required=True,
                )
            elif spec.kind == "bool":
                field = forms.BooleanField(required=False)
            elif spec.kind == "int":
                field = forms.IntegerField(required=True, error_messages={"invalid": "请输入整数"})
            else:
                field = forms.CharField(required=False, max_length=500)
            field.label = spec.title
            field.help_text = spec.help_text
            field.initial = initial_values.get(key, spec.default)
            field.error_messages["required"] = "此项为必填项"
            self.fields[key] = field

    def values(self) -> dict[str, object]:
        return {key: self.cleaned_data[key] for key in self.specs}
