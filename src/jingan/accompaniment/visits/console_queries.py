"""Scoped reads of the visit assistant's staff console: journeys (VA-1), HIS connections
(HI-1), rejected messages and the event centre's status.

Every read starts from ``.restrict(user, permission)``: a district grant sees every
institution, an institution grant its own, nothing else; anything outside is a 404.
Rejected messages that could not be tied to an institution carry none, so only district
viewers see them. Raw messages are personal data: the pages get ``mask_raw_message``'s
copy unless a staff member asks for the original (audited by the view).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncMinute
from django.http import Http404
from django.utils import timezone

from jingan.accompaniment.visits.centre.fold import DEFAULT_TODOS, default_template_nodes
from jingan.accompaniment.visits.inputs import CHANNELS
from jingan.accompaniment.visits.models import (
    CircuitState,
    ConnectionTest,
    HisConnection,
    NodeTemplate,
    PartitionLease,
    RejectedMessage,
    SubCentreMember,
    Visit,
    VisitEvent,
)
from jingan.integrations.his.port import (
    DIALECT_TITLES,
    NODE_STATUSES,
    NODE_TITLES,
    Node,
)
from jingan.lib.masking import (
    mask_address,
    mask_id_number,
    mask_mobile,
    mask_name,
    mask_text,
)

VIEW_TEMPLATE = "visits.view_nodetemplate"
ADD_TEMPLATE = "visits.add_nodetemplate"
VIEW_CONNECTION = "visits.view_hisconnection"
MANAGE_CONNECTION = "visits.manage_hisconnection"
VIEW_REJECTED = "visits.view_rejectedmessage"
REPLAY_REJECTED = "visits.replay_rejectedmessage"
VIEW_CENTRE = "visits.view_partitionlease"

CIRCUIT_COLOURS: dict[str, str] = {
    CircuitState.CLOSED: "green",
    CircuitState.HALF_OPEN: "yellow",
    CircuitState.OPEN: "red",
}
REJECTED_COLOURS: dict[str, str] = {
    RejectedMessage.Status.PENDING: "orange",
    RejectedMessage.Status.REPLAYED: "green",
    RejectedMessage.Status.DISCARDED: "secondary",
}
# A sub-centre whose heartbeat is older than this many lease periods is shown as lost.
_MEMBER_STALE_LEASES = 3
CHART_MINUTES = 60


def _institution_model() -> Any:
    # By registry, not import: business contexts reach core models only through its door.
    return apps.get_model("institutions", "Institution")


def institutions_for(user: Any, permission: str) -> list[Any]:
    """The active institutions where ``user`` holds ``permission`` (filters, pickers)."""
    return list(
        _institution_model()
        .objects.restrict(user, permission)
        .filter(is_active=True)
        .order_by("code")
    )


def sees_district(user: Any, permission: str) -> bool:
    """Whether ``user`` holds ``permission`` for every institution of the district."""
    model = _institution_model()
    visible = set(model.objects.restrict(user, permission).values_list("pk", flat=True))
    return bool(visible) and visible == set(model.objects.unscoped().values_list("pk", flat=True))


def get_institution_for_user(user: Any, code: str, permission: str) -> Any:
    """The institution ``code`` if ``user`` holds ``permission`` there, else 404."""
    try:
        return _institution_model().objects.restrict(user, permission).get(code=code)
    except (_institution_model().DoesNotExist, ValueError, TypeError):
        raise Http404("机构不存在或不在您的数据范围内") from None


# -- journeys (VA-1) ------------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyNode:
    """One node of a journey version as the pages show it."""

    position: int
    node: str
    title: str
    standard_title: str
    todos: tuple[tuple[str, str, str], ...]  # (status, status label, wording)


@dataclass(frozen=True)
class JourneyVersion:
    """A journey version; ``template`` is None for the default no one has saved yet."""

    version: int
    nodes: tuple[JourneyNode, ...]
    excluded: tuple[str, ...]  # titles of the standard nodes left out
    note: str
    created_at: datetime | None
    created_by: str
    visit_count: int
    template: NodeTemplate | None = None

    @property
    def is_default(self) -> bool:
        return self.template is None


def journey_nodes(nodes: Sequence[Mapping[str, Any]]) -> tuple[JourneyNode, ...]:
    """The stored ``NodeTemplate.nodes`` list as display rows (statuses with a wording only)."""
    shown: list[JourneyNode] = []
    for position, entry in enumerate(nodes, start=1):
        node = str(entry.get("node") or "")
        wording = dict(entry.get("todos") or {})
        shown.append(
            JourneyNode(
                position=position,
                node=node,
                title=str(entry.get("title") or NODE_TITLES.get(node, node)),
                standard_title=NODE_TITLES.get(node, node),
                todos=tuple(
                    (status, label, str(wording[status]))
                    for status, label in NODE_STATUSES.get(node, ())
                    if wording.get(status)
                ),
            )
        )
    return tuple(shown)


def _excluded(nodes: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    present = {entry.get("node") for entry in nodes}
    return tuple(NODE_TITLES[node.value] for node in Node if node.value not in present)


def _staff_name(user: Any) -> str:
    if user is None:
        return "系统"
    return str(getattr(user, "display_name", "") or user.get_username())


def _version(template: NodeTemplate, visit_count: int) -> JourneyVersion:
    return JourneyVersion(
        version=template.version,
        nodes=journey_nodes(template.nodes),
        excluded=_excluded(template.nodes),
        note=template.note,
        created_at=template.created_at,
        created_by=_staff_name(template.created_by),
        visit_count=visit_count,
        template=template,
    )


def default_journey() -> JourneyVersion:
    nodes = default_template_nodes()
    return JourneyVersion(
        version=1,
        nodes=journey_nodes(nodes),
        excluded=(),
        note="默认就诊流程",
        created_at=None,
        created_by="系统",
        visit_count=0,
    )


def _templates_of(institution_ids: Iterable[int]) -> QuerySet[Any]:
    # The caller has already scoped the institutions; templates follow them.
    return (
        NodeTemplate.objects.unscoped()
        .filter(institution_id__in=list(institution_ids))
        .select_related("created_by")
        .annotate(visit_count=Count("visits"))
    )


def journey_versions(institution: Any) -> list[JourneyVersion]:
    """Every saved version of an institution's journey, newest first (the default if none)."""
    rows = list(_templates_of([institution.pk]).order_by("-version"))
    if not rows:
        return [default_journey()]
    return [_version(row, row.visit_count) for row in rows]


