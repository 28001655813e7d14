"""Console pages for institutions and their departments (MR-A7).

Every page reads through ``.restrict`` / ``get_for_user`` with the permission it needs,
so an institution administrator sees and edits only their own institution(s) and gets
a 404 for any other; every write goes through ``services``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.access.grants import institution_ids_for
from jingan.core.institutions import services
from jingan.core.institutions.forms import DepartmentForm, InstitutionForm
from jingan.core.institutions.models import (
    Department,
    DepartmentCategory,
    HisDialect,
    Institution,
    InstitutionKind,
)
from jingan.core.institutions.queries import (
    blockers_for,
    get_department_for_user,
    get_institution_for_user,
    institution_counts,
    institutions_for,
    search_institutions,
)

VIEW = "institutions.view_institution"
ADD = "institutions.add_institution"
CHANGE = "institutions.change_institution"
DELETE = "institutions.delete_institution"
ADD_DEPARTMENT = "institutions.add_department"
CHANGE_DEPARTMENT = "institutions.change_department"
DELETE_DEPARTMENT = "institutions.delete_department"

FILTERS = ("q", "kind", "inpatient", "dialect", "active")


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), ("机构与科室", "institutions:list"), *tail]


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# -- institutions -------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def institution_list(request: HttpRequest) -> HttpResponse:
    visible = institutions_for(request.user, VIEW)
    chosen = {name: request.GET.get(name, "").strip() for name in FILTERS}
    found = search_institutions(
        visible,
        text=chosen["q"],
        kind=chosen["kind"],
        inpatient=chosen["inpatient"],
        dialect=chosen["dialect"],
        active=chosen["active"],
    )
    page = Paginator(found, 30).get_page(request.GET.get("page"))
    query = urlencode({name: value for name, value in chosen.items() if value})
    context = {
        "breadcrumbs": _crumbs(),
        "page": page,
        "filters": chosen,
        "query": query,
        "counts": institution_counts(visible),
        "matched": page.paginator.count,
        "kinds": InstitutionKind.choices,
        "dialects": HisDialect.choices,
        "can_add": request.user.has_perm(ADD) and institution_ids_for(request.user, ADD) is None,
    }
    if _is_htmx(request):
        return render(request, "institutions/list.html#institution-table", context)
    return render(request, "institutions/list.html", context)


@login_required
@permission_required(ADD, raise_exception=True)
@require_http_methods(["GET", "POST"])
def institution_create(request: HttpRequest) -> HttpResponse:
    # Registering a new institution is a district decision, never an institution's own.
    if institution_ids_for(request.user, ADD) is not None:
        raise PermissionDenied("只有全区范围的管理员可以新增机构")
    form = InstitutionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            institution = services.create_institution(
                actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"已新增机构「{institution.name}」")
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/form.html",
        {
            "breadcrumbs": _crumbs(("新增机构", None)),
            "form": form,
            "title": "新增机构",
            "cancel_url": "institutions:list",
        },
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def institution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    institution = get_institution_for_user(request.user, VIEW, pk)
    departments = list(institution.departments.all())
    user = request.user
    return render(
        request,
        "institutions/detail.html",
        {
            "breadcrumbs": _crumbs((institution.display_name, None)),
            "institution": institution,
            "departments": departments,
            "active_departments": sum(d.is_active for d in departments),
            "can_change": _holds_for(user, CHANGE, institution),
            "can_delete": _holds_for(user, DELETE, institution),
            "can_add_department": _holds_for(user, ADD_DEPARTMENT, institution),
            "can_change_department": _holds_for(user, CHANGE_DEPARTMENT, institution),
            "can_delete_department": _holds_for(user, DELETE_DEPARTMENT, institution),
            "categories": DepartmentCategory,
        },
    )


def _holds_for(user: Any, permission: str, institution: Institution) -> bool:
    if not user.has_perm(permission):
        return False
    scope = institution_ids_for(user, permission)
    return scope is None or institution.pk in scope


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def institution_edit(request: HttpRequest, pk: int) -> HttpResponse:
    institution = get_institution_for_user(request.user, CHANGE, pk)
    form = InstitutionForm(request.POST or None, instance=institution)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_institution(
                actor=request.user,
                institution_id=institution.pk,
                changes=form.cleaned_data,
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "机构信息已保存")
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/form.html",
        {
            "breadcrumbs": _crumbs(("编辑机构", None)),
            "form": form,
            "title": f"编辑机构 · {institution.name}",
            "institution": institution,
        },
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def institution_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows what disabling would meet; POST enables or disables."""
    institution = get_institution_for_user(request.user, CHANGE, pk)
    disabling = institution.is_active
    blockers = blockers_for(institution_id=institution.pk) if disabling else []
    if request.method == "POST":
        try:
            services.set_institution_active(
                actor=request.user,
                institution_id=institution.pk,
                active=not disabling,
                request=request,
            )
        except services.OpenWorkError as error:
            blockers = error.blockers
        else:
            messages.success(
                request, f"已{'停用' if disabling else '启用'}机构「{institution.name}」"
            )
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/confirm.html",
        {
            "breadcrumbs": _crumbs(("停用机构" if disabling else "启用机构", None)),
            "subject": institution,
            "kind": "机构",
            "verb": "停用" if disabling else "启用",
            "danger": disabling,
            "blockers": blockers,
            "refused": request.method == "POST" and bool(blockers),
            "back_url": institution_detail_url(institution),
            "consequence": "停用后，居民端和各项业务将不能再选择该机构；历史记录保留。"
            if disabling
            else "启用后，该机构重新出现在居民端和各项业务中（其科室需分别启用）。",
        },
    )


