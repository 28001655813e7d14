"""Console forms for staff accounts, roles and grants; the services have the last word."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from jingan.core.access.models import Duty, Role, ScopeKind
from jingan.core.access.queries import grantable_permissions
from jingan.core.accounts.services import validate_new_password
from jingan.core.institutions.models import Department, Institution

_REQUIRED = {"required": "此项为必填项"}

USERNAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$",
    "用户名须以字母或数字开头，只能包含字母、数字和 . _ @ -，至少 2 位",
)
MOBILE_VALIDATOR = RegexValidator(r"^1[3-9]\d{9}$", "请填写 11 位中国大陆手机号")
CODE_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_-]{1,63}$", "角色编码须以小写字母开头，只能包含小写字母、数字、下划线和连字符"
)


class _TablerForm(forms.Form):
    """Tabler classes on every widget, Chinese "required" messages, invalid fields marked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")
            if field.required:
                field.error_messages.update(_REQUIRED)

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


def _institution_field(institutions: Any, *, required: bool) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="所属机构",
        queryset=institutions,
        required=required,
        empty_label="无（区级或运维人员）" if not required else "请选择机构",
        error_messages={"invalid_choice": "请选择您数据范围内的机构", **_REQUIRED},
    )


def _department_choices(institutions: Any) -> list[tuple[str, Any]]:
    """Departments grouped by institution, for an ``<optgroup>`` per institution."""
    grouped: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    departments = (
        Department.objects.unscoped()
        .filter(institution__in=list(institutions), is_active=True)
        .select_related("institution")
        .order_by("institution__code", "code")
    )
    for department in departments:
        institution = department.institution
        group = grouped.setdefault(institution.pk, (institution.display_name, []))
        group[1].append((str(department.pk), f"{department.code} {department.name}"))
    return [("", "无")] + [(title, options) for title, options in grouped.values()]


