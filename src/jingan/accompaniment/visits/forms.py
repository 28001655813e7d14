"""Forms of the visit assistant's console: the journey editor (VA-1), the HIS connection
form (HI-1), list filters and the note of a discarded message.

The forms only parse what the page sends; the rules of a journey live in
``services.validate_template_nodes`` (run here too, so the page shows its Chinese message
next to the fields), and ``services.save_node_template`` checks them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django import forms

from jingan.accompaniment.visits.console_queries import (
    ConnectionFilters,
    RejectedFilters,
    default_wording,
    placeholder_hint,
)
from jingan.accompaniment.visits.inputs import CHANNELS
from jingan.accompaniment.visits.models import CircuitState, RejectedMessage
from jingan.accompaniment.visits.services import TemplateError, validate_template_nodes
from jingan.integrations.his.port import DIALECT_TITLES, NODE_STATUSES, NODE_TITLES, Node

_ALL = [("", "全部")]
TITLE_MAX = 20
WORDING_MAX = 60


def _select() -> forms.Select:
    return forms.Select(attrs={"class": "form-select"})


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", "autocomplete": "off", **attrs})


# -- the journey editor ---------------------------------------------------------------------


@dataclass
class StatusField:
    status: str
    label: str
    field: forms.BoundField
    default: str


@dataclass
class NodeRow:
    """One of the nine standard nodes in the editor, with its bound fields."""

    node: str
    standard_title: str
    include: forms.BoundField
    order: forms.BoundField
    title: forms.BoundField
    todos: list[StatusField]
    hint: str
    sort_key: tuple[int, int]

    @property
    def errors(self) -> list[str]:
        found: list[str] = []
        for bound in (self.include, self.order, self.title, *(t.field for t in self.todos)):
            found.extend(str(error) for error in bound.errors)
        return found


class JourneyForm(forms.Form):
    """Which of the nine nodes a journey shows, their order, titles and to-do wording.

    Field names are ``<node>-include``, ``<node>-order``, ``<node>-title`` and
    ``<node>-todo-<status>``; rows are shown in the order they would be saved in.
    """

    note = forms.CharField(
        label="修改说明",
        required=False,
        max_length=200,
        widget=_text(placeholder="例如：取消签到环节，缴费提示改为自助机缴费"),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        nodes: Sequence[Mapping[str, Any]],
        note: str = "",
    ) -> None:
        super().__init__(data, initial={"note": note})
        current = {str(entry.get("node")): entry for entry in nodes}
        standard = [node.value for node in Node]
        # The current version's nodes in their order, then the ones it leaves out.
        ordered = [str(entry.get("node")) for entry in nodes if entry.get("node") in standard]
        ordered += [node for node in standard if node not in current]
        self._positions = {node: position for position, node in enumerate(ordered, start=1)}
        for node in ordered:
            entry = current.get(node)
            wording = dict(entry.get("todos") or {}) if entry else {}
            self.fields[f"{node}-include"] = forms.BooleanField(
                label="显示",
                required=False,
                initial=entry is not None,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
            )
            self.fields[f"{node}-order"] = forms.IntegerField(
                label="顺序",
                min_value=1,
                max_value=99,
                initial=self._positions[node],
                error_messages={
                    "required": "请填写顺序号",
                    "invalid": "顺序须为 1 至 99 的整数",
                    "min_value": "顺序须为 1 至 99 的整数",
                    "max_value": "顺序须为 1 至 99 的整数",
                },
                widget=forms.NumberInput(
                    attrs={"class": "form-control visits-order", "min": "1", "max": "99"}
                ),
            )
            self.fields[f"{node}-title"] = forms.CharField(
                label="标题",
                required=False,
                max_length=TITLE_MAX,
                initial=(entry or {}).get("title") or NODE_TITLES[node],
                error_messages={"max_length": f"标题不能超过 {TITLE_MAX} 个字"},
                widget=_text(maxlength=str(TITLE_MAX)),
            )
            for status, label in NODE_STATUSES[node]:
                initial = wording.get(status, "") if entry else default_wording(node, status)
                self.fields[f"{node}-todo-{status}"] = forms.CharField(
                    label=label,
                    required=False,
                    max_length=WORDING_MAX,
                    initial=initial,
                    error_messages={"max_length": f"待办提示不能超过 {WORDING_MAX} 个字"},
                    widget=_text(
                        maxlength=str(WORDING_MAX), placeholder=default_wording(node, status)
                    ),
                )
        self.cleaned_nodes: list[dict[str, Any]] = []

    def _sort_key(self, node: str) -> tuple[int, int]:
        position = self._positions[node]
        if not self.is_bound:
            return (position, position)
        try:
            order = int(str(self.data.get(f"{node}-order") or ""))
        except ValueError:
            order = position
        return (order, position)

    def rows(self) -> list[NodeRow]:
        rows = [
            NodeRow(
                node=node,
                standard_title=NODE_TITLES[node],
                include=self[f"{node}-include"],
                order=self[f"{node}-order"],
                title=self[f"{node}-title"],
                todos=[
                    StatusField(
                        status, label, self[f"{node}-todo-{status}"], default_wording(node, status)
                    )
                    for status, label in NODE_STATUSES[node]
                ],
                hint=placeholder_hint(node),
                sort_key=self._sort_key(node),
            )
            for node in self._positions
        ]
        return sorted(rows, key=lambda row: row.sort_key)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if any(name != "note" for name in self.errors):
            return data
        chosen: list[tuple[tuple[int, int], dict[str, Any]]] = []
        for node, position in self._positions.items():
            if not data.get(f"{node}-include"):
                continue
            title = str(data.get(f"{node}-title") or "").strip()
            if not title:
                self.add_error(f"{node}-title", "显示的节点须填写标题")
                continue
            todos = {
                status: str(data.get(f"{node}-todo-{status}") or "").strip()
                for status, _ in NODE_STATUSES[node]
            }
            chosen.append(
                (
                    (int(data[f"{node}-order"]), position),
                    {"node": node, "title": title, "todos": todos},
                )
            )
        if self.errors:
            return data
        chosen.sort(key=lambda pair: pair[0])
        try:
            self.cleaned_nodes = validate_template_nodes([entry for _, entry in chosen])
        except TemplateError as error:
            raise forms.ValidationError(str(error)) from None
        return data


# -- HIS connections ------------------------------------------------------------------------


class ConnectionForm(forms.Form):
    """Where to reach an institution's HIS and how often to poll it (HI-1)."""

    endpoint = forms.CharField(
        label="接口地址",
        max_length=300,
        error_messages={"required": "请填写接口地址"},
        widget=_text(),
    )
    is_enabled = forms.BooleanField(
        label="启用",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    poll_interval_seconds = forms.IntegerField(
        label="轮询间隔（秒）",
        min_value=1,
        max_value=3600,
        error_messages={
            "required": "请填写轮询间隔",
            "invalid": "轮询间隔须为 1 至 3600 的整数",
            "min_value": "轮询间隔须为 1 至 3600 的整数",
            "max_value": "轮询间隔须为 1 至 3600 的整数",
        },
        help_text="仅对轮询接入（C 互联互通 Web Service、D 数据库视图）生效",
        widget=forms.NumberInput(attrs={"class": "form-control", "min": "1", "max": "3600"}),
    )

    def clean_endpoint(self) -> str:
        value = str(self.cleaned_data.get("endpoint") or "").strip()
        if not value:
            raise forms.ValidationError("请填写接口地址")
        if any(character.isspace() for character in value):
            raise forms.ValidationError("接口地址不能包含空格")
        return value


class ConnectionFilterForm(forms.Form):
    dialect = forms.ChoiceField(
        label="接口方式",
        required=False,
        choices=_ALL + list(DIALECT_TITLES.items()),
        widget=_select(),
    )
    circuit = forms.ChoiceField(
        label="熔断状态", required=False, choices=_ALL + CircuitState.choices, widget=_select()
    )

    def filters(self) -> ConnectionFilters:
        if not (self.is_bound and self.is_valid()):
            return ConnectionFilters()
        return ConnectionFilters(
            dialect=self.cleaned_data["dialect"], circuit=self.cleaned_data["circuit"]
        )


# -- rejected messages ------------------------------------------------------------------------


def institution_choices(institutions: Sequence[Any]) -> list[tuple[str, str]]:
    return [(str(i.pk), f"{i.code} {i.short_name or i.name}") for i in institutions]


class RejectedFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="处理状态",
        required=False,
        choices=_ALL + RejectedMessage.Status.choices,
        widget=_select(),
    )
    channel = forms.ChoiceField(
        label="通道", required=False, choices=_ALL + list(CHANNELS.items()), widget=_select()
    )
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

    def filters(self) -> RejectedFilters:
        if not (self.is_bound and self.is_valid()):
            return RejectedFilters()
        institution = self.cleaned_data.get("institution") or ""
        return RejectedFilters(
            status=self.cleaned_data["status"],
            channel=self.cleaned_data["channel"],
            institution_id=int(institution) if institution else None,
        )


class DiscardForm(forms.Form):
    note = forms.CharField(
        label="忽略原因",
        max_length=200,
        error_messages={"required": "请填写忽略原因", "max_length": "忽略原因不能超过 200 个字"},
        widget=forms.Textarea(
            attrs={"class": "form-control", "rows": "2", "placeholder": "例如：HIS 联调测试消息"}
        ),
    )

    def clean_note(self) -> str:
        note = str(self.cleaned_data.get("note") or "").strip()
        if not note:
            raise forms.ValidationError("请填写忽略原因")
        return note
