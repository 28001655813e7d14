"""The resident's visit assistant (H5): my visits, the visit page with its to-dos and
timeline, and each node's page with what the tender lists (VA-4 … VA-13).

Events go in through the journal's one door, the processor folds them, the resident
reads the pages over HTTP.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.test import Client

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.models import Visit, VisitTodo, WaitEstimate
from jingan.accompaniment.visits.services import save_node_template
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import QUESTIONNAIRE
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE = "310106001"  # 上海市静安区中心医院
INSTITUTION = "上海市静安区中心医院"
T0 = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
MASKED = "王**"  # 王秀英


class Journey:
    """One outpatient visit as its HIS reports it: numbered events, sent and folded."""

    def __init__(
        self,
        visit_key: str = "MZ20261126001",
        *,
        id_number: str = DEFAULT_ID_NUMBER,
        name: str = DEFAULT_NAME,
        institution_code: str = CODE,
        department: str = "内科",
        doctor: str = "陈立新",
    ) -> None:
        self.visit_key = visit_key
        self.patient = PatientRef(name=name, id_number=id_number, card_number="0012345678")
        self.institution_code = institution_code
        self.common = {
            "department_code": "03",
            "department_name": department,
            "doctor_name": doctor,
        }
        self.count = 0

    def event(
        self, node: str, status: str, minutes: float, item: str = "", **payload: Any
    ) -> HisEvent:
        self.count += 1
        return HisEvent(
            source=f"his-a:{self.institution_code}",
            source_event_id=f"{self.visit_key}-{self.count:03d}",
            institution_code=self.institution_code,
            visit_key=self.visit_key,
            node=node,
            status=status,
            occurred_at=T0 + timedelta(minutes=minutes),
            item=item,
            patient=self.patient,
            payload={**self.common, **payload},
        )

    def send(self, *events: HisEvent) -> Visit:
        journal.ingest(list(events))
        drain()
        return self.visit()

    def visit(self) -> Visit:
        return Visit.objects.unscoped().get(visit_key=self.visit_key)


def page_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def field(html: str, name: str) -> str:
    """The text of the first ``<dd|span|strong|p data-field="name">`` (tags stripped)."""
    match = re.search(
        rf'<(\w+)[^>]*data-field="{re.escape(name)}"[^>]*>(.*?)</\1>', html, flags=re.S
    )
    assert match is not None, f"no data-field={name!r}"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(2)).split())


def fields(html: str, name: str) -> list[str]:
    return [
        " ".join(re.sub(r"<[^>]+>", "", inner).split())
        for _, inner in re.findall(
            rf'<(\w+)[^>]*data-field="{re.escape(name)}"[^>]*>(.*?)</\1>', html, flags=re.S
        )
    ]


def node_url(visit: Visit, node: str) -> str:
    return f"/h5/visits/{visit.reference}/nodes/{node}/"


def steps(html: str) -> list[tuple[str, str, str]]:
    """``(node, phase, status label)`` of each timeline step, in page order."""
    found = re.findall(
        r'<li class="va-step[^"]*" data-node="([a-z_]+)" data-phase="(\w+)".*?'
        r'<span class="va-chip[^"]*" data-status="[a-z_]+">([^<]*)</span>',
        html,
        flags=re.S,
    )
    return [(node, phase, label) for node, phase, label in found]


@pytest.fixture
def resident(make_resident: Any) -> Any:
    return make_resident()


@pytest.fixture
def client(resident: Any, resident_client: Any) -> Client:
    return resident_client(resident)


# -- my visits and the visit page ---------------------------------------------------------


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_my_visits_is_empty_before_any_visit(client: Client) -> None:
    html = page_of(client, "/h5/visits/")
    assert "暂无就诊记录" in html
    assert 'id="va-current"' not in html
    assert 'id="va-history"' not in html


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_my_visits_lists_current_visits_first_then_history(
    client: Client, time_machine: Any
) -> None:
    time_machine.move_to(T0 + timedelta(hours=2))
    old = Journey("MZ20261101001", department="眼科", doctor="郑明")
    old.count = 100
    finished = old.event("follow_up", "completed", -60 * 24 * 20)
    old.send(old.event("registration", "registered", -60 * 24 * 25), finished)
    # Open but silent for ten days (the HIS never reported the rest): history, not current.
    stale = Journey("MZ20261116001", department="外科", doctor="赵永刚")
    stale.count = 200
    stale.send(stale.event("registration", "registered", -60 * 24 * 10))
    today = Journey()
    visit = today.send(today.event("registration", "unpaid", 0, fee="25.00"))
    html = page_of(client, "/h5/visits/")
    current = html.split('id="va-current"')[1].split('id="va-history"')[0]
    history = html.split('id="va-history"')[1]
    assert f'data-visit="{visit.reference}"' in current
    assert "挂号 · 待支付挂号费" in current
    assert "内科 · 陈立新 · 就诊人 王**" in current
    assert field(current, "todos") == "1 项待办"
    assert re.findall(r'data-visit="([^"]+)"', history) == [
        str(stale.visit().reference),
        str(old.visit().reference),
    ]
    assert "眼科 · 郑明" in history
    assert "外科 · 赵永刚" in history
    assert "已结束" in history
    assert DEFAULT_NAME not in html


@pytest.mark.req("VA-13", "VA-1")
@pytest.mark.django_db
def test_visit_page_shows_the_journey_of_its_template_with_the_current_node(
    client: Client, make_staff: Any
) -> None:
    admin = make_staff("admin", permissions=("visits.add_nodetemplate",))
    institution_id = (
        apps.get_model("institutions", "Institution").objects.unscoped().get(code=CODE).pk
    )
    # This hospital shows no appointment node, calls the queue "排队叫号", and puts
    # payment after the lab.
    save_node_template(
        actor=admin,
        institution_id=institution_id,
        nodes=[
            {"node": "registration", "title": "挂号", "todos": {"unpaid": "挂号费待支付"}},
            {"node": "check_in", "title": "报到", "todos": {"pending": "请到{location}报到"}},
            {"node": "waiting", "title": "排队叫号", "todos": {}},
            {"node": "consultation", "title": "看诊", "todos": {}},
            {"node": "lab_exam", "title": "检查", "todos": {}},
            {"node": "payment", "title": "缴费", "todos": {"unpaid": "请缴费：{item_title}"}},
        ],
        note="测试流程",
    )
    journey = Journey()
    visit = journey.send(
        journey.event("appointment", "booked", -600, appointment_time=T0.isoformat()),
        journey.event("registration", "registered", 0, fee="25.00"),
        journey.event("check_in", "pending", 1, location="门诊楼 2 楼 内科诊区 A 区"),
    )
    html = page_of(client, f"/h5/visits/{visit.reference}/")
    assert field(html, "institution") == INSTITUTION
    assert field(html, "department") == "内科"
    assert field(html, "doctor") == "陈立新"
    assert field(html, "patient") == MASKED
    # Booked ten hours ahead; the visit is when the patient registered.
    assert field(html, "visit-at") == "2026-11-26 08:30"
    assert DEFAULT_NAME not in html
    assert DEFAULT_ID_NUMBER not in html
    assert field(html, "current-node") == "报到"
    assert field(html, "current-status") == "待签到"
    assert steps(html) == [
        ("registration", "done", "已挂号"),
        ("check_in", "current", "待签到"),
        ("waiting", "pending", "未开始"),
        ("consultation", "pending", "未开始"),
        ("lab_exam", "pending", "未开始"),
        ("payment", "pending", "未开始"),
    ]
    assert 'data-node="appointment"' not in html  # not in this hospital's journey
    assert 'aria-current="step"' in html
    assert fields(html, "no-todos") == []
    todos = re.findall(r'<a class="va-todo" href="([^"]+)" data-todo="([^"]+)">', html)
    assert todos == [(node_url(visit, "check_in"), "check_in::pending")]
    assert "请到门诊楼 2 楼 内科诊区 A 区报到" in html
    # The appointment node is hidden here: its page is a 404 like any unknown node.
    assert client.get(node_url(visit, "appointment")).status_code == 404
    assert client.get(node_url(visit, "surgery")).status_code == 404


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_the_live_partial_is_the_fragment_only(client: Client) -> None:
    journey = Journey()
    visit = journey.send(journey.event("registration", "unpaid", 0, fee="25.00"))
    partial = page_of(client, f"/h5/visits/{visit.reference}/?partial=live")
    assert partial.lstrip().startswith('<div class="va-live" id="va-live"')
    assert f'data-revision="{visit.revision}"' in partial
    assert "<html" not in partial
    assert "va-hero" not in partial
    assert 'data-todo="registration::unpaid"' in partial
    node_partial = page_of(client, node_url(visit, "registration") + "?partial=live")
    assert node_partial.lstrip().startswith('<div class="va-live" id="va-live"')
    assert 'data-node="registration"' in node_partial


# -- node pages (VA-4 … VA-12) ------------------------------------------------------------


@pytest.mark.req("VA-4")
@pytest.mark.django_db
def test_appointment_page_shows_institution_patient_booker_and_status(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event(
            "appointment",
            "booked",
            -60 * 20,
            appointment_time=T0.isoformat(),
            period="上午",
            booked_by="王小明（家属）",
            channel="健康静安公众号",
            appointment_no="YY20261126001",
        )
    )
    html = page_of(client, node_url(visit, "appointment"))
    assert field(html, "node-status") == "已预约"
    assert field(html, "institution") == INSTITUTION
    assert field(html, "department") == "内科"
    assert field(html, "doctor") == "陈立新"
    assert field(html, "patient") == MASKED
    assert field(html, "appointment-time") == "2026-11-26 08:30 上午"
    assert field(html, "appointment-no") == "YY20261126001"
    assert field(html, "booked-by") == "王**（家属）"
    assert field(html, "channel") == "健康静安公众号"
    assert field(html, "state") == "已预约"
    assert "王小明" not in html
    journey.send(journey.event("appointment", "fulfilled", 0))
    html = page_of(client, node_url(visit, "appointment"))
    assert field(html, "state") == "已取号"
    assert field(html, "booked-by") == "王**（家属）"  # details persist across events


@pytest.mark.req("VA-5")
@pytest.mark.django_db
def test_registration_page_shows_the_settlement(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event(
            "registration",
            "unpaid",
            0,
            registration_no="GH20261126001",
            registration_type="专家门诊",
            fee="35",
        )
    )
    html = page_of(client, node_url(visit, "registration"))
    assert field(html, "state") == "待支付挂号费"
    assert field(html, "fee") == "35.00 元"
    assert fields(html, "insurance-paid") == []
    assert "请在医院自助机、窗口或医院公众号支付挂号费后候诊。" in html
    journey.send(
        journey.event(
            "registration",
            "registered",
            2,
            fee="35.00",
            insurance_paid="21.00",
            self_paid="14.00",
            pay_mode="医保+微信",
            settled_at=(T0 + timedelta(minutes=2)).isoformat(),
        )
    )
    html = page_of(client, node_url(visit, "registration"))
    assert field(html, "institution") == INSTITUTION
    assert field(html, "department") == "内科"
    assert field(html, "patient") == MASKED
    assert field(html, "registration-no") == "GH20261126001"
    assert field(html, "registration-type") == "专家门诊"
    assert field(html, "state") == "已挂号"
    assert field(html, "fee") == "35.00 元"
    assert field(html, "insurance-paid") == "21.00 元"
    assert field(html, "self-paid") == "14.00 元"
    assert field(html, "pay-mode") == "医保+微信"
    assert field(html, "settled-at") == "2026-11-26 08:32"
    assert "支付挂号费后候诊" not in html


@pytest.mark.req("VA-6")
@pytest.mark.django_db
def test_check_in_page_says_where_to_go(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event(
            "check_in",
            "pending",
            3,
            location="门诊楼 2 楼 内科诊区 A 区",
            floor_guide="乘 2 号电梯到 2 楼，出电梯右转",
        )
    )
    html = page_of(client, node_url(visit, "check_in"))
    assert field(html, "location") == "门诊楼 2 楼 内科诊区 A 区"
    assert field(html, "floor-guide") == "乘 2 号电梯到 2 楼，出电梯右转"
    assert field(html, "department") == "内科"
    assert field(html, "patient") == MASKED
    assert field(html, "state") == "待签到"
    assert 'data-todo="check_in::pending"' in html  # the node's own to-do on its page
    journey.send(journey.event("check_in", "checked_in", 8, location="门诊楼 2 楼 内科诊区 A 区"))
    html = page_of(client, node_url(visit, "check_in"))
    assert field(html, "state") == "已签到"
    assert 'data-todo="check_in::pending"' not in html


@pytest.mark.req("VA-7")
@pytest.mark.django_db
def test_waiting_page_shows_people_ahead_and_the_estimated_wait(client: Client) -> None:
    journey = Journey()
    queue = {"queue_no": "03-027", "room": "内科第 2 诊室"}
    visit = journey.send(journey.event("waiting", "waiting", 10, ahead=5, **queue))
    html = page_of(client, node_url(visit, "waiting"))
    # No history in this department yet: 6 minutes a patient (settings), 5 ahead.
    assert field(html, "ahead") == "5"
    assert field(html, "estimated-minutes") == "30"
    assert field(html, "estimated-call-at") == "09:10（08:40 估算，前方 5 人）"
    assert field(html, "queue-no") == "03-027"
    assert field(html, "room") == "内科第 2 诊室"
    assert field(html, "department") == "内科"
    assert field(html, "patient") == MASKED
    assert field(html, "state") == "候诊中"
    assert fields(html, "called-at") == []
    # The queue moves: the page shows the newest estimate.
    journey.send(journey.event("waiting", "waiting", 22, ahead=2, **queue))
    html = page_of(client, node_url(visit, "waiting"))
    assert field(html, "ahead") == "2"
    assert field(html, "estimated-minutes") == "12"
    assert field(html, "estimated-call-at") == "09:04（08:52 估算，前方 2 人）"
    journey.send(journey.event("waiting", "called", 31, ahead=0, **queue))
    html = page_of(client, node_url(visit, "waiting"))
    assert field(html, "state") == "已叫号"
    called = html.split('data-field="called"')[1]
    assert re.findall(r'class="va-where__(\w+)">([^<]+)</p>', called)[:2] == [
        ("place", "请到 内科第 2 诊室"),
        ("guide", "已叫号，请尽快前往就诊"),
    ]
    assert field(html, "called-at") == "09:01"
    assert fields(html, "ahead") == []
    # Both estimates are kept to compare with the real call later.
    assert list(
        WaitEstimate.objects.filter(visit=visit)
        .order_by("estimated_at")
        .values_list("ahead", "estimated_minutes", "called_at")
    ) == [(5, 30, T0 + timedelta(minutes=31)), (2, 12, T0 + timedelta(minutes=31))]


@pytest.mark.req("VA-8")
@pytest.mark.django_db
def test_consultation_page_shows_the_visit_record_and_prescriptions(client: Client) -> None:
    journey = Journey()
    visit = journey.send(journey.event("consultation", "in_progress", 35, room="内科第 2 诊室"))
    html = page_of(client, node_url(visit, "consultation"))
    assert field(html, "state") == "就诊中"
    assert field(html, "room") == "内科第 2 诊室"
    assert "医生书写病历后会显示在这里。" in html
    assert field(html, "no-prescriptions") == "本次就诊暂无处方。"
    journey.send(
        journey.event(
            "consultation",
            "finished",
            47,
            room="内科第 2 诊室",
            record={
                "complaint": "咳嗽三天",
                "diagnosis": "急性上呼吸道感染",
                "advice": "多饮水，注意休息，按时服药，不适随诊",
            },
            prescriptions=[
                {
                    "drug": "阿莫西林胶囊",
                    "spec": "0.25g×24粒",
                    "usage": "每次 2 粒，每日 3 次",
                    "quantity": "1 盒",
                },
                {
                    "drug": "复方甘草片",
                    "spec": "100片",
                    "usage": "每次 3 片，每日 3 次",
                    "quantity": "1 瓶",
                },
            ],
        )
    )
    html = page_of(client, node_url(visit, "consultation"))
    assert field(html, "state") == "诊毕"
    assert field(html, "doctor") == "陈立新"
    assert field(html, "patient") == MASKED
    assert field(html, "complaint") == "咳嗽三天"
    assert field(html, "diagnosis") == "急性上呼吸道感染"
    assert field(html, "advice") == "多饮水，注意休息，按时服药，不适随诊"
    drugs = re.findall(r'<li data-drug="([^"]+)">', html)
    assert drugs == ["阿莫西林胶囊", "复方甘草片"]
    assert "0.25g×24粒" in html
    assert "每次 2 粒，每日 3 次" in html
    assert "1 盒" in html


@pytest.mark.req("VA-9")
@pytest.mark.django_db
def test_payment_page_lists_items_amounts_total_and_status_per_charge(client: Client) -> None:
    journey = Journey()
    drugs = [{"name": "阿莫西林胶囊", "amount": "18.5"}, {"name": "复方甘草片", "amount": "6.20"}]
    labs = [{"name": "血常规", "amount": "22.00"}]
    visit = journey.send(
        journey.event(
            "payment", "unpaid", 48, item="F1", item_name="药品费", items=drugs, total="24.70"
        ),
        journey.event(
            "payment", "unpaid", 48, item="F2", item_name="检查检验费", items=labs, total="22.00"
        ),
    )
    journey.send(
        journey.event(
            "payment",
            "paid",
            55,
            item="F2",
            item_name="检查检验费",
            items=labs,
            total="22.00",
            pay_mode="医保+微信",
            paid_at=(T0 + timedelta(minutes=55)).isoformat(),
        )
    )
    html = page_of(client, node_url(visit, "payment"))
    assert field(html, "node-status") == "待缴费"  # one charge still open holds the node
    first, second = html.split('id="item-F1"')[1].split('id="item-F2"')
    rows = lambda part: re.findall(  # noqa: E731
        r"<tr><td>([^<]+)</td><td class=\"va-num\">([^<]+)</td></tr>", part
    )
    assert rows(first) == [("阿莫西林胶囊", "18.50 元"), ("复方甘草片", "6.20 元")]
    assert field(first, "total") == "24.70 元"
    assert field(first, "state") == "待缴费"
    assert field(first, "patient") == MASKED
    assert "可在诊间、自助机或医院公众号缴费" in first
    assert rows(second) == [("血常规", "22.00 元")]
    assert field(second, "total") == "22.00 元"
    assert field(second, "state") == "已缴费"
    assert field(second, "pay-mode") == "医保+微信"
    assert field(second, "paid-at") == "2026-11-26 09:25"
    assert 'data-todo="payment:F1:unpaid"' in html
    assert 'data-todo="payment:F2:unpaid"' not in html


@pytest.mark.req("VA-10")
@pytest.mark.django_db
def test_lab_page_shows_where_to_go_report_status_and_the_report(client: Client) -> None:
    journey = Journey()
    ordered = {
        "category": "检验",
        "item_name": "血常规",
        "location": "门诊楼 1 楼 检验科 采血窗口",
    }
    visit = journey.send(
        journey.event(
            "lab_exam", "ordered", 56, item="L1", report_eta="约 1 小时后出报告", **ordered
        )
    )
    html = page_of(client, node_url(visit, "lab_exam"))
    assert field(html, "location") == "门诊楼 1 楼 检验科 采血窗口"
    assert field(html, "category") == "检验"
    assert field(html, "item-name") == "血常规"
    assert field(html, "patient") == MASKED
    assert field(html, "report-status") == "未出报告"
    assert field(html, "report-eta") == "约 1 小时后出报告"
    assert 'data-field="report"' not in html
    journey.send(
        journey.event(
            "lab_exam",
            "reported",
            110,
            item="L1",
            report={
                "items": [
                    {
                        "name": "白细胞计数",
                        "value": "6.8",
                        "unit": "10^9/L",
                        "range": "3.5-9.5",
                        "flag": "",
                    },
                    {
                        "name": "血小板计数",
                        "value": "96",
                        "unit": "10^9/L",
                        "range": "125-350",
                        "flag": "L",
                    },
                    {
                        "name": "C 反应蛋白",
                        "value": "24",
                        "unit": "mg/L",
                        "range": "0-10",
                        "flag": "H",
                    },
                ],
                "conclusion": "请结合临床",
            },
            **ordered,
        )
    )
    html = page_of(client, node_url(visit, "lab_exam"))
    assert field(html, "node-status") == "报告已出"
    assert field(html, "report-status") == "报告已出"
    assert fields(html, "report-eta") == []
    results = re.findall(
        r'<tr class="(va-abnormal)?" data-result="([^"]+)"(?: data-abnormal="(\w+)")?>\s*'
        r"<td>[^<]+</td>\s*<td>(.*?)</td>\s*<td>([^<]+)</td>",
        html,
        flags=re.S,
    )
    cleaned = [
        (name, flag, " ".join(re.sub(r"<[^>]+>", "", value).split()), ref)
        for _, name, flag, value, ref in results
    ]
    assert cleaned == [
        ("白细胞计数", "", "6.8 10^9/L", "3.5-9.5"),
        ("血小板计数", "L", "96 10^9/L ↓ 偏低", "125-350"),
        ("C 反应蛋白", "H", "24 mg/L ↑ 偏高", "0-10"),
    ]
    assert field(html, "conclusion") == "结论：请结合临床"


@pytest.mark.req("VA-11")
@pytest.mark.django_db
def test_pharmacy_page_shows_the_window_status_and_pickup_code_as_qr(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event("pharmacy", "preparing", 60, item="R1", drugs=["阿莫西林胶囊", "复方甘草片"])
    )
    html = page_of(client, node_url(visit, "pharmacy"))
    assert field(html, "state") == "配药中"
    assert 'data-role="pickup-qr"' not in html
    journey.send(
        journey.event(
            "pharmacy",
            "ready",
            70,
            item="R1",
            window="门诊西药房 3 号窗口",
            pickup_code="408127",
            drugs=["阿莫西林胶囊", "复方甘草片"],
        )
    )
    html = page_of(client, node_url(visit, "pharmacy"))
    assert field(html, "window") == "门诊西药房 3 号窗口"
    assert field(html, "state") == "待取药"
    assert field(html, "patient") == MASKED
    assert field(html, "pickup-code") == "408127"
    qr = html.split('data-role="pickup-qr">')[1].split("</div>")[0]
    assert qr.lstrip().startswith("<svg")
    assert "<title>取药码 408127</title>" in qr
    assert "<li>阿莫西林胶囊</li><li>复方甘草片</li>" in html
    assert 'data-todo="pharmacy:R1:ready"' in html
    assert "请到门诊西药房 3 号窗口取药，取药码 408127" in html
    journey.send(
        journey.event(
            "pharmacy",
            "dispensed",
            80,
            item="R1",
            window="门诊西药房 3 号窗口",
            pickup_code="408127",
        )
    )
    html = page_of(client, node_url(visit, "pharmacy"))
    assert field(html, "state") == "已取药"
    assert 'data-role="pickup-qr"' not in html  # of no use once the drugs are out


@pytest.mark.req("VA-12")
@pytest.mark.django_db
def test_follow_up_page_shows_the_questionnaire(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event(
            "follow_up", "pending", 60 * 24, questionnaire=QUESTIONNAIRE, due_date="2026-12-04"
        )
    )
    html = page_of(client, node_url(visit, "follow_up"))
    assert field(html, "state") == "待填写问卷"
    assert field(html, "due-date") == "2026-12-04 前填写"
    assert field(html, "questionnaire-title") == "门诊诊后随访问卷"
    questions = re.findall(r'<p class="va-question">([^<]+)</p>', html)
    assert questions == [
        "您今天的症状是否有所缓解？",
        "您是否按医嘱服药？",
        "您对本次就诊的总体满意度",
    ]
    assert "明显缓解" in html
    assert "非常满意" in html
    assert "<form" not in html.split('data-field="questionnaire"')[1]  # read only
    assert 'data-todo="follow_up::pending"' in html
    journey.send(
        journey.event(
            "follow_up", "completed", 60 * 26, answers={"q1": "略有缓解", "q2": "是", "q3": "满意"}
        )
    )
    html = page_of(client, node_url(visit, "follow_up"))
    assert field(html, "state") == "已完成"
    chosen = re.findall(
        r'<li class="va-option_chosen" aria-checked="true">.*?</i> ([^<]+)</li>', html
    )
    assert chosen == ["略有缓解", "是", "满意"]
    assert Visit.objects.unscoped().get(pk=visit.pk).is_finished is True


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_a_node_not_reached_yet_says_so(client: Client) -> None:
    journey = Journey()
    visit = journey.send(journey.event("registration", "registered", 0))
    html = page_of(client, node_url(visit, "pharmacy"))
    assert field(html, "node-status") == "未开始"
    assert field(html, "not-started") == "该环节尚未开始，医院系统有进展后会在这里显示。"


# -- to-dos (VA-13) ---------------------------------------------------------------------------


def todo_links(html: str) -> list[tuple[str, str, str]]:
    """``(href, key, title)`` of the visit page's to-dos."""
    return [
        (href, key, title.strip())
        for href, key, title in re.findall(
            r'<a class="va-todo" href="([^"]+)" data-todo="([^"]+)">.*?'
            r'<span class="va-todo__title">([^<]+)</span>',
            html,
            flags=re.S,
        )
    ]


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_todos_open_as_events_arrive_lead_to_their_node_and_close_as_the_flow_moves(
    client: Client,
) -> None:
    journey = Journey()
    visit = journey.send(journey.event("registration", "unpaid", 0, fee="25.00"))
    page = f"/h5/visits/{visit.reference}/"
    assert todo_links(page_of(client, page)) == [
        (node_url(visit, "registration"), "registration::unpaid", "挂号费待支付")
    ]
    # Tapping the to-do opens the registration page, which carries the same to-do.
    opened = page_of(client, node_url(visit, "registration"))
    assert field(opened, "node-status") == "待支付挂号费"
    journey.send(
        journey.event("registration", "registered", 2, fee="25.00"),
        journey.event("check_in", "pending", 2, location="门诊楼 2 楼"),
    )
    assert todo_links(page_of(client, page)) == [
        (node_url(visit, "check_in"), "check_in::pending", "请到门诊楼 2 楼签到")
    ]
    journey.send(
        journey.event("check_in", "checked_in", 6, location="门诊楼 2 楼"),
        journey.event("waiting", "waiting", 6, ahead=3, room="内科第 1 诊室"),
    )
    html = page_of(client, page)
    assert todo_links(html) == []
    assert field(html, "no-todos") == "暂无待办事项"
    journey.send(journey.event("waiting", "called", 20, ahead=0, room="内科第 1 诊室"))
    assert todo_links(page_of(client, page)) == [
        (node_url(visit, "waiting"), "waiting::called", "已叫号，请到内科第 1 诊室就诊"),
    ]
    # The doctor orders medicine: the call is behind the patient, the charge is ahead.
    journey.send(
        journey.event("payment", "unpaid", 21, item="F1", item_name="药品费", total="12.00"),
    )
    html = page_of(client, page)
    assert todo_links(html) == [
        (node_url(visit, "payment") + "#item-F1", "payment:F1:unpaid", "有待缴费项目：药品费"),
    ]
    # The item anchor lands on the charge itself.
    assert 'id="item-F1"' in page_of(client, node_url(visit, "payment"))
    journey.send(
        journey.event("payment", "paid", 21.5, item="F1", item_name="药品费", total="12.00")
    )
    assert todo_links(page_of(client, page)) == []
    assert list(
        VisitTodo.objects.filter(visit=visit, is_open=False)
        .order_by("opened_at", "id")
        .values_list("key", flat=True)
    ) == ["registration::unpaid", "check_in::pending", "waiting::called", "payment:F1:unpaid"]


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_a_todo_closes_once_the_visit_has_moved_past_its_node(client: Client) -> None:
    journey = Journey()
    visit = journey.send(
        journey.event("appointment", "booked", -600, appointment_time=T0.isoformat()),
        journey.event("registration", "registered", 0),
        journey.event("waiting", "called", 20, ahead=0, room="内科第 1 诊室"),
        journey.event("consultation", "in_progress", 22, room="内科第 1 诊室"),
    )
    # The HIS never sent "fulfilled" for the appointment; the patient is now with the
    # doctor: neither "到院就诊" nor "已叫号，请到诊室" is still to do.
    keys = [key for _, key, _ in todo_links(page_of(client, f"/h5/visits/{visit.reference}/"))]
    assert keys == ["consultation::in_progress"]