class StaffProfileForm(_TablerForm):
    """Display name, institution, department and contact details of a staff account."""

    display_name = forms.CharField(label="姓名（显示名）", max_length=64)
    institution = forms.ModelChoiceField(queryset=Institution.objects.none())
    department = forms.TypedChoiceField(
        label="所属科室", required=False, coerce=int, empty_value=None
    )
    mobile = forms.CharField(
        label="手机号", required=False, max_length=11, validators=[MOBILE_VALIDATOR]
    )
    email = forms.EmailField(
        label="电子邮箱", required=False, error_messages={"invalid": "请填写有效的电子邮箱地址"}
    )

    def __init__(self, *args: Any, institutions: Any, district_wide: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Institution-scoped administrators manage only their institutions' staff, so
        # an account they create or edit must stay inside one of them.
        field = _institution_field(institutions, required=not district_wide)
        field.widget.attrs["class"] = "form-select"
        self.fields["institution"] = field
        _choice_field(self, "department").choices = _department_choices(institutions)
        self.fields["department"].widget.attrs["class"] = "form-select"
        self.fields["department"].help_text = "须属于所选机构"
        self.fields["mobile"].help_text = "用于接收安全通知；页面上只显示掩码"
        self.order_fields(["display_name", "institution", "department", "mobile", "email"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        department_id = data.get("department")
        institution = data.get("institution")
        if department_id is not None:
            department = Department.objects.unscoped().filter(pk=department_id).first()
            if (
                department is None
                or institution is None
                or department.institution_id != institution.pk
            ):
                self.add_error("department", "所选科室不属于所选机构")
        return data

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        institution = data.get("institution")
        return {
            "display_name": data["display_name"].strip(),
            "institution_id": institution.pk if institution else None,
            "department_id": data.get("department"),
            "mobile": data.get("mobile", ""),
            "email": data.get("email", ""),
        }


class StaffCreateForm(StaffProfileForm):
    username = forms.CharField(label="用户名", max_length=150, validators=[USERNAME_VALIDATOR])
    initial_password = forms.CharField(
        label="初始密码", strip=False, widget=forms.PasswordInput(render_value=False)
    )
    confirm_password = forms.CharField(
        label="确认初始密码", strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].help_text = "登录用，创建后不能修改"
        self.fields[
            "initial_password"
        ].help_text = "至少 12 位，含大写字母、小写字母、数字、特殊字符中的至少三类；首次登录须修改"
        self.order_fields(
            [
                "username",
                "display_name",
                "institution",
                "department",
                "mobile",
                "email",
                "initial_password",
                "confirm_password",
            ]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        password, confirm = data.get("initial_password"), data.get("confirm_password")
        if password and confirm and password != confirm:
            self.add_error("confirm_password", "两次输入的密码不一致")
        return data


class DisableForm(_TablerForm):
    reason = forms.CharField(
        label="停用原因",
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "例如：调离本机构、离职"}),
    )


class PasswordResetForm(_TablerForm):
    new_password = forms.CharField(label="新密码", strip=False, widget=forms.PasswordInput)
    confirm_password = forms.CharField(label="确认新密码", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        self.fields["new_password"].help_text = "对方下次登录时须立即修改；其已登录的会话将全部结束"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password, confirm = data.get("new_password"), data.get("confirm_password")
        if password and confirm and password != confirm:
            self.add_error("confirm_password", "两次输入的密码不一致")
        elif password:
            for message in validate_new_password(password, self.staff):
                self.add_error("new_password", message)
        return data


class GrantForm(_TablerForm):
    role = forms.ChoiceField(label="角色")
    institution = forms.ModelChoiceField(queryset=Institution.objects.none())

    def __init__(self, *args: Any, institutions: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.roles = {
            role.code: role for role in Role.objects.order_by("-is_builtin", "duty", "code")
        }
        _choice_field(self, "role").choices = [("", "请选择角色")] + [
            (code, role.name) for code, role in self.roles.items()
        ]
        self.fields["role"].widget.attrs["class"] = "form-select"
        field = _institution_field(institutions, required=False)
        field.label = "数据范围（机构）"
        field.empty_label = "请选择机构"
        field.widget.attrs["class"] = "form-select"
        # With Alpine loaded, the institution is switched off for district-wide roles.
        field.widget.attrs["x-bind:disabled"] = "scope === 'district'"
        self.fields["institution"] = field

    def selected_scope(self) -> str:
        role = self.roles.get(self.data.get("role", "")) if self.is_bound else None
        return role.scope_kind if role else ""

    def role_options(self) -> list[dict[str, Any]]:
        chosen = self.data.get("role", "") if self.is_bound else ""
        return [
            {
                "code": code,
                "name": role.name,
                "scope_kind": role.scope_kind,
                "duty": role.get_duty_display(),
                "selected": code == chosen,
            }
            for code, role in self.roles.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        role = self.roles.get(data.get("role", ""))
        if role is None:
            return data
        data["role"] = role
        if role.scope_kind == ScopeKind.DISTRICT:
            # The field is hidden for district roles; a stale value must not reach the service.
            data["institution"] = None
        elif data.get("institution") is None and "institution" not in self.errors:
            self.add_error("institution", f"角色「{role.name}」须指定机构")
        return data


class RoleForm(_TablerForm):
    code = forms.CharField(label="角色编码", max_length=64, validators=[CODE_VALIDATOR])
    name = forms.CharField(label="角色名称", max_length=64)
    description = forms.CharField(label="说明", max_length=255, required=False)
    duty = forms.ChoiceField(label="职责类别", choices=Duty.choices, initial=Duty.BUSINESS)
    scope_kind = forms.ChoiceField(
        label="数据范围", choices=ScopeKind.choices, initial=ScopeKind.INSTITUTION
    )
    permissions = forms.MultipleChoiceField(label="功能权限", required=False)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choice_field(self, "permissions").choices = [
            (f"{p.content_type.app_label}.{p.codename}", p.name) for p in grantable_permissions()
        ]
        self.fields["permissions"].error_messages["invalid_choice"] = "功能权限 %(value)s 不存在"
        self.fields["code"].help_text = "英文小写，创建后不能修改，例如 record_room_clerk"
        self.fields[
            "duty"
        ].help_text = "三权分立：系统管理、安全管理、安全审计三类职责不能与其他职责由同一人兼任"
        self.fields[
            "scope_kind"
        ].help_text = "指定机构：授予时须选择机构，持有人只能看到该机构的数据"
        if editing:
            # Only the permissions of a role change after creation (set_role_permissions).
            for name in ("code", "name", "description", "duty", "scope_kind"):
                del self.fields[name]

    def selected(self) -> set[str]:
        if self.is_bound:
            return set(self.data.getlist("permissions")) if hasattr(self.data, "getlist") else set()
        return set(self.initial.get("permissions", ()))