def current_journey(institution: Any) -> JourneyVersion:
    """The version new visits start on; reading it writes nothing."""
    return journey_versions(institution)[0]


def current_template_nodes(institution: Any) -> list[dict[str, Any]]:
    """The raw node list of the current version (what the editor starts from)."""
    current = current_journey(institution)
    if current.template is not None:
        return [dict(entry) for entry in current.template.nodes]
    return default_template_nodes()


def get_journey_version(institution: Any, version: int) -> JourneyVersion:
    """One version of the institution's journey, else 404 (version 1 may be the default)."""
    for found in journey_versions(institution):
        if found.version == version:
            return found
    raise Http404("该版本不存在")


@dataclass(frozen=True)
class JourneyRow:
    institution: Any
    current: JourneyVersion
    version_count: int


def journeys_for_user(user: Any) -> list[JourneyRow]:
    """Each institution in scope with its current journey version (district list)."""
    institutions = institutions_for(user, VIEW_TEMPLATE)
    by_institution: dict[int, list[NodeTemplate]] = {}
    for row in _templates_of(i.pk for i in institutions).order_by("-version"):
        by_institution.setdefault(row.institution_id, []).append(row)
    rows: list[JourneyRow] = []
    for institution in institutions:
        versions = by_institution.get(institution.pk, [])
        current = (
            _version(versions[0], versions[0].visit_count)  # type: ignore[attr-defined]
            if versions
            else default_journey()
        )
        rows.append(JourneyRow(institution, current, max(len(versions), 1)))
    return rows


# The Chinese field names (fold.WORDING_FIELDS) that make sense in each node's wording.
_NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "appointment": ("预约时间", "科室", "医生"),
    "registration": ("科室", "医生"),
    "check_in": ("地点", "科室"),
    "waiting": ("诊室", "排队号", "前方人数", "科室", "医生"),
    "consultation": ("诊室", "科室", "医生"),
    "payment": ("项目", "金额"),
    "lab_exam": ("项目", "地点"),
    "pharmacy": ("窗口", "取药码"),
    "follow_up": (),
}