@login_required
@permission_required(DELETE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def institution_delete(request: HttpRequest, pk: int) -> HttpResponse:
    institution = get_institution_for_user(request.user, DELETE, pk)
    blockers = blockers_for(institution_id=institution.pk)
    if request.method == "POST":
        try:
            services.delete_institution(
                actor=request.user, institution_id=institution.pk, request=request
            )
        except services.OpenWorkError as error:
            blockers = error.blockers
        else:
            messages.success(request, f"已删除机构「{institution.name}」")
            return redirect("institutions:list")
    return render(
        request,
        "institutions/confirm.html",
        {
            "breadcrumbs": _crumbs(("删除机构", None)),
            "subject": institution,
            "kind": "机构",
            "verb": "删除",
            "danger": True,
            "blockers": blockers,
            "refused": request.method == "POST" and bool(blockers),
            "back_url": institution_detail_url(institution),
            "consequence": "删除后不可恢复，其下已停用的科室和机构参数设置将一并删除。"
            "如只是暂不提供服务，请改为停用。",
        },
    )


def institution_detail_url(institution: Institution) -> str:
    return reverse("institutions:detail", args=[institution.pk])


# -- departments --------------------------------------------------------------------


@login_required
@permission_required(ADD_DEPARTMENT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def department_create(request: HttpRequest, pk: int) -> HttpResponse:
    institution = get_institution_for_user(request.user, ADD_DEPARTMENT, pk)
    form = DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            department = services.create_department(
                actor=request.user,
                institution_id=institution.pk,
                request=request,
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"已新增科室「{department.name}」")
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/form.html",
        {
            "breadcrumbs": _crumbs((institution.display_name, None), ("新增科室", None)),
            "form": form,
            "title": f"新增科室 · {institution.name}",
            "institution": institution,
        },
    )


@login_required
@permission_required(CHANGE_DEPARTMENT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def department_edit(request: HttpRequest, pk: int, department_pk: int) -> HttpResponse:
    department = get_department_for_user(request.user, CHANGE_DEPARTMENT, pk, department_pk)
    institution = department.institution
    form = DepartmentForm(request.POST or None, instance=department)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_department(
                actor=request.user,
                department_id=department.pk,
                changes=form.cleaned_data,
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "科室信息已保存")
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/form.html",
        {
            "breadcrumbs": _crumbs((institution.display_name, None), ("编辑科室", None)),
            "form": form,
            "title": f"编辑科室 · {institution.name}",
            "institution": institution,
        },
    )


@login_required
@permission_required(CHANGE_DEPARTMENT, raise_exception=True)
@require_POST
def department_toggle(request: HttpRequest, pk: int, department_pk: int) -> HttpResponse:
    """Enable or disable; an HTMX request gets the department's row back, blockers shown in it."""
    department = get_department_for_user(request.user, CHANGE_DEPARTMENT, pk, department_pk)
    disabling = department.is_active
    problem = ""
    try:
        department = services.set_department_active(
            actor=request.user,
            department_id=department.pk,
            active=not disabling,
            request=request,
        )
    except services.OpenWorkError as error:
        problem = "不能停用：" + "；".join(f"{b.title} {b.count} 项" for b in error.blockers)
    except ValidationError as error:
        problem = "；".join(error.messages)
    if _is_htmx(request):
        return render(
            request,
            "institutions/detail.html#department-row",
            {
                "department": department,
                "institution": department.institution,
                "problem": problem,
                "can_change_department": True,
                "can_delete_department": _holds_for(
                    request.user, DELETE_DEPARTMENT, department.institution
                ),
            },
        )
    if problem:
        messages.error(request, f"科室「{department.name}」{problem}")
    else:
        messages.success(request, f"已{'停用' if disabling else '启用'}科室「{department.name}」")
    return redirect("institutions:detail", pk)


@login_required
@permission_required(DELETE_DEPARTMENT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def department_delete(request: HttpRequest, pk: int, department_pk: int) -> HttpResponse:
    department: Department = get_department_for_user(
        request.user, DELETE_DEPARTMENT, pk, department_pk
    )
    institution = department.institution
    blockers = blockers_for(institution_id=institution.pk, department_id=department.pk)
    if request.method == "POST":
        try:
            services.delete_department(
                actor=request.user, department_id=department.pk, request=request
            )
        except services.OpenWorkError as error:
            blockers = error.blockers
        else:
            messages.success(request, f"已删除科室「{department.name}」")
            return redirect("institutions:detail", institution.pk)
    return render(
        request,
        "institutions/confirm.html",
        {
            "breadcrumbs": _crumbs((institution.display_name, None), ("删除科室", None)),
            "subject": department,
            "kind": "科室",
            "verb": "删除",
            "danger": True,
            "blockers": blockers,
            "refused": request.method == "POST" and bool(blockers),
            "back_url": institution_detail_url(institution),
            "consequence": f"将从「{institution.name}」删除该科室，删除后不可恢复。"
            "如只是暂停服务，请改为停用。",
        },
    )
