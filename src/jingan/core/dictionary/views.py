"""Console pages: data dictionary CRUD and per-institution settings (MR-A8)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.dictionary import services
from jingan.core.dictionary.forms import CategoryForm, EntryForm, InstitutionSettingsForm
from jingan.core.dictionary.models import DictionaryCategory, DictionaryEntry
from jingan.core.dictionary.queries import (
    categories_with_counts,
    institution_settings,
    setting_specs,
)
from jingan.core.institutions.queries import get_institution_for_user, institutions_for

VIEW = "dictionary.view_dictionaryentry"
ADD_CATEGORY = "dictionary.add_dictionarycategory"
CHANGE_CATEGORY = "dictionary.change_dictionarycategory"
DELETE_CATEGORY = "dictionary.delete_dictionarycategory"
ADD_ENTRY = "dictionary.add_dictionaryentry"
CHANGE_ENTRY = "dictionary.change_dictionaryentry"
DELETE_ENTRY = "dictionary.delete_dictionaryentry"
VIEW_SETTINGS = "dictionary.view_institutionsetting"
CHANGE_SETTINGS = "dictionary.change_institutionsetting"


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), ("数据字典", "dictionary:list"), *tail]


def _category(code: str) -> DictionaryCategory:
    return get_object_or_404(DictionaryCategory, code=code)


def _entry(code: str, pk: int) -> DictionaryEntry:
    return get_object_or_404(
        DictionaryEntry.objects.select_related("category"), pk=pk, category__code=code
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def category_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dictionary/list.html",
        {"breadcrumbs": _crumbs(), "categories": categories_with_counts()},
    )


@login_required
@permission_required(ADD_CATEGORY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def category_create(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            category = services.create_category(
                actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"已新增字典分类「{category.name}」")
            return redirect("dictionary:category", category.code)
    return render(
        request,
        "dictionary/form.html",
        {
            "breadcrumbs": _crumbs(("新增分类", None)),
            "form": form,
            "title": "新增字典分类",
            "back_url": "dictionary:list",
        },
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def category_detail(request: HttpRequest, code: str) -> HttpResponse:
    category = _category(code)
    return render(
        request,
        "dictionary/category.html",
        {
            "breadcrumbs": _crumbs((category.name, None)),
            "category": category,
            "entries": list(category.entries.order_by("sort_order", "code")),
        },
    )


@login_required
@permission_required(CHANGE_CATEGORY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def category_edit(request: HttpRequest, code: str) -> HttpResponse:
    category = _category(code)
    form = CategoryForm(request.POST or None, instance=category)
    if request.method == "POST" and form.is_valid():
        try:
            category = services.update_category(
                actor=request.user,
                category_id=category.pk,
                changes=form.cleaned_data,
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "字典分类已保存")
            return redirect("dictionary:category", category.code)
    return render(
        request,
        "dictionary/form.html",
        {
            "breadcrumbs": _crumbs((category.name, None), ("编辑", None)),
            "form": form,
            "title": f"编辑字典分类 · {category.name}",
            "category": category,
        },
    )


@login_required
@permission_required(DELETE_CATEGORY, raise_exception=True)
@require_POST
def category_delete(request: HttpRequest, code: str) -> HttpResponse:
    category = _category(code)
    try:
        services.delete_category(actor=request.user, category_id=category.pk, request=request)
    except ValidationError as error:
        messages.error(request, "；".join(error.messages))
        return redirect("dictionary:category", category.code)
    messages.success(request, f"已删除字典分类「{category.name}」")
    return redirect("dictionary:list")


@login_required
@permission_required(ADD_ENTRY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def entry_create(request: HttpRequest, code: str) -> HttpResponse:
    category = _category(code)
    form = EntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.create_entry(
                actor=request.user, category_id=category.pk, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"已新增条目「{entry.code} {entry.label}」")
            return redirect("dictionary:category", category.code)
    return render(
        request,
        "dictionary/form.html",
        {
            "breadcrumbs": _crumbs((category.name, None), ("新增条目", None)),
            "form": form,
            "title": f"新增条目 · {category.name}",
            "category": category,
        },
    )


@login_required
@permission_required(CHANGE_ENTRY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    entry = _entry(code, pk)
    form = EntryForm(request.POST or None, instance=entry)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_entry(
                actor=request.user, entry_id=entry.pk, changes=form.cleaned_data, request=request
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "条目已保存")
            return redirect("dictionary:category", code)
    return render(
        request,
        "dictionary/form.html",
        {
            "breadcrumbs": _crumbs((entry.category.name, None), ("编辑条目", None)),
            "form": form,
            "title": f"编辑条目 · {entry.category.name}",
            "category": entry.category,
        },
    )


@login_required
@permission_required(CHANGE_ENTRY, raise_exception=True)
@require_POST
def entry_toggle(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    entry = _entry(code, pk)
    entry = services.set_entry_active(
        actor=request.user, entry_id=entry.pk, active=not entry.is_active, request=request
    )
    if getattr(request, "htmx", False):
        return render(
            request,
            "dictionary/category.html#entry-row",
            {"entry": entry, "category": entry.category},
        )
    messages.success(request, f"已{'启用' if entry.is_active else '停用'}条目「{entry.label}」")
    return redirect("dictionary:category", code)


@login_required
@permission_required(DELETE_ENTRY, raise_exception=True)
@require_POST
def entry_delete(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    entry = _entry(code, pk)
    try:
        services.delete_entry(actor=request.user, entry_id=entry.pk, request=request)
    except ValidationError as error:
        messages.error(request, "；".join(error.messages))
    else:
        messages.success(request, f"已删除条目「{entry.code} {entry.label}」")
    return redirect("dictionary:category", code)


# -- per-institution settings ----------------------------------------------------------


@login_required
@permission_required(VIEW_SETTINGS, raise_exception=True)
@require_GET
def settings_list(request: HttpRequest) -> HttpResponse:
    specs = setting_specs()
    rows = []
    for institution in institutions_for(request.user, VIEW_SETTINGS).order_by("code"):
        values = institution_settings(institution.pk)
        rows.append(
            {
                "institution": institution,
                "values": [
                    (spec.title, spec.label_for(values[key]), values[key] == spec.default)
                    for key, spec in specs.items()
                ],
            }
        )
    return render(
        request,
        "dictionary/settings_list.html",
        {
            "breadcrumbs": [("工作台", "web:console-home"), ("机构参数设置", None)],
            "rows": rows,
            "specs": list(specs.values()),
        },
    )


@login_required
@permission_required(VIEW_SETTINGS, raise_exception=True)
@require_http_methods(["GET", "POST"])
def settings_edit(request: HttpRequest, pk: int) -> HttpResponse:
    institution = get_institution_for_user(request.user, VIEW_SETTINGS, pk)
    if request.method == "POST":
        # Changing needs the change permission for this very institution, else 404.
        if not request.user.has_perm(CHANGE_SETTINGS):
            raise Http404
        institution = get_institution_for_user(request.user, CHANGE_SETTINGS, pk)
    specs = setting_specs()
    form = InstitutionSettingsForm(
        request.POST or None, specs=specs, initial_values=institution_settings(institution.pk)
    )
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.set_institution_settings(
                actor=request.user,
                institution_id=institution.pk,
                values=form.values(),
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "参数已保存" if changed else "参数没有变化")
            return redirect("dictionary:institution-settings", institution.pk)
    can_change = (
        request.user.has_perm(CHANGE_SETTINGS)
        and institutions_for(request.user, CHANGE_SETTINGS).filter(pk=institution.pk).exists()
    )
    return render(
        request,
        "dictionary/settings_edit.html",
        {
            "breadcrumbs": [
                ("工作台", "web:console-home"),
                ("机构参数设置", "dictionary:settings"),
                (institution.display_name, None),
            ],
            "institution": institution,
            "form": form,
            "can_change": can_change,
        },
    )
