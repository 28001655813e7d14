"""Forms of the record-room console: list filters, statistics period, review actions."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils import timezone

from jingan.core.public import dictionary_entries
from jingan.medical_records.console_queries import (
    GRAINS,
    ApplicationFilters,
    period_starts,
    purpose_choices,
)
from jingan.medical_records.models import ApplicantType, ApplicationStatus, DeliveryMethod
from jingan.medical_records.services import REJECT_REASON_CATEGORY

_ALL = [("", "全部")]
# How many periods one chart may show: a day-by-day line over ten years helps nobody.
MAX_PERIODS = {"day": 366, "week": 160, "month": 120}


def _select() -> forms.Select:
    return forms.Select(attrs={"class": "form-select"})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d")


class ApplicationFilterForm(forms.Form):
    """The application list's filter bar (GET); also the review queue's custom search."""

    status = forms.ChoiceField(label="状态", required=False, widget=_select())
    purpose = forms.ChoiceField(label="复印用途", required=False, widget=_select())
    applicant_type = forms.ChoiceField(
        label="申请人类型", required=False, choices=_ALL + ApplicantType.choices, widget=_select()
    )
    delivery_method = forms.ChoiceField(
        label="取件方式", required=False, choices=_ALL + DeliveryMethod.choices, widget=_select()
    )
    institution = forms.ChoiceField(label="医疗机构", required=False, widget=_select())
    submitted_from = forms.DateField(label="提交日期自", required=False, widget=_date())
    submitted_to = forms.DateField(label="至", required=False, widget=_date())
    q = forms.CharField(
        label="搜索",
        required=False,
        max_length=40,
        widget=forms.TextInput(
            attrs={
                "class": "form-control",
                "type": "search",
                "placeholder": "申请编号或患者身份证号",
                "autocomplete": "off",
            }
        ),
    )

    def __init__(
        self,
        *args: Any,
        institutions: Sequence[Any] = (),
        statuses: Sequence[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = _ALL + list(
            statuses if statuses is not None else ApplicationStatus.choices
        )
        cast(forms.ChoiceField, self.fields["purpose"]).choices = _ALL + purpose_choices()
        self.show_institution = len(institutions) > 1
        if self.show_institution:
            cast(forms.ChoiceField, self.fields["institution"]).choices = _ALL + [
                (str(i.pk), f"{i.code} {i.short_name or i.name}") for i in institutions
            ]
        else:
            del self.fields["institution"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("submitted_from"), data.get("submitted_to")
        if start and end and start > end:
            raise forms.ValidationError("提交日期的起始日不能晚于截止日")
        return data

    def filters(self) -> ApplicationFilters:
        data = self.cleaned_data
        institution = data.get("institution")
        return ApplicationFilters(
            status=data.get("status") or "",
            purpose=data.get("purpose") or "",
            applicant_type=data.get("applicant_type") or "",
            delivery_method=data.get("delivery_method") or "",
            institution_id=int(institution) if institution else None,
            submitted_from=data.get("submitted_from"),
            submitted_to=data.get("submitted_to"),
            query=(data.get("q") or "").strip(),
        )


class StatisticsForm(forms.Form):
    """The statistics period: from, to, grain, and the institution for district users."""

    start = forms.DateField(label="开始日期", widget=_date())
    end = forms.DateField(label="结束日期", widget=_date())
    grain = forms.ChoiceField(label="统计粒度", choices=list(GRAINS.items()), widget=_select())
    institution = forms.ChoiceField(label="医疗机构", required=False, widget=_select())

    def __init__(self, *args: Any, institutions: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.show_institution = len(institutions) > 1
        if self.show_institution:
            cast(forms.ChoiceField, self.fields["institution"]).choices = [("", "全部机构")] + [
                (str(i.pk), f"{i.code} {i.short_name or i.name}") for i in institutions
            ]
        else:
            del self.fields["institution"]

    @staticmethod
    def default_data() -> dict[str, str]:
        """The last 30 days, day by day."""
        today = timezone.localdate()
        start = today - datetime.timedelta(days=29)
        return {"start": start.isoformat(), "end": today.isoformat(), "grain": "day"}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end, grain = data.get("start"), data.get("end"), data.get("grain")
        if start and end:
            if start > end:
                raise forms.ValidationError("开始日期不能晚于结束日期")
            if grain in MAX_PERIODS:
                if len(period_starts(start, end, grain)) > MAX_PERIODS[grain]:
                    raise forms.ValidationError(
                        f"{GRAINS[grain]}统计最多 {MAX_PERIODS[grain]} 个周期，请缩短时间范围或改用更粗的粒度"
                    )
        return data

    @property
    def institution_id(self) -> int | None:
        value = self.cleaned_data.get("institution")
        return int(value) if value else None


class ApproveForm(forms.Form):
    note = forms.CharField(
        label="审核意见（可选）",
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "如：材料齐全"}),
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label="拒绝原因", widget=_select())
    note = forms.CharField(
        label="补充说明（可选）",
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "告知居民如何补正"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["reason"]).choices = [
            ("", "请选择")
        ] + dictionary_entries(REJECT_REASON_CATEGORY)


class ShipForm(forms.Form):
    tracking_no = forms.CharField(
        label="快递单号",
        max_length=30,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
