"""The event centre end to end: journal, partitions, fold, to-dos, notifications (VA-2, VA-13,
VA-14), and the permutation property of the fold."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.fold import FoldEvent, fold
from jingan.accompaniment.visits.centre.processor import drain, load_state
from jingan.accompaniment.visits.models import (
    PartitionLease,
    Visit,
    VisitEvent,
    VisitTodo,
    WaitEstimate,
)
from jingan.integrations.his.port import HisEvent, MessageRejected, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script

SHANGHAI = UTC  # times below are compared as instants; the zone does not matter
ID_NUMBER = "310106195001011238"


def Message() -> Any:  # noqa: N802 (reads like the model)
    return apps.get_model("messaging", "Message")


CODE = "310106001"
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def event(
    n: int, node: str, status: str, minutes: float, item: str = "", **payload: Any
) -> HisEvent:
    return HisEvent(
        source="test",
        source_event_id=f"E{n}",
        institution_code=CODE,
        visit_key="MZ001",
        node=node,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        item=item,
        patient=PatientRef(name="李秀英", id_number=ID_NUMBER),
        payload={"department_name": "内科", **payload},
    )


@pytest.fixture
def resident(make_resident: Any) -> Any:
    return make_resident("李秀英", ID_NUMBER)


@pytest.mark.req("VA-2", "VA-13", "VA-14")
@pytest.mark.django_db
def test_events_fold_into_the_visit_with_todos_and_notifications(resident: Any) -> None:
    journal.ingest(
        [
            event(1, "registration", "unpaid", 0, fee="25.00"),
            event(2, "registration", "registered", 2, fee="25.00", self_paid="10.00"),
            event(3, "check_in", "pending", 2, location="门诊楼 2 楼"),
        ]
    )
    assert drain() == 3
    visit = Visit.objects.unscoped().get()
    assert (visit.resident_id, visit.current_node, visit.current_status) == (
        resident.pk,
        "check_in",
        "pending",
    )
    assert visit.patient_name == "李秀英"
    assert [(t.key, t.title, t.is_open) for t in VisitTodo.objects.all()] == [
        ("check_in::pending", "请到门诊楼 2 楼签到", True)
    ]
    titles = list(
        Message().objects.filter(resident=resident).order_by("pk").values_list("title", "link")
    )
    assert titles == [
        ("静安区中心医院·挂号：待支付挂号费", f"/h5/visits/{visit.reference}/nodes/registration/"),
        ("静安区中心医院·挂号：已挂号", f"/h5/visits/{visit.reference}/nodes/registration/"),
    ]
    assert apps.get_model("messaging", "OutboxEntry").objects.count() == 2
    # The check-in arrives; the to-do closes; the queue starts with an estimate.
    journal.ingest(
        [
            event(4, "check_in", "checked_in", 5, location="门诊楼 2 楼"),
            event(5, "waiting", "waiting", 5, ahead=4, room="内科第 1 诊室"),
        ]
    )
    drain()
    visit.refresh_from_db()
    assert VisitTodo.objects.get(key="check_in::pending").is_open is False
    estimate = WaitEstimate.objects.get()
    assert (estimate.ahead, estimate.minutes_per_patient, estimate.estimated_minutes) == (
        4,
        6.0,
        24,
    )
    journal.ingest([event(6, "waiting", "called", 20, ahead=0, room="内科第 1 诊室")])
    drain()
    estimate.refresh_from_db()
    assert estimate.called_at == T0 + timedelta(minutes=20)
    assert [t.title for t in VisitTodo.objects.filter(is_open=True)] == [
        "已叫号，请到内科第 1 诊室就诊"
    ]
    assert sum(lease.processed for lease in PartitionLease.objects.all()) == 6


@pytest.mark.req("VA-2")
@pytest.mark.django_db
def test_duplicates_late_events_corrections_and_voids(resident: Any) -> None:
    journal.ingest([event(1, "payment", "unpaid", 10, item="F1", total="30.00")])
    result = journal.ingest([event(1, "payment", "unpaid", 10, item="F1", total="30.00")])
    assert (result.accepted, result.duplicates) == (0, 1)
    journal.ingest([event(2, "payment", "paid", 20, item="F1", total="30.00")])
    drain()
    # A late event from earlier in the morning lands in its place, not as the current node.
    journal.ingest([event(3, "registration", "registered", 0)])
    drain()
    visit = Visit.objects.unscoped().get()
    assert (visit.current_node, visit.current_status) == ("payment", "paid")
    state = load_state(visit)
    assert [e["id"] for e in state["events"]] == ["E3", "E1", "E2"]
    # The HIS corrects the payment (it was a refund) and voids the registration.
    journal.ingest(
        [
            HisEvent(
                source="test",
                source_event_id="E4",
                institution_code=CODE,
                visit_key="MZ001",
                node="payment",
                status="refunded",
                occurred_at=T0 + timedelta(minutes=30),
                item="F1",
                kind="correction",
                target_event_id="E2",
            ),
            HisEvent(
                source="test",
                source_event_id="E5",
                institution_code=CODE,
                visit_key="MZ001",
                node="registration",
                status="registered",
                occurred_at=T0 + timedelta(minutes=31),
                kind="void",
                target_event_id="E3",
            ),
        ]
    )
    drain()
    visit.refresh_from_db()
    state = load_state(visit)
    assert state["nodes"]["payment"]["status"] == "refunded"
    assert "registration" not in state["nodes"]
    assert VisitEvent.objects.unscoped().count() == 5


@pytest.mark.django_db
def test_unknown_institution_is_refused_before_anything_is_written() -> None:
    bad = HisEvent(
        source="test",
        source_event_id="X",
        institution_code="999",
        visit_key="V",
        node="waiting",
        status="waiting",
        occurred_at=T0,
    )
    with pytest.raises(MessageRejected) as caught:
        journal.ingest([event(1, "waiting", "waiting", 0), bad])
    assert caught.value.code == "unknown_institution"
    assert VisitEvent.objects.unscoped().count() == 0


def _script(seed: int) -> list[HisEvent]:
    rng = random.Random(seed)
    plan = plan_visit(
        rng,
        institution_code=CODE,
        dialect="A",
        visit_key=f"MZ{seed:06d}",
        arrive_at=datetime(2026, 11, 26, 1, 30, tzinfo=UTC),
        patient=PatientRef(name="李秀英", id_number=ID_NUMBER),
    )
    return visit_script(plan, rng)


def _fold_events(events: list[HisEvent]) -> list[FoldEvent]:
    return [FoldEvent.from_event(e) for e in events]


def _summary(events: list[FoldEvent]) -> tuple[Any, ...]:
    state = fold(events)
    return (
        {
            n: (
                s.status,
                {i: (x.status, json.dumps(x.details, sort_keys=True)) for i, x in s.items.items()},
            )
            for n, s in state.nodes.items()
        },
        state.current_node,
        state.is_finished,
        [(t.key, t.title) for t in state.todos],
        sorted(n.key for n in state.notifications),
    )


@given(seed=st.integers(0, 50), data=st.data())
@settings(max_examples=60, deadline=None)
def test_any_permutation_and_duplication_folds_to_the_same_state(seed: int, data: Any) -> None:
    events = _fold_events(_script(seed))
    expected = _summary(events)
    extra = data.draw(st.lists(st.sampled_from(events), max_size=8))
    shuffled = data.draw(st.permutations(events + extra))
    assert _summary(list(shuffled)) == expected


@pytest.mark.req("VA-2")
@given(seed=st.integers(0, 20), data=st.data())
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db
def test_incremental_processing_in_any_order_gives_the_same_visit(
    seed: int, data: Any, resident: Any
) -> None:
    """Delivered in any order, with duplicates, in chunks with the centre folding between
    chunks: the same final state, to-dos and notification set as one in-order delivery."""
    Visit.objects.unscoped().all().delete()
    VisitEvent.objects.unscoped().all().delete()
    Message().objects.all().delete()
    script = _script(seed)
    expected = _summary(_fold_events(script))
    delivery = data.draw(
        st.permutations(script + data.draw(st.lists(st.sampled_from(script), max_size=5)))
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivery)), max_size=4)))
    start = 0
    for cut in [*cuts, len(delivery)]:
        if delivery[start:cut]:
            journal.ingest(list(delivery[start:cut]))
            drain()
        start = cut
    visit = Visit.objects.unscoped().get()
    state = load_state(visit)
    stored = [FoldEvent.from_json(e) for e in state["events"]]
    assert _summary(stored) == expected
    todos = list(VisitTodo.objects.filter(visit=visit, is_open=True).values_list("key", "title"))
    assert sorted(todos) == sorted(expected[3])
    keys = sorted(
        key.split(":", 2)[2]
        for key in Message().objects.filter(resident=resident).values_list("dedup_key", flat=True)
    )
    assert keys == sorted(expected[4])


@pytest.mark.req("VA-14")
@pytest.mark.django_db
def test_each_transition_reaches_the_resident_in_app_and_on_wechat(
    resident: Any, simulators: Any, django_capture_on_commit_callbacks: Any
) -> None:
    simulators.wechat.add_user("李秀英", openid=resident.openid)
    steps = [
        event(1, "appointment", "booked", -600, appointment_time="2026-11-26T09:00:00+08:00"),
        event(2, "registration", "registered", 0, fee="25.00"),
        event(3, "check_in", "checked_in", 5, location="门诊楼 2 楼"),
        event(4, "waiting", "waiting", 5, ahead=3, room="内科第 1 诊室"),
        event(5, "waiting", "called", 20, ahead=0, room="内科第 1 诊室"),
        event(6, "consultation", "finished", 30, prescriptions=[{"drug": "阿莫西林胶囊"}]),
        event(7, "payment", "unpaid", 30, item="F1", item_name="药品费", total="12.00"),
        event(8, "payment", "paid", 32, item="F1", item_name="药品费", total="12.00"),
        event(9, "lab_exam", "ordered", 30, item="L1", item_name="血常规", location="检验科"),
        event(10, "lab_exam", "reported", 90, item="L1", item_name="血常规"),
        event(
            11, "pharmacy", "ready", 40, item="R1", window="西药房 3 号窗口", pickup_code="123456"
        ),
        event(12, "pharmacy", "dispensed", 45, item="R1", window="西药房 3 号窗口"),
    ]
    for step in steps:
        with django_capture_on_commit_callbacks(execute=True):
            journal.ingest([step])
            drain()
    titles = list(
        Message().objects.filter(resident=resident).order_by("pk").values_list("title", "body")
    )
    assert titles == [
        ("静安区中心医院·预约：已预约", "内科 2026-11-26 09:00"),
        ("静安区中心医院·挂号：已挂号", "内科挂号成功"),
        ("静安区中心医院·签到：已签到", "已在门诊楼 2 楼签到"),
        ("静安区中心医院·候诊：候诊中", "您前面还有 3 人"),
        ("静安区中心医院·候诊：已叫号", "请到内科第 1 诊室就诊"),
        ("静安区中心医院·就诊：诊毕", "本次就诊已结束，开具处方 1 张"),
        ("静安区中心医院·缴费：待缴费", "药品费 12.00 元"),
        ("静安区中心医院·缴费：已缴费", "药品费 12.00 元"),
        ("静安区中心医院·检验检查：待检查", "请到检验科做血常规"),
        ("静安区中心医院·检验检查：报告已出", "血常规报告已出，可在就诊页面查看"),
        ("静安区中心医院·取药：待取药", "请到西药房 3 号窗口取药，取药码 123456"),
        ("静安区中心医院·取药：已取药", "药品已发放"),
    ]
    # The simulated phone lists its messages newest first.
    received = simulators.wechat.messages(resident.openid)
    assert [(r.kind, r.data["thing2"], r.data["phrase3"]) for r in reversed(received)] == [
        ("subscribe", "预约", "已预约"),
        ("subscribe", "挂号", "已挂号"),
        ("subscribe", "签到", "已签到"),
        ("subscribe", "候诊", "候诊中"),
        ("subscribe", "候诊", "已叫号"),
        ("subscribe", "就诊", "诊毕"),
        ("subscribe", "缴费", "待缴费"),
        ("subscribe", "缴费", "已缴费"),
        ("subscribe", "检验检查", "待检查"),
        ("subscribe", "检验检查", "报告已出"),
        ("subscribe", "取药", "待取药"),
        ("subscribe", "取药", "已取药"),
    ]
    # A repeat of a transition is not a new message.
    with django_capture_on_commit_callbacks(execute=True):
        journal.ingest([event(13, "waiting", "called", 21, ahead=0, room="内科第 1 诊室")])
        drain()
    assert Message().objects.filter(resident=resident).count() == 12


@pytest.mark.req("VA-1", "VA-13")
def test_todo_wording_reads_chinese_and_payload_field_names() -> None:
    from jingan.accompaniment.visits.centre.fold import TemplateNode

    called = FoldEvent(
        source="test",
        source_event_id="E1",
        node="waiting",
        status="called",
        occurred_at=T0,
        payload={"room": "内科第 2 诊室", "queue_no": "03-017"},
    )
    template = [
        TemplateNode("waiting", "候诊", {"called": "{排队号}号请到{诊室}，{room}"}),
    ]
    assert [todo.title for todo in fold([called], template).todos] == [
        "03-017号请到内科第 2 诊室，内科第 2 诊室"
    ]
    # A field the HIS did not send is left out rather than shown as a placeholder.
    bare = FoldEvent(
        source="test", source_event_id="E2", node="waiting", status="called", occurred_at=T0
    )
    assert [todo.title for todo in fold([bare], template).todos] == ["号请到"]