def placeholder_hint(node: str) -> str:
    """The ``{字段}`` names a node's to-do wording may use, for the editor's hint."""
    return "、".join("{" + name + "}" for name in _NODE_FIELDS.get(node, ()))


def default_wording(node: str, status: str) -> str:
    return DEFAULT_TODOS.get(node, {}).get(status, "")


# -- HIS connections (HI-1) -------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionFilters:
    dialect: str = ""
    circuit: str = ""


def connections_for_user(user: Any, filters: ConnectionFilters | None = None) -> list[Any]:
    """The HIS connections in ``user``'s scope, with ``last_test`` set on each (HI-1)."""
    filters = filters or ConnectionFilters()
    latest = ConnectionTest.objects.filter(connection=OuterRef("pk")).order_by("-tested_at", "-pk")
    queryset = (
        HisConnection.objects.restrict(user, VIEW_CONNECTION)
        .select_related("institution")
        .annotate(last_test_id=Subquery(latest.values("pk")[:1]))
        .order_by("institution__code")
    )
    if filters.dialect:
        queryset = queryset.filter(institution__his_dialect=filters.dialect)
    if filters.circuit:
        queryset = queryset.filter(circuit=filters.circuit)
    rows = list(queryset)
    tests = ConnectionTest.objects.in_bulk(
        [row.last_test_id for row in rows if row.last_test_id]  # type: ignore[attr-defined]
    )
    for row in rows:
        row.last_test = tests.get(row.last_test_id)  # type: ignore[attr-defined]
        row.endpoint_shown = display_endpoint(row.endpoint)  # type: ignore[attr-defined]
    return rows


def with_last_test(connection: HisConnection) -> HisConnection:
    """``connection`` with ``last_test`` set (one row re-rendered after an action)."""
    latest = connection.tests.order_by("-tested_at", "-pk").first()
    connection.last_test = latest  # type: ignore[attr-defined]
    connection.endpoint_shown = display_endpoint(connection.endpoint)  # type: ignore[attr-defined]
    return connection


def display_endpoint(endpoint: str) -> str:
    """The endpoint as lists show it: a password in a database URL is hidden."""
    try:
        parts = urlsplit(endpoint)
        password = parts.password
    except ValueError:
        return endpoint
    if not password:
        return endpoint
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1)))


def get_connection_for_user(user: Any, pk: int, permission: str) -> HisConnection:
    """One HIS connection in ``user``'s scope for ``permission``, else 404."""
    try:
        return (
            HisConnection.objects.restrict(user, permission)
            .select_related("institution")
            .get(pk=pk)
        )
    except (HisConnection.DoesNotExist, ValueError, TypeError):
        raise Http404("HIS 对接不存在或不在您的数据范围内") from None


@dataclass(frozen=True)
class DialectCount:
    code: str
    title: str
    count: int


@dataclass(frozen=True)
class ConnectionSummary:
    total: int
    dialects: tuple[DialectCount, ...]
    open_circuits: int
    disabled: int
    rejected_pending: int | None  # None: the viewer may not see rejected messages


def connection_summary(user: Any) -> ConnectionSummary:
    """The cards above the connection list: per dialect, open circuits, pending rejects."""
    rows = list(
        HisConnection.objects.restrict(user, VIEW_CONNECTION).values_list(
            "institution__his_dialect", "circuit", "is_enabled"
        )
    )
    per_dialect = Counter(dialect for dialect, _, _ in rows)
    pending = None
    if user.has_perm(VIEW_REJECTED):
        pending = (
            RejectedMessage.objects.restrict(user, VIEW_REJECTED)
            .filter(status=RejectedMessage.Status.PENDING)
            .count()
        )
    return ConnectionSummary(
        total=len(rows),
        dialects=tuple(
            DialectCount(code, title, per_dialect.get(code, 0))
            for code, title in DIALECT_TITLES.items()
        ),
        open_circuits=sum(1 for _, circuit, _ in rows if circuit != CircuitState.CLOSED),
        disabled=sum(1 for _, _, enabled in rows if not enabled),
        rejected_pending=pending,
    )


# -- rejected messages -------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedFilters:
    status: str = ""
    channel: str = ""
    institution_id: int | None = None


