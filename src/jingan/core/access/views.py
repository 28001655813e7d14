"""Console pages for staff accounts, roles and their data scope (MR-A8).

Staff are read through ``staff_for`` / ``get_staff_for_user`` with the permission the page
needs, so an institution administrator sees only their institutions' staff and gets a 404
for anyone else. Every change goes through ``accounts.services`` or ``access.services``,
whose refusals (三权分立 included) are shown to the user word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.access import services
from jingan.core.access.forms import (
    DisableForm,
    GrantForm,
    PasswordResetForm,
    RoleForm,
    StaffCreateForm,
    StaffProfileForm,
)
from jingan.core.access.grants import institution_ids_for
from jingan.core.access.models import Duty, Role, RoleAssignment, ScopeKind
from jingan.core.access.queries import (
    StaffState,
    assignments_of,
    get_role,
    get_staff_for_user,
    holds_for,
    permission_groups,
    recent_sign_in_events,
    role_permission_labels,
    role_summaries,
    roles_by_user,
    search_staff,
    staff_counts,
    staff_for,
)
from jingan.core.accounts import services as accounts
from jingan.core.accounts.models import StaffSession, User
from jingan.core.institutions.models import Institution

VIEW_USER = "accounts.view_user"
ADD_USER = "accounts.add_user"
CHANGE_USER = "accounts.change_user"
UNLOCK_USER = "accounts.unlock_user"
VIEW_ROLE = "access.view_role"
ADD_ROLE = "access.add_role"
CHANGE_ROLE = "access.change_role"
DELETE_ROLE = "access.delete_role"
ASSIGN = services.ASSIGN
VIEW_AUDIT = "audit.view_auditentry"

STAFF_FILTERS = ("q", "institution", "role", "state")

SIGN_IN_ACTIONS = {
    "auth.login.success": "登录成功",
    "auth.logout": "退出登录",
    "auth.password.failure": "密码验证失败",
    "auth.totp.failure": "动态口令验证失败",
    "auth.lockout": "账号被锁定",
    "auth.session.expired": "会话超时退出",
    "auth.totp.enrol": "绑定动态口令",
    "auth.password.change": "本人修改密码",
    "auth.throttled": "登录被限流",
}


def _staff_crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), ("工作人员账号", "access:staff-list"), *tail]


def _role_crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), ("角色与权限", "access:role-list"), *tail]


def _actor(request: HttpRequest) -> User:
    # Every view here is behind login_required: the user is a signed-in staff member.
    return cast(User, request.user)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _staff_url(staff: Any, anchor: str = "") -> str:
    url = reverse("access:staff-detail", args=[staff.pk])
    return f"{url}#{anchor}" if anchor else url


def _attempt(
    request: HttpRequest,
    change: Callable[[], object],
    success: str,
    *,
    refusal: type[accounts.AccountError] | type[services.AccessError],
) -> bool:
    """Run ``change``; flash its refusal word for word, or ``success``; say whether it ran."""
    try:
        change()
    except refusal as error:
        messages.error(request, error.message)
        return False
    messages.success(request, success)
    return True


def _staff_action_page(
    request: HttpRequest,
    staff: Any,
    *,
    action: str,
    title: str,
    form: Any,
    explanation: str,
    submit: str,
    danger: bool,
) -> HttpResponse:
    """The confirmation page of one change to a staff account."""
    return render(
        request,
        "access/staff_action.html",
        {
            "breadcrumbs": _staff_crumbs((str(staff), None), (action, None)),
            "staff": staff,
            "form": form,
            "title": title,
            "explanation": explanation,
            "submit": submit,
            "danger": danger,
        },
    )


# -- staff list and detail ---------------------------------------------------------------


@login_required
@permission_required(VIEW_USER, raise_exception=True)
@require_GET
def staff_list(request: HttpRequest) -> HttpResponse:
    visible = staff_for(request.user, VIEW_USER)
    chosen = {name: request.GET.get(name, "").strip() for name in STAFF_FILTERS}
    found = search_staff(
        visible,
        text=chosen["q"],
        institution=chosen["institution"],
        role=chosen["role"],
        state=chosen["state"],
    )
    page = Paginator(found, 30).get_page(request.GET.get("page"))
    rows = list(page)
    roles = roles_by_user([row.pk for row in rows])
    for row in rows:
        row.assignment_list = roles.get(row.pk, [])
    district_wide = institution_ids_for(request.user, VIEW_USER) is None
    context = {
        "breadcrumbs": _staff_crumbs(),
        "page": page,
        "rows": rows,
        "filters": chosen,
        "query": urlencode({name: value for name, value in chosen.items() if value}),
        "matched": page.paginator.count,
        "counts": staff_counts(visible),
        "institutions": Institution.objects.restrict(request.user, VIEW_USER),
        "district_wide": district_wide,
        "roles": Role.objects.order_by("-is_builtin", "duty", "code"),
        "states": StaffState.CHOICES,
        "can_add": request.user.has_perm(ADD_USER),
    }
    if _is_htmx(request):
        return render(request, "access/staff_list.html#staff-table", context)
    return render(request, "access/staff_list.html", context)


def _roles_card_context(
    request: HttpRequest, staff: Any, *, form: GrantForm | None = None
) -> dict[str, Any]:
    actor = _actor(request)
    can_assign = holds_for(actor, ASSIGN, staff.institution_id) and actor.pk != staff.pk
    assignments = assignments_of(staff)
    # The service checks institution scope; a district grant needs a district assigner.
    revocable_ids = {
        assignment.pk
        for assignment in assignments
        if can_assign and holds_for(actor, ASSIGN, assignment.institution_id)
    }
    if can_assign and form is None:
        form = GrantForm(institutions=_assignable_institutions(actor))
    return {
        "staff": staff,
        "assignments": assignments,
        "revocable_ids": revocable_ids,
        "can_assign": can_assign,
        "self_view": actor.pk == staff.pk and actor.has_perm(ASSIGN),
        "grant_form": form,
    }


def _assignable_institutions(actor: Any) -> Any:
    return Institution.objects.restrict(actor, ASSIGN).filter(is_active=True)


@login_required
@permission_required(VIEW_USER, raise_exception=True)
@require_GET
def staff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    staff = get_staff_for_user(request.user, VIEW_USER, pk)
    actor = _actor(request)
    show_events = actor.has_perm(VIEW_AUDIT)
    events = recent_sign_in_events(staff.pk) if show_events else []
    for event in events:
        event.title = SIGN_IN_ACTIONS.get(event.action, event.action)
    can_change = holds_for(actor, CHANGE_USER, staff.institution_id) and actor.pk != staff.pk
    context = {
        "breadcrumbs": _staff_crumbs((str(staff), None)),
        "staff": staff,
        "is_locked": staff.is_locked(),
        "sessions": list(StaffSession.objects.filter(user=staff)),
        "show_events": show_events,
        "events": events,
        "can_change": can_change,
        "can_unlock": holds_for(actor, UNLOCK_USER, staff.institution_id) and actor.pk != staff.pk,
        "disable_form": DisableForm(),
        "password_form": PasswordResetForm(staff=staff),
        **_roles_card_context(request, staff),
    }
    return render(request, "access/staff_detail.html", context)


# -- staff account changes ----------------------------------------------------------------


@sensitive_post_parameters("initial_password", "confirm_password")
@login_required
@permission_required(ADD_USER, raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = StaffCreateForm(
        request.POST or None,
        institutions=Institution.objects.restrict(actor, ADD_USER).filter(is_active=True),
        district_wide=institution_ids_for(actor, ADD_USER) is None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            staff = accounts.create_user(
                actor=actor,
                username=form.cleaned_data["username"],
                initial_password=form.cleaned_data["initial_password"],
                request=request,
                **form.changes(),
            )
        except accounts.AccountError as error:
            form.add_error("username" if error.code == "duplicate" else None, error.message)
        except ValidationError as error:
            form.add_error("initial_password", error.messages)
        else:
            messages.success(
                request, f"已创建账号「{staff.username}」，首次登录时须修改初始密码并绑定动态口令"
            )
            if actor.has_perm(VIEW_USER):
                return redirect("access:staff-detail", staff.pk)
            return redirect("access:staff-create")
    return render(
        request,
        "access/staff_form.html",
        {
            "breadcrumbs": _staff_crumbs(("新建账号", None)),
            "form": form,
            "title": "新建工作人员账号",
            "cancel_url": reverse("access:staff-list"),
        },
    )


@login_required
@permission_required(CHANGE_USER, raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    staff = get_staff_for_user(actor, CHANGE_USER, pk)
    initial = {
        "display_name": staff.display_name,
        "institution": staff.institution_id,
        "department": staff.department_id,
        "mobile": staff.mobile,
        "email": staff.email,
    }
    form = StaffProfileForm(
        request.POST or None,
        initial=initial,
        institutions=Institution.objects.restrict(actor, CHANGE_USER),
        district_wide=institution_ids_for(actor, CHANGE_USER) is None,
    )
    if request.method == "POST" and form.is_valid():
        changes = {
            name: value for name, value in form.changes().items() if getattr(staff, name) != value
        }
        if changes:
            accounts.update_user(actor=actor, user=staff, request=request, **changes)
            messages.success(request, "账号信息已保存")
        else:
            messages.info(request, "没有需要保存的修改")
        return redirect("access:staff-detail", staff.pk)
    return render(
        request,
        "access/staff_form.html",
        {
            "breadcrumbs": _staff_crumbs((str(staff), None), ("编辑", None)),
            "form": form,
            "title": f"编辑账号 · {staff.username}",
            "cancel_url": _staff_url(staff),
        },
    )


@login_required
@permission_required(CHANGE_USER, raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation page; POST: disable (with a reason) or re-enable the account."""
    actor = _actor(request)
    staff = get_staff_for_user(actor, CHANGE_USER, pk)
    disabling = staff.is_active
    form = DisableForm(request.POST or None) if disabling else None
    if request.method == "POST" and (form is None or form.is_valid()):
        _attempt(
            request,
            lambda: accounts.set_user_active(
                actor=actor,
                user=staff,
                active=not disabling,
                reason=form.cleaned_data["reason"].strip() if form else "",
                request=request,
            ),
            f"已停用账号「{staff.username}」，其所有登录会话已结束"
            if disabling
            else f"已启用账号「{staff.username}」",
            refusal=accounts.AccountError,
        )
        return redirect("access:staff-detail", staff.pk)
    action = "停用" if disabling else "启用"
    return _staff_action_page(
        request,
        staff,
        action=action,
        title=f"{action}账号 · {staff.username}",
        form=form,
        explanation="停用后该账号不能登录，已登录的会话立即结束；其角色授权保留，重新启用后恢复。"
        if disabling
        else "启用后该账号可以重新登录，原有角色授权随即生效。",
        submit=f"确认{action}",
        danger=disabling,
    )


