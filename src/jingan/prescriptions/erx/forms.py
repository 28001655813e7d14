"""Forms of the e-prescription console: list filters, the prescription editor with its
diagnosis and drug lines, and the small action forms.

The editor only parses what the page sends; the rules of a prescription (ID number
format, five drugs at most, one main diagnosis, catalogue codes) live in
``schemas.parse_draft`` and the services, so the console and the workstation API refuse
the same things with the same Chinese messages.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.forms import formset_factory

from jingan.prescriptions.erx import schemas
from jingan.prescriptions.erx.models import Prescription, PrescriptionStatus
from jingan.prescriptions.erx.queries import PICKUP_STATUSES, PrescriptionFilters

_ALL = [("", "全部")]


def _select(**attrs: str) -> forms.Select:
    return forms.Select(attrs={"class": "form-select", **attrs})


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", "autocomplete": "off", **attrs})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d")


def institution_choices(institutions: Sequence[Any]) -> list[tuple[str, str]]:
    return [(str(i.pk), f"{i.code} {i.short_name or i.name}") for i in institutions]


class PrescriptionFilterForm(forms.Form):
    """The prescription list's filter bar (GET)."""

    status = forms.ChoiceField(
        label="状态", required=False, choices=_ALL + PrescriptionStatus.choices, widget=_select()
    )
    rxno = forms.CharField(
        label="处方号", required=False, max_length=40, widget=_text(placeholder="院内或医保处方号")
    )
    id_number = forms.CharField(
        label="患者身份证号", required=False, max_length=18, widget=_text(placeholder="完整 18 位")
    )
    doctor = forms.CharField(
        label="开方医师", required=False, max_length=50, widget=_text(placeholder="姓名或医师代码")
    )
    date_from = forms.DateField(label="开方日期自", required=False, widget=_date())
    date_to = forms.DateField(label="至", required=False, widget=_date())
    institution = forms.ChoiceField(label="医疗机构", required=False, widget=_select())

    def __init__(self, *args: Any, institutions: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.show_institution = len(institutions) > 1
        if self.show_institution:
            cast(forms.ChoiceField, self.fields["institution"]).choices = _ALL + (
                institution_choices(institutions)
            )
        else:
            del self.fields["institution"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("开方日期的起始日不能晚于截止日")
        return data

    def filters(self) -> PrescriptionFilters:
        if not (self.is_bound and self.is_valid()):
            return PrescriptionFilters()
        data = self.cleaned_data
        institution = data.get("institution")
        return PrescriptionFilters(
            status=data.get("status") or "",
            rxno=(data.get("rxno") or "").strip(),
            id_number=(data.get("id_number") or "").strip(),
            doctor=(data.get("doctor") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            institution_id=int(institution) if institution else None,
        )


class PickupFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="状态",
        required=False,
        choices=_ALL + [(s.value, s.label) for s in PICKUP_STATUSES],
        widget=_select(),
    )


# -- the editor -------------------------------------------------------------------------


class PrescriptionForm(forms.Form):
    """Patient, visit and prescription header; diagnoses and drugs come in formsets."""

    institution = forms.ChoiceField(label="开方机构", widget=_select())
    hosp_rxno = forms.CharField(label="院内处方号", max_length=40, widget=_text())
    patient_name = forms.CharField(label="患者姓名", max_length=50, widget=_text())
    patient_id_number = forms.CharField(
        label="患者身份证号", max_length=18, widget=_text(inputmode="text")
    )
    patient_gender = forms.ChoiceField(
        label="性别", choices=list(schemas.GENDERS.items()), widget=_select()
    )
    patient_age = forms.IntegerField(
        label="年龄",
        min_value=0,
        max_value=150,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )
    psn_no = forms.CharField(label="医保人员编号", required=False, max_length=30, widget=_text())
    insuplc_admdvs = forms.CharField(
        label="参保地医保区划", required=False, max_length=6, widget=_text(placeholder="如 310106")
    )
    mdtrt_id = forms.CharField(label="就诊 ID", max_length=30, widget=_text())
    department_code = forms.CharField(label="开方科室编码", max_length=30, widget=_text())
    department_name = forms.CharField(label="开方科室", max_length=100, widget=_text())
    doctor_code = forms.CharField(label="医保医师代码", max_length=30, widget=_text())
    doctor_name = forms.CharField(label="开方医师", max_length=50, widget=_text())
    doctor_title = forms.CharField(label="医师职称", required=False, max_length=50, widget=_text())
    rx_type_code = forms.ChoiceField(
        label="处方类别", choices=list(schemas.RX_TYPES.items()), widget=_select()
    )
    valid_days = forms.IntegerField(
        label="有效天数",
        min_value=1,
        max_value=schemas.MAX_VALID_DAYS,
        initial=3,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args: Any, institutions: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["institution"]).choices = institution_choices(
            institutions
        )
        self.show_institution = len(institutions) > 1
        if len(institutions) == 1 and not self.is_bound:
            self.initial.setdefault("institution", str(institutions[0].pk))


class DiagnosisForm(forms.Form):
    code = forms.CharField(label="诊断编码", max_length=20, widget=_text(placeholder="ICD-10"))
    name = forms.CharField(label="诊断名称", max_length=100, widget=_text())
    main = forms.BooleanField(
        label="主诊断",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class ItemForm(forms.Form):
    med_list_codg = forms.CharField(
        label="医保药品编码",
        max_length=50,
        widget=_text(**{"data-role": "drug-code", "placeholder": "从目录中选择"}),
    )
    quantity = forms.DecimalField(
        label="数量",
        max_digits=8,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.01", "min": "0"}),
    )
    single_dose = forms.CharField(
        label="单次剂量", max_length=30, widget=_text(placeholder="如 0.5 g")
    )
    route_code = forms.ChoiceField(
        label="用药途径", choices=list(schemas.ROUTES.items()), widget=_select()
    )
    frequency_code = forms.ChoiceField(
        label="用药频次", choices=list(schemas.FREQUENCIES.items()), widget=_select()
    )
    days = forms.IntegerField(
        label="天数",
        min_value=1,
        max_value=30,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )


DiagnosisFormSet = formset_factory(
    DiagnosisForm, extra=0, min_num=1, validate_min=True, max_num=10, validate_max=True
)
ItemFormSet = formset_factory(
    ItemForm,
    extra=0,
    min_num=1,
    validate_min=True,
    max_num=schemas.MAX_ITEMS,
    validate_max=True,
)


class PrescriptionEditor:
    """The three forms of the editor, bound or not, and the draft they make."""

    def __init__(
        self,
        data: Any = None,
        *,
        institutions: Sequence[Any],
        initial: dict[str, Any] | None = None,
        diagnoses: list[dict[str, Any]] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> None:
        self.form = PrescriptionForm(data, institutions=institutions, initial=initial or {})
        self.diagnoses = DiagnosisFormSet(data, prefix="diagnosis", initial=diagnoses)
        self.items = ItemFormSet(data, prefix="item", initial=items)
        self.error = ""

    def is_valid(self) -> bool:
        # Evaluate all three so every field error shows at once.
        results = [self.form.is_valid(), self.diagnoses.is_valid(), self.items.is_valid()]
        return all(results)

    @property
    def institution_id(self) -> int:
        return int(self.form.cleaned_data["institution"])

    def draft(self) -> schemas.PrescriptionDraft:
        """The checked draft; ErxError (Chinese, naming the field) when a rule is broken."""
        data = {
            key: value
            for key, value in self.form.cleaned_data.items()
            if key != "institution" and value is not None
        }
        data["diagnoses"] = [
            {"code": row["code"], "name": row["name"], "main": bool(row.get("main"))}
            for row in self.diagnoses.cleaned_data
            if row and not row.get("DELETE")
        ]
        data["items"] = [
            {
                "med_list_codg": row["med_list_codg"],
                "quantity": str(row["quantity"]),
                "single_dose": row["single_dose"],
                "route_code": row["route_code"],
                "frequency_code": row["frequency_code"],
                "days": row["days"],
            }
            for row in self.items.cleaned_data
            if row
        ]
        return schemas.parse_draft(data)

    def errors_text(self) -> str:
        """Every error of the three forms as one Chinese line (for the alert on top)."""
        parts: list[str] = []
        for field, errors in self.form.errors.items():
            label = self.form.fields[field].label if field in self.form.fields else ""
            parts += [f"{label}：{e}" if label else str(e) for e in errors]
        for name, formset in (("诊断", self.diagnoses), ("药品", self.items)):
            parts += [f"{name}：{e}" for e in formset.non_form_errors()]
            for index, errors in enumerate(formset.errors):
                form_errors: Any = errors  # an ErrorDict per form (stubs say ErrorList)
                for field, messages in form_errors.items():
                    label = formset.forms[index].fields[field].label
                    parts += [f"{name}第 {index + 1} 行 {label}：{m}" for m in messages]
        return "；".join(parts)


def editor_initial(prescription: Prescription) -> dict[str, Any]:
    """The editor's values for an existing prescription (decrypted: the editor needs them)."""
    return {
        "institution": str(prescription.institution_id),
        "hosp_rxno": prescription.hosp_rxno,
        "patient_name": prescription.patient_name,
        "patient_id_number": prescription.patient_id_number,
        "patient_gender": prescription.patient_gender,
        "patient_age": prescription.patient_age,
        "psn_no": prescription.psn_no,
        "insuplc_admdvs": prescription.insuplc_admdvs,
        "mdtrt_id": prescription.mdtrt_id,
        "department_code": prescription.department_code,
        "department_name": prescription.department_name,
        "doctor_code": prescription.doctor_code,
        "doctor_name": prescription.doctor_name,
        "doctor_title": prescription.doctor_title,
        "rx_type_code": prescription.rx_type_code,
        "valid_days": prescription.valid_days,
    }


def editor_diagnoses(prescription: Prescription) -> list[dict[str, Any]]:
    try:
        value = json.loads(prescription.diagnoses or "[]")
    except (TypeError, ValueError):
        return []
    return [
        {"code": d.get("code", ""), "name": d.get("name", ""), "main": bool(d.get("main"))}
        for d in value
        if isinstance(d, dict)
    ]


def editor_items(prescription: Prescription) -> list[dict[str, Any]]:
    return [
        {
            "med_list_codg": item.med_list_codg,
            "quantity": item.quantity,
            "single_dose": item.single_dose,
            "route_code": item.route_code,
            "frequency_code": item.frequency_code,
            "days": item.days,
        }
        for item in prescription.items.order_by("line_no")
    ]


def new_rxno() -> str:
    """A suggested 院内处方号: the date and time to the second (the doctor may change it)."""
    return "RX" + datetime.datetime.now().strftime("%Y%m%d%H%M%S")  # noqa: DTZ005 - local clock by design


class ReviewForm(forms.Form):
    """The in-hospital pharmacist's decision; a rejection must say why."""

    opinion = forms.CharField(label="审方意见", required=False, max_length=200)

    def clean_opinion(self) -> str:
        return (self.cleaned_data.get("opinion") or "").strip()


class RevokeForm(forms.Form):
    reason = forms.CharField(label="撤销原因", max_length=200)

    def clean_reason(self) -> str:
        reason = (self.cleaned_data.get("reason") or "").strip()
        if not reason:
            raise forms.ValidationError("请填写撤销原因")
        return reason


class CatalogueSearchForm(forms.Form):
    q = forms.CharField(
        label="关键字",
        required=False,
        max_length=50,
        widget=_text(type="search", placeholder="药品编码、通用名或商品名"),
    )
    institution = forms.ChoiceField(label="查询机构", required=False, widget=_select())

    def __init__(self, *args: Any, institutions: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.institutions = list(institutions)
        cast(forms.ChoiceField, self.fields["institution"]).choices = institution_choices(
            institutions
        )
        self.show_institution = len(institutions) > 1

    @property
    def keyword(self) -> str:
        if self.is_bound and self.is_valid():
            return str(self.cleaned_data.get("q") or "").strip()
        return ""

    @property
    def institution_id(self) -> int | None:
        """The chosen institution, or the only one; None when none is available."""
        if self.is_bound and self.is_valid() and self.cleaned_data.get("institution"):
            return int(self.cleaned_data["institution"])
        return self.institutions[0].pk if self.institutions else None