def rejected_for_user(user: Any, filters: RejectedFilters | None = None) -> QuerySet[Any]:
    """Kept messages in ``user``'s scope, newest first, filtered."""
    filters = filters or RejectedFilters()
    queryset = RejectedMessage.objects.restrict(user, VIEW_REJECTED).select_related(
        "institution", "replayed_by"
    )
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.channel:
        queryset = queryset.filter(channel=filters.channel)
    if filters.institution_id:
        queryset = queryset.filter(institution_id=filters.institution_id)
    return queryset.order_by("-received_at", "-pk")


def rejected_status_counts(user: Any) -> dict[str, int]:
    counts = dict(
        RejectedMessage.objects.restrict(user, VIEW_REJECTED)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in RejectedMessage.Status.values}


def get_rejected_for_user(user: Any, pk: int, permission: str = VIEW_REJECTED) -> Any:
    """One kept message in ``user``'s scope for ``permission``, else 404."""
    try:
        return (
            RejectedMessage.objects.restrict(user, permission)
            .select_related("institution", "replayed_by")
            .get(pk=pk)
        )
    except (RejectedMessage.DoesNotExist, ValueError, TypeError):
        raise Http404("消息不存在或不在您的数据范围内") from None


def channel_title(channel: str) -> str:
    return CHANNELS.get(channel, channel)


# Raw messages hold patients' names, ID and card numbers, phones and addresses in each
# dialect's own spelling. The masked copy hides every value under a key (JSON), element
# (XML, also when escaped inside a SOAP parameter) or HL7 field known to carry one, then
# ID numbers and mobiles anywhere else. A message is shown masked because it may be
# malformed, so the masking works on text and never needs the message to parse.
def _normalised(key: str) -> str:
    return re.sub(r"[\s_\-.:]", "", key).lower()


_NAME_KEYS = frozenset(
    _normalised(key)
    for key in (
        "name",
        "patient_name",
        "patientName",
        "person_name",
        "psn_name",
        "full_name",
        "given",
        "family",
        "booked_by",
        "booker",
        "contact_name",
        "guardian_name",
        "xm",
        "hzxm",
        "brxm",
        "姓名",
        "患者姓名",
        "病人姓名",
        "预约人",
        "联系人",
    )
)
_ID_KEYS = frozenset(
    _normalised(key)
    for key in (
        "id_number",
        "id_no",
        "idcard",
        "id_card",
        "cert_no",
        "certno",
        "psn_cert_no",
        "ssn",
        "sfzh",
        "sfzhm",
        "zjhm",
        "身份证号",
        "身份证号码",
        "证件号码",
    )
)
_CARD_KEYS = frozenset(
    _normalised(key)
    for key in (
        "card_number",
        "card_no",
        "cardno",
        "medical_card",
        "insurance_card",
        "kh",
        "jzkh",
        "ybkh",
        "卡号",
        "就诊卡号",
        "医保卡号",
    )
)
_PHONE_KEYS = frozenset(
    _normalised(key)
    for key in ("phone", "mobile", "tel", "telephone", "lxdh", "sjhm", "电话", "手机", "联系电话")
)
_ADDRESS_KEYS = frozenset(
    _normalised(key) for key in ("address", "addr", "home_address", "dz", "jtdz", "地址", "住址")
)
# Lists of things, not people: their "name" is an item's, a drug's, a test's.
_THING_KEYS = frozenset(
    _normalised(key)
    for key in (
        "items",
        "drugs",
        "prescriptions",
        "questions",
        "report",
        "results",
        "orders",
        "charges",
        "fees",
        "questionnaire",
        "department",
        "doctor",
        "institution",
    )
)


def _mask_card(value: str) -> str:
    text = value.strip()
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def _masker(key: str) -> Callable[[str], str] | None:
    normalised = _normalised(key)
    if normalised in _NAME_KEYS:
        return mask_name
    if normalised in _ID_KEYS:
        return mask_id_number
    if normalised in _CARD_KEYS:
        return _mask_card
    if normalised in _PHONE_KEYS:
        return mask_mobile
    if normalised in _ADDRESS_KEYS:
        return mask_address
    return None


