"""Resident H5 "门诊就医助手": my visits, a visit's to-dos and timeline, each node's page
(VA-4 … VA-13), and the live fragment the page swaps in when the visit changes.

Only visits of the resident's own verified ID number are shown; any other reference is
a 404, whoever it belongs to. Reading one's own visit is not a staff read: no audit row.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jingan.accompaniment.visits import queries
from jingan.core.public import get_current_resident, resident_required
from jingan.integrations.his.port import Node

_NODES = frozenset(node.value for node in Node)


def _live_paths(reference: str) -> dict[str, str]:
    return {"ws_path": f"/ws/visits/{reference}/"}


@resident_required
@require_GET
def visit_list(request: HttpRequest) -> HttpResponse:
    current, history = queries.visit_list(get_current_resident(request))
    return render(
        request,
        "visits/h5/list.html",
        {"tab": "home", "current": current, "history": history},
    )


@resident_required
@require_GET
def visit_detail(request: HttpRequest, reference: str) -> HttpResponse:
    visit = queries.get_visit_for_resident(get_current_resident(request), reference)
    context = {"tab": "home", "page": queries.visit_page(visit), **_live_paths(str(reference))}
    if request.GET.get("partial") == "live":
        return render(request, "visits/h5/visit.html#live", context)
    return render(request, "visits/h5/visit.html", context)


@resident_required
@require_GET
def visit_node(request: HttpRequest, reference: str, node: str) -> HttpResponse:
    visit = queries.get_visit_for_resident(get_current_resident(request), reference)
    if node not in _NODES:
        raise Http404("没有这个就诊环节")
    context = {
        "tab": "home",
        "page": queries.node_page(visit, node),
        **_live_paths(str(reference)),
    }
    if request.GET.get("partial") == "live":
        return render(request, "visits/h5/node.html#live", context)
    return render(request, "visits/h5/node.html", context)
