"""Message centre pages: the staff console inbox, the outbox for operators, the resident H5."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from jingan.core.access.queries import institution_ids_for
from jingan.core.messaging import queries, services
from jingan.core.messaging.models import OutboxEntry, category_title
from jingan.core.residents.auth import get_current_resident, resident_required

OUTBOX_VIEW = "messaging.view_outboxentry"
OUTBOX_REPLAY = "messaging.replay_outboxentry"
PAGE_SIZE = 20

# The inbox needs no permission beyond signing in: every staff member has one, and each
# sees only messages addressed to them (queries.* filter by the recipient).


def _require_district_wide(user: Any, permission: str) -> None:
    # Outbox entries belong to residents, not to an institution: only a district-wide
    # grant may see or replay them; an institution-scoped one is refused outright.
    if not user.is_superuser and institution_ids_for(user, permission) is not None:
        raise PermissionDenied("消息外发队列仅限全区范围的运维人员")


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _safe_link(link: str) -> str:
    """Only site paths and http(s) addresses become links; anything else is not clickable."""
    if link.startswith("/") and not link.startswith("//"):
        return link
    if link.startswith(("https://", "http://")):
        return link
    return ""


# -- staff console ---------------------------------------------------------------------


@login_required
@require_GET
def console_inbox(request: HttpRequest) -> HttpResponse:
    category = request.GET.get("category", "")
    state = request.GET.get("state", "")
    if state not in queries.STATES:
        state = ""
    page = Paginator(
        queries.messages_for_staff(request.user, category=category, state=state), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    filters = {key: value for key, value in (("category", category), ("state", state)) if value}
    categories = [(c, category_title(c)) for c in queries.categories_for_staff(request.user)]
    context = {
        "breadcrumbs": [("工作台", "web:console-home"), ("消息中心", None)],
        "page": page,
        "category": category,
        "state": state,
        "states": queries.STATES,
        "categories": categories,
        "query": urlencode(filters),
        "here": request.get_full_path(),
        "unread_total": services.unread_count_for_staff(request.user),
    }
    return render(request, "messaging/console/inbox.html", context)


@login_required
@require_GET
def console_message(request: HttpRequest, message_id: int) -> HttpResponse:
    message = queries.get_staff_message_for_user(request.user, message_id)
    services.mark_message_read(actor=request.user, message=message)
    context = {
        "breadcrumbs": [
            ("工作台", "web:console-home"),
            ("消息中心", "messaging:console-inbox"),
            ("消息详情", None),
        ],
        "message": message,
        "link": _safe_link(message.link),
        "back": _safe_next(request, reverse("messaging:console-inbox")),
    }
    return render(request, "messaging/console/message.html", context)


@login_required
@require_POST
def console_handle(request: HttpRequest, message_id: int) -> HttpResponse:
    message = queries.get_staff_message_for_user(request.user, message_id)
    message = services.handle_message(actor=request.user, message=message)  # type: ignore[arg-type]
    if _htmx(request):
        response = render(
            request,
            "messaging/console/inbox.html#message-row",
            {"message": message, "here": _safe_next(request, reverse("messaging:console-inbox"))},
        )
        # The header badge listens for this and refreshes its count at once.
        response["HX-Trigger"] = "messages-changed"
        return response
    flash.success(request, f"已将“{message.title}”标记为已处理")
    return redirect(_safe_next(request, reverse("messaging:console-message", args=[message.pk])))


@login_required
@require_POST
def console_read_all(request: HttpRequest) -> HttpResponse:
    changed = services.mark_all_read(actor=request.user)  # type: ignore[arg-type]
    flash.success(request, f"已将 {changed} 条消息标为已读")
    return redirect(_safe_next(request, reverse("messaging:console-inbox")))


@login_required
@require_GET
def console_badge(request: HttpRequest) -> HttpResponse:
    # The header badge polls this; it renders the same include as the layout.
    return render(
        request,
        "messaging/partials/badge.html",
        {"message_unread_count": services.unread_count_for_staff(request.user)},
    )


@login_required
@permission_required(OUTBOX_VIEW, raise_exception=True)
@require_GET
def console_outbox(request: HttpRequest) -> HttpResponse:
    _require_district_wide(request.user, OUTBOX_VIEW)
    status = request.GET.get("status", "")
    if status not in OutboxEntry.Status.values:
        status = ""
    counts = queries.outbox_counts()
    page = Paginator(queries.outbox_entries(status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "breadcrumbs": [
            ("工作台", "web:console-home"),
            ("消息中心", "messaging:console-inbox"),
            ("消息外发队列", None),
        ],
        "page": page,
        "status": status,
        "statuses": OutboxEntry.Status.choices,
        "status_cards": [(key, title, counts[key]) for key, title in OutboxEntry.Status.choices],
        "query": urlencode({"status": status}) if status else "",
        "can_replay": request.user.has_perm(OUTBOX_REPLAY),
        "here": request.get_full_path(),
    }
    return render(request, "messaging/console/outbox.html", context)


@login_required
@permission_required(OUTBOX_REPLAY, raise_exception=True)
@require_POST
def console_outbox_replay(request: HttpRequest, entry_id: int) -> HttpResponse:
    _require_district_wide(request.user, OUTBOX_REPLAY)
    entry = get_object_or_404(OutboxEntry, pk=entry_id)
    try:
        services.replay_outbox_entry(actor=request.user, entry_id=entry.pk)  # type: ignore[arg-type]
    except services.MessagingError as error:
        flash.error(request, str(error))
    else:
        flash.success(request, f"已重新排队发送（编号 {entry.pk}）")
    return redirect(_safe_next(request, reverse("messaging:console-outbox")))


# -- resident H5 -------------------------------------------------------------------------


def _resident(request: HttpRequest) -> Any:
    resident = get_current_resident(request)
    if resident is None:  # resident_required ran first; this only narrows the type
        raise PermissionError("not signed in")
    return resident


@resident_required
@require_GET
def h5_inbox(request: HttpRequest) -> HttpResponse:
    resident = _resident(request)
    page = Paginator(queries.messages_for_resident(resident), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "unread_total": services.unread_count_for_resident(resident),
        "tab": "me",
    }
    return render(request, "messaging/h5/inbox.html", context)


@resident_required
@require_GET
def h5_message(request: HttpRequest, message_id: int) -> HttpResponse:
    resident = _resident(request)
    message = queries.get_resident_message(resident, message_id)
    services.mark_message_read(actor=resident, message=message)
    return render(
        request,
        "messaging/h5/message.html",
        {"message": message, "link": _safe_link(message.link), "tab": "me"},
    )


@resident_required
@require_POST
def h5_handle(request: HttpRequest, message_id: int) -> HttpResponse:
    resident = _resident(request)
    message = queries.get_resident_message(resident, message_id)
    services.handle_resident_message(actor=resident, message=message)
    return redirect("messaging:h5-message", message_id=message.pk)