def _mask_json_value(value: Any, key: str = "", inside_thing: bool = False) -> Any:
    if isinstance(value, dict):
        thing = inside_thing or _normalised(key) in _THING_KEYS
        return {k: _mask_json_value(v, str(k), thing) for k, v in value.items()}
    if isinstance(value, list):
        thing = inside_thing or _normalised(key) in _THING_KEYS
        return [_mask_json_value(v, key, thing) for v in value]
    if isinstance(value, str | int) and not isinstance(value, bool):
        masker = _masker(key)
        if masker is not None and not (inside_thing and _normalised(key) == "name"):
            return masker(str(value))
        return mask_text(value) if isinstance(value, str) else value
    return value


_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,40})"(?P<sep>\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"')
_XML_ELEMENT = re.compile(
    r"(?P<open>(?:<|&lt;)(?:[\w.-]+:)?(?P<tag>[\w.\-\u4e00-\u9fff]+)"
    r"(?:\s(?:(?!&gt;)[^<>])*?)?(?:>|&gt;))"
    r"(?P<value>[^<&]*)"
    r"(?P<close>(?:<|&lt;)/)"
)


def _mask_pairs(text: str) -> str:
    def json_pair(match: re.Match[str]) -> str:
        masker = _masker(match["key"])
        if masker is None:
            return match.group(0)
        return f'"{match["key"]}"{match["sep"]}"{masker(match["value"])}"'

    def xml_element(match: re.Match[str]) -> str:
        masker = _masker(match["tag"])
        if masker is None or not match["value"].strip():
            return match.group(0)
        return f"{match['open']}{masker(match['value'])}{match['close']}"

    return _XML_ELEMENT.sub(xml_element, _JSON_PAIR.sub(json_pair, text))


# HL7 v2 fields (segment -> field numbers) that carry a person: PID names, identifiers,
# address, phones, SSN/ID number and insurance card; next of kin; guarantor; insured.
_HL7_FIELDS: dict[str, dict[int, Callable[[str], str]]] = {
    "PID": {
        2: _mask_card,
        3: _mask_card,
        4: _mask_card,
        5: mask_name,
        6: mask_name,
        9: mask_name,
        11: mask_address,
        13: mask_mobile,
        14: mask_mobile,
        18: _mask_card,
        19: mask_id_number,
        20: _mask_card,
    },
    "NK1": {2: mask_name, 4: mask_address, 5: mask_mobile, 6: mask_mobile, 33: _mask_card},
    "GT1": {3: mask_name, 5: mask_address, 6: mask_mobile, 7: mask_mobile, 12: mask_id_number},
    "IN1": {16: mask_name, 19: mask_address, 36: _mask_card, 49: _mask_card},
}


def _mask_hl7(text: str) -> str:
    component, repetition = "^", "~"
    if text.startswith("MSH") and len(text) > 6:
        component, repetition = text[4], text[5]
    segments = re.split(r"(\r\n|\r|\n)", text)
    for index, segment in enumerate(segments):
        rules = _HL7_FIELDS.get(segment[:3])
        if not rules or segment[3:4] != "|":
            continue
        fields = segment.split("|")
        for number, masker in rules.items():
            if number < len(fields) and fields[number]:
                fields[number] = repetition.join(
                    component.join(masker(part) if part else part for part in rep.split(component))
                    for rep in fields[number].split(repetition)
                )
        segments[index] = "|".join(fields)
    return "".join(segments)


def mask_raw_message(channel: str, raw: str) -> str:
    """A copy of a kept message with patients' personal data hidden (for pages)."""
    text = raw or ""
    if channel == "hl7" or text.lstrip("\x0b").startswith("MSH|"):
        return mask_text(_mask_hl7(text.lstrip("\x0b")))
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json.dumps(_mask_json_value(value), ensure_ascii=False, indent=2)
    return mask_text(_mask_pairs(text))


# -- the event centre -------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionRow:
    partition: int
    owner: str
    expires_at: datetime | None
    is_expired: bool
    offset: int
    processed: int
    newest_id: int
    lag: int  # events in the partition above the offset (waiting to be processed)
    takeovers: int
    updated_at: datetime | None