@sensitive_post_parameters("new_password", "confirm_password")
@login_required
@permission_required(CHANGE_USER, raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    staff = get_staff_for_user(actor, CHANGE_USER, pk)
    if actor.pk == staff.pk:
        # An administrator's own password changes through the self-service page, which
        # asks for the current one.
        messages.error(request, "请通过“修改密码”页面修改自己的密码")
        return redirect("access:staff-detail", staff.pk)
    form = PasswordResetForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            accounts.change_password(
                actor=actor,
                user=staff,
                new_password=form.cleaned_data["new_password"],
                request=request,
            )
        except ValidationError as error:
            form.add_error("new_password", error.messages)
        else:
            messages.success(
                request,
                f"已重置「{staff.username}」的密码；其已登录的会话已结束，下次登录须修改密码",
            )
            return redirect("access:staff-detail", staff.pk)
    return _staff_action_page(
        request,
        staff,
        action="重置密码",
        title=f"重置密码 · {staff.username}",
        form=form,
        explanation="请通过线下渠道把新密码告知本人。",
        submit="确认重置",
        danger=False,
    )


@login_required
@permission_required(UNLOCK_USER, raise_exception=True)
@require_POST
def staff_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    staff = get_staff_for_user(actor, UNLOCK_USER, pk)
    reset_totp = request.POST.get("reset_totp") == "1"
    _attempt(
        request,
        lambda: accounts.unlock_user(
            actor=actor, user=staff, reset_totp=reset_totp, request=request
        ),
        f"已重置「{staff.username}」的动态口令，其下次登录时须重新绑定"
        if reset_totp
        else f"已解除「{staff.username}」的登录锁定",
        refusal=accounts.AccountError,
    )
    return redirect("access:staff-detail", staff.pk)


# -- grants (data scope) --------------------------------------------------------------------


def _roles_card(
    request: HttpRequest, staff: Any, *, form: GrantForm | None = None, problem: str = ""
) -> HttpResponse:
    """The roles card after a grant or revoke: in place over HTMX, else the whole page."""
    if _is_htmx(request):
        context = _roles_card_context(request, staff, form=form)
        context["problem"] = problem
        context["notice"] = "" if problem else _last_success(request)
        return render(request, "access/staff_detail.html#roles-card", context)
    if problem:
        messages.error(request, problem)
    return redirect(_staff_url(staff, "roles"))


def _last_success(request: HttpRequest) -> str:
    # Over HTMX the notice is shown inside the card, not on the next full page.
    notices = [str(m) for m in messages.get_messages(request)]
    return notices[-1] if notices else ""


@login_required
@permission_required(ASSIGN, raise_exception=True)
@require_POST
def staff_grant(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    staff = get_staff_for_user(actor, ASSIGN, pk)
    form = GrantForm(request.POST, institutions=_assignable_institutions(actor))
    if not form.is_valid():
        if _is_htmx(request):
            # Over HTMX the card shows each error under its own field.
            return _roles_card(request, staff, form=form)
        problem = "；".join(
            f"{form.fields[name].label}：{error}" if name in form.fields else str(error)
            for name, errors in form.errors.items()
            for error in errors
        )
        return _roles_card(request, staff, form=form, problem=problem)
    role: Role = form.cleaned_data["role"]
    institution = form.cleaned_data["institution"]
    try:
        services.grant_role(
            actor=actor,
            user=staff,
            role=role,
            institution_id=institution.pk if institution else None,
            request=request,
        )
    except services.AccessError as error:
        return _roles_card(request, staff, form=form, problem=error.message)
    where = institution.name if institution else "全区"
    messages.success(request, f"已授予「{role.name}」（{where}），立即生效")
    return _roles_card(request, staff)


@login_required
@permission_required(ASSIGN, raise_exception=True)
@require_POST
def staff_revoke(request: HttpRequest, pk: int, assignment_pk: int) -> HttpResponse:
    actor = _actor(request)
    staff = get_staff_for_user(actor, ASSIGN, pk)
    assignment = (
        RoleAssignment.objects.filter(pk=assignment_pk, user=staff)
        .select_related("role", "institution", "user")
        .first()
    )
    if assignment is None:
        raise Http404("该授权不存在")
    if assignment.institution_id is None and institution_ids_for(actor, ASSIGN) is not None:
        # A district-wide grant is taken back only by a district-wide administrator.
        return _roles_card(request, staff, problem="只有全区授权管理员可以收回全区角色")
    try:
        services.revoke_role(actor=actor, assignment=assignment, request=request)
    except services.AccessError as error:
        return _roles_card(request, staff, problem=error.message)
    where = assignment.institution.name if assignment.institution else "全区"
    messages.success(request, f"已收回「{assignment.role.name}」（{where}），立即生效")
    return _roles_card(request, staff)


# -- roles -----------------------------------------------------------------------------------


def _require_district(user: Any, permission: str) -> None:
    # A role is one definition for the whole district: changing it changes every holder's
    # rights everywhere, so only a district-wide administrator may define roles.
    if institution_ids_for(user, permission) is not None:
        raise PermissionDenied("只有全区范围的安全管理员可以维护角色")


@login_required
@permission_required(VIEW_ROLE, raise_exception=True)
@require_GET
def role_list(request: HttpRequest) -> HttpResponse:
    roles = list(role_summaries())
    return render(
        request,
        "access/role_list.html",
        {
            "breadcrumbs": _role_crumbs(),
            "roles": roles,
            "duties": Duty,
            "can_add": request.user.has_perm(ADD_ROLE)
            and institution_ids_for(request.user, ADD_ROLE) is None,
        },
    )


@login_required
@permission_required(VIEW_ROLE, raise_exception=True)
@require_GET
def role_detail(request: HttpRequest, code: str) -> HttpResponse:
    role = get_role(code)
    actor = _actor(request)
    holders: list[RoleAssignment] = []
    if actor.has_perm(VIEW_USER):
        visible = staff_for(actor, VIEW_USER).values("pk")
        holders = list(
            role.assignments.filter(user__in=visible)
            .select_related("user", "institution")
            .order_by("user__username", "institution__code")
        )
    hidden = role.assignments.count() - len(holders)
    district = institution_ids_for(actor, CHANGE_ROLE) is None
    return render(
        request,
        "access/role_detail.html",
        {
            "breadcrumbs": _role_crumbs((role.name, None)),
            "role": role,
            "groups": permission_groups(role_permission_labels(role), only_selected=True),
            "holders": holders,
            "hidden_holders": hidden,
            "can_change": not role.is_builtin and actor.has_perm(CHANGE_ROLE) and district,
            "can_delete": not role.is_builtin
            and actor.has_perm(DELETE_ROLE)
            and institution_ids_for(actor, DELETE_ROLE) is None,
        },
    )


@login_required
@permission_required(ADD_ROLE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    _require_district(request.user, ADD_ROLE)
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = services.create_role(
                actor=request.user,
                code=data["code"],
                name=data["name"].strip(),
                duty=data["duty"],
                scope_kind=data["scope_kind"],
                description=data["description"].strip(),
                permissions=data["permissions"],
                request=request,
            )
        except services.AccessError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"已创建角色「{role.name}」")
            return redirect("access:role-detail", role.code)
    return _role_form(request, form, title="新建角色", role=None)


@login_required
@permission_required(CHANGE_ROLE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, code: str) -> HttpResponse:
    _require_district(request.user, CHANGE_ROLE)
    role = get_role(code)
    if role.is_builtin and request.method == "GET":
        messages.error(request, "内置角色的权限由系统维护，不能修改")
        return redirect("access:role-detail", role.code)
    form = RoleForm(
        request.POST or None,
        editing=True,
        initial={"permissions": sorted(role_permission_labels(role))},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.set_role_permissions(
                actor=request.user,
                role=role,
                permissions=form.cleaned_data["permissions"],
                request=request,
            )
        except services.AccessError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"角色「{role.name}」的功能权限已保存，持有人立即生效")
            return redirect("access:role-detail", role.code)
    return _role_form(request, form, title=f"编辑角色权限 · {role.name}", role=role)


def _role_form(
    request: HttpRequest, form: RoleForm, *, title: str, role: Role | None
) -> HttpResponse:
    crumbs = (
        _role_crumbs((role.name, None), ("编辑权限", None))
        if role
        else _role_crumbs(("新建角色", None))
    )
    return render(
        request,
        "access/role_form.html",
        {
            "breadcrumbs": crumbs,
            "form": form,
            "title": title,
            "role": role,
            "groups": permission_groups(form.selected()),
            "scope_kinds": ScopeKind,
            "cancel_url": reverse("access:role-detail", args=[role.code])
            if role
            else reverse("access:role-list"),
        },
    )


@login_required
@permission_required(DELETE_ROLE, raise_exception=True)
@require_POST
def role_delete(request: HttpRequest, code: str) -> HttpResponse:
    _require_district(request.user, DELETE_ROLE)
    role = get_role(code)
    deleted = _attempt(
        request,
        lambda: services.delete_role(actor=request.user, role=role, request=request),
        f"已删除角色「{role.name}」",
        refusal=services.AccessError,
    )
    if deleted:
        return redirect("access:role-list")
    return redirect("access:role-detail", role.code)
