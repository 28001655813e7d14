"""Console form for onboarding an institution's record archive (MR-C1)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from jingan.medical_records.archive_models import ArchiveMode

APP_ID_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$",
    "应用标识须为 3–64 位字母、数字、点、下划线或连字符，且以字母或数字开头",
)


class ArchiveSourceForm(forms.Form):
    institution = forms.TypedChoiceField(label="医疗机构", coerce=int, choices=())
    mode = forms.ChoiceField(label="同步方式", choices=ArchiveMode.choices)
    base_url = forms.URLField(
        label="归档接口地址",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="机构病案归档系统的地址，例如 http://10.1.2.3:8103；拉取方式必填，推送方式填写后可补拉与下载文档",
        error_messages={"invalid": "请填写以 http:// 或 https:// 开头的有效地址"},
    )
    api_app_id = forms.CharField(
        label="推送接入应用标识",
        required=False,
        max_length=64,
        validators=[APP_ID_VALIDATOR],
        help_text="机构推送时使用的接入应用（在“接入应用”中登记 SM2 公钥）；推送方式必填",
    )
    poll_interval_minutes = forms.IntegerField(
        label="拉取间隔（分钟）",
        min_value=1,
        max_value=1440,
        initial=5,
        error_messages={
            "min_value": "拉取间隔至少 1 分钟",
            "max_value": "拉取间隔最长 1440 分钟（一天）",
            "invalid": "请填写整数分钟数",
        },
    )
    is_enabled = forms.BooleanField(label="启用", required=False, initial=True)

    def __init__(
        self, *args: Any, institutions: list[Any], fixed: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["institution"]).choices = [
            (i.pk, f"{i.code} {i.name}") for i in institutions
        ]
        if fixed is not None:
            self.fields["institution"].disabled = True
            self.fields["institution"].initial = fixed.pk
        for field in self.fields.values():
            field.error_messages.setdefault("required", "此项为必填项")
            field.error_messages["required"] = "此项为必填项"
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mode = data.get("mode")
        if mode == ArchiveMode.POLL and not data.get("base_url") and "base_url" not in self.errors:
            self.add_error("base_url", "平台定时拉取方式必须填写归档接口地址")
        if (
            mode == ArchiveMode.PUSH
            and not data.get("api_app_id")
            and "api_app_id" not in self.errors
        ):
            self.add_error("api_app_id", "机构推送方式必须填写推送接入应用标识")
        return data