@dataclass(frozen=True)
class MemberRow:
    name: str
    host: str
    pid: int
    allowed: str
    started_at: datetime
    heartbeat_at: datetime
    age_seconds: int
    is_alive: bool
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class CentreStatus:
    partitions: tuple[PartitionRow, ...]
    members: tuple[MemberRow, ...]
    journal_total: int
    journal_last_hour: int
    lag_total: int
    visits_total: int
    visits_open: int
    rejected_pending: int
    per_minute: tuple[tuple[str, int], ...]  # ("HH:MM", events received that minute)
    is_district: bool
    partition_count: int = 0
    lease_seconds: float = 0.0
    owners: dict[str, list[int]] = field(default_factory=dict)


def centre_status(user: Any, *, now: datetime | None = None) -> CentreStatus:
    """Partitions, live sub-centres, journal totals and the last hour's rate.

    Partitions and sub-centres are the platform's machinery and carry no institution's
    data; the journal figures count only the events of the viewer's institutions.
    """
    now = now or timezone.now()
    config: dict[str, Any] = settings.VISITS
    count = int(config["partitions"])
    lease_seconds = float(config["lease_seconds"])
    leases = {lease.partition: lease for lease in PartitionLease.objects.all()}
    all_events = VisitEvent.objects.unscoped()
    newest = dict(
        all_events.order_by()
        .values_list("partition")
        .annotate(newest=Max("id"))
        .values_list("partition", "newest")
    )
    partitions: list[PartitionRow] = []
    owners: dict[str, list[int]] = {}
    for number in sorted(set(range(count)) | set(leases)):
        lease = leases.get(number)
        offset = lease.offset if lease else 0
        owner = lease.owner if lease else ""
        expires_at = lease.expires_at if lease else None
        lag = (
            all_events.filter(partition=number, id__gt=offset).count()
            if newest.get(number, 0) > offset
            else 0
        )
        if owner and expires_at and expires_at > now:
            owners.setdefault(owner, []).append(number)
        partitions.append(
            PartitionRow(
                partition=number,
                owner=owner,
                expires_at=expires_at,
                is_expired=bool(owner) and (expires_at is None or expires_at <= now),
                offset=offset,
                processed=lease.processed if lease else 0,
                newest_id=newest.get(number, 0),
                lag=lag,
                takeovers=lease.takeovers if lease else 0,
                updated_at=lease.updated_at if lease else None,
            )
        )
    stale = timedelta(seconds=lease_seconds * _MEMBER_STALE_LEASES)
    members = tuple(
        MemberRow(
            name=member.name,
            host=member.host,
            pid=member.pid,
            allowed=member.allowed,
            started_at=member.started_at,
            heartbeat_at=member.heartbeat_at,
            age_seconds=max(0, int((now - member.heartbeat_at).total_seconds())),
            is_alive=now - member.heartbeat_at <= stale,
            partitions=tuple(owners.get(member.name, ())),
        )
        for member in SubCentreMember.objects.order_by("name")
    )
    events = VisitEvent.objects.restrict(user, VIEW_CENTRE)
    start = (now - timedelta(minutes=CHART_MINUTES - 1)).replace(second=0, microsecond=0)
    per_minute_rows = (
        events.filter(received_at__gte=start)
        .annotate(minute=TruncMinute("received_at"))
        .order_by()
        .values_list("minute")
        .annotate(n=Count("pk"))
        .values_list("minute", "n")
    )
    by_minute = {
        timezone.localtime(minute).strftime("%H:%M"): n for minute, n in per_minute_rows if minute
    }
    labels = [
        timezone.localtime(start + timedelta(minutes=step)).strftime("%H:%M")
        for step in range(CHART_MINUTES)
    ]
    visits = Visit.objects.restrict(user, VIEW_CENTRE)
    return CentreStatus(
        partitions=tuple(partitions),
        members=members,
        journal_total=events.count(),
        journal_last_hour=sum(by_minute.values()),
        lag_total=sum(row.lag for row in partitions),
        visits_total=visits.count(),
        visits_open=visits.filter(is_finished=False).count(),
        rejected_pending=RejectedMessage.objects.restrict(user, VIEW_CENTRE)
        .filter(status=RejectedMessage.Status.PENDING)
        .count(),
        per_minute=tuple((label, by_minute.get(label, 0)) for label in labels),
        is_district=sees_district(user, VIEW_CENTRE),
        partition_count=count,
        lease_seconds=lease_seconds,
        owners=owners,
    )
