"""The auditors' search form: parses and checks the query string, with Chinese errors."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from jingan.core.audit.models import Outcome
from jingan.core.audit.queries import AuditFilters

_ACTION = re.compile(r"^[a-z0-9_.]+$")
_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _institution_choices() -> list[tuple[str, str]]:
    from jingan.core.institutions.models import Institution

    # Names only label the filter; which entries are visible is decided by the scope.
    rows = Institution.objects.unscoped().order_by("code").values_list("pk", "name")
    return [("", "全部机构"), *((str(pk), name) for pk, name in rows)]


class AuditSearchForm(forms.Form):
    since = forms.DateTimeField(
        label="开始时间",
        required=False,
        input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "开始时间格式不正确"},
    )
    until = forms.DateTimeField(
        label="结束时间",
        required=False,
        input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "结束时间格式不正确"},
    )
    action = forms.CharField(
        label="事件",
        required=False,
        max_length=128,
        error_messages={"max_length": "事件名称最多 128 个字符"},
    )
    actor = forms.CharField(
        label="操作人",
        required=False,
        max_length=150,
        error_messages={"max_length": "操作人账号最多 150 个字符"},
    )
    resident_id = forms.IntegerField(
        label="居民 ID",
        required=False,
        min_value=1,
        error_messages={"invalid": "居民 ID 应为正整数", "min_value": "居民 ID 应为正整数"},
    )
    institution = forms.TypedChoiceField(
        label="机构",
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": "请选择列表中的机构"},
    )
    outcome = forms.ChoiceField(
        label="结果",
        required=False,
        choices=[("", "全部结果"), *Outcome.choices],
        error_messages={"invalid_choice": "请选择列表中的结果"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].choices = _institution_choices()  # type: ignore[attr-defined]

    def clean_action(self) -> str:
        action: str = self.cleaned_data["action"].strip()
        if action and not _ACTION.match(action):
            raise forms.ValidationError(
                "事件名称只能包含小写字母、数字、下划线和点，例如 auth.login"
            )
        return action

    def clean_actor(self) -> str:
        return str(self.cleaned_data["actor"]).strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", "结束时间应晚于开始时间")
        return cleaned

    def filters(self) -> AuditFilters:
        """The parsed filters; call only when the form is valid."""
        data = self.cleaned_data
        return AuditFilters(
            since=data.get("since"),
            until=data.get("until"),
            action=data.get("action") or "",
            actor=data.get("actor") or "",
            resident_id=data.get("resident_id"),
            institution_id=data.get("institution"),
            outcome=data.get("outcome") or "",
        )