@pytest.mark.req("VA-13")
@pytest.mark.django_db
def test_a_resident_verified_after_the_visit_began_finds_it_by_id_number(
    make_resident: Any, resident_client: Any
) -> None:
    journey = Journey()
    visit = journey.send(journey.event("registration", "registered", 0))
    assert visit.resident_id is None  # nobody to link to yet
    client = resident_client(make_resident())
    html = page_of(client, "/h5/visits/")
    assert re.findall(r'data-visit="([^"]+)"', html) == [str(visit.reference)]
    assert field(page_of(client, node_url(visit, "registration")), "node-status") == "已挂号"


@pytest.mark.django_db
def test_the_home_page_offers_the_visit_assistant(client: Client) -> None:
    html = page_of(client, "/h5/")
    tile = re.search(r'<a href="/h5/visits/" class="h5-tile">(.*?)</a>', html, flags=re.S)
    assert tile is not None
    assert re.findall(r'class="h5-tile__(?:title|desc)">([^<]+)<', tile.group(1)) == [
        "门诊就医助手",
        "预约、候诊、缴费、检查、取药进度实时提醒",
    ]


@pytest.mark.parametrize(
    ("booked_by", "shown"),
    [
        ("本人", "本人"),
        ("家属（子女）", "家属（子女）"),
        ("王小明", "王**"),
        ("欧阳娜娜(家属)", "欧阳**（家属）"),
        ("", ""),
    ],
)
def test_who_booked_is_masked_when_it_is_a_name(booked_by: str, shown: str) -> None:
    from jingan.accompaniment.visits.templatetags.visits_h5 import booker

    assert booker(booked_by) == shown


@pytest.mark.parametrize(
    ("value", "style", "shown"),
    [
        ("2026-11-26T01:30:00+00:00", "full", "2026-11-26 09:30"),
        ("2026-11-26T09:30:00+08:00", "short", "11-26 09:30"),
        ("2026-11-26T09:30:00+08:00", "time", "09:30"),
        ("2026-12-04", "full", "2026-12-04"),
        ("约 1 小时后出报告", "full", "约 1 小时后出报告"),
        (None, "full", ""),
    ],
)
def test_state_times_read_in_local_time(value: Any, style: str, shown: str) -> None:
    from jingan.accompaniment.visits.templatetags.visits_h5 import visit_time

    assert visit_time(value, style) == shown
