"""Realistic outpatient visits as event scripts, for the clinic-day simulator, the demo,
the tests and the benchmark. Pure and deterministic for a given ``random.Random``.

A script is the list of ``HisEvent`` a HIS would report for one visit, in the order
things happened, with realistic gaps: appointment (often booked the day before),
registration and its payment, check-in, the queue counting down, consultation, charges,
lab and imaging orders with their reports, pharmacy, and the follow-up questionnaire.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.simulation import source_for

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number(rng: random.Random, *, region: str = "310106", born: datetime | None = None) -> str:
    """A well-formed (checksummed) resident ID number for synthetic patients."""
    birth = born or datetime(1940, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 365 * 80))
    body = f"{region}{birth:%Y%m%d}{rng.randrange(0, 1000):03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _WEIGHTS, strict=True))
    return body + _CHECK[total % 11]


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
_GIVEN = "秀英桂英玉兰建华志强国平丽娟伟明海燕文杰红梅建国淑珍晓东美华振华永康佳怡子涵"


def patient_name(rng: random.Random) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    return rng.choice(_SURNAMES) + given


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    location: str
    doctors: tuple[str, ...]


DEPARTMENTS: tuple[Department, ...] = (
    Department("03", "内科", "门诊楼 2 楼 内科诊区 A 区", ("陈立新", "王慧敏", "刘建军")),
    Department("04", "外科", "门诊楼 3 楼 外科诊区", ("赵永刚", "孙文博")),
    Department("07", "儿科", "门诊楼 1 楼 儿科诊区", ("周晓岚", "吴佳")),
    Department("10", "眼科", "门诊楼 4 楼 眼科诊区", ("郑明", "许静")),
    Department("50", "中医科", "门诊楼 5 楼 中医诊区", ("何国华",)),
)

LAB_ITEMS: tuple[tuple[str, str, str, list[dict[str, str]]], ...] = (
    (
        "检验",
        "血常规",
        "门诊楼 1 楼 检验科 采血窗口",
        [
            {
                "name": "白细胞计数",
                "value": "6.8",
                "unit": "10^9/L",
                "range": "3.5-9.5",
                "flag": "",
            },
            {"name": "血红蛋白", "value": "128", "unit": "g/L", "range": "115-150", "flag": ""},
            {
                "name": "血小板计数",
                "value": "96",
                "unit": "10^9/L",
                "range": "125-350",
                "flag": "L",
            },
        ],
    ),
    (
        "检验",
        "肝功能",
        "门诊楼 1 楼 检验科 采血窗口",
        [
            {"name": "谷丙转氨酶", "value": "62", "unit": "U/L", "range": "7-40", "flag": "H"},
            {"name": "谷草转氨酶", "value": "35", "unit": "U/L", "range": "13-35", "flag": ""},
        ],
    ),
    (
        "检查",
        "胸部 CT 平扫",
        "医技楼 1 楼 放射科 CT 室",
        [
            {
                "name": "影像所见",
                "value": "双肺纹理清晰，未见明显实质性病变",
                "unit": "",
                "range": "",
                "flag": "",
            }
        ],
    ),
    (
        "检查",
        "腹部 B 超",
        "医技楼 2 楼 超声科",
        [
            {
                "name": "超声所见",
                "value": "肝胆胰脾未见明显异常",
                "unit": "",
                "range": "",
                "flag": "",
            }
        ],
    ),
)

DRUGS: tuple[tuple[str, str, str], ...] = (
    ("阿莫西林胶囊", "0.25g×24粒", "每次 2 粒，每日 3 次"),
    ("布洛芬缓释胶囊", "0.3g×20粒", "疼痛时 1 粒，每日不超过 2 次"),
    ("苯磺酸氨氯地平片", "5mg×28片", "每次 1 片，每日 1 次"),
    ("复方甘草片", "100片", "每次 3 片，每日 3 次"),
    ("二甲双胍缓释片", "0.5g×30片", "每次 1 片，每日 2 次，餐中服用"),
)

QUESTIONNAIRE = {
    "title": "门诊诊后随访问卷",
    "questions": [
        {
            "text": "您今天的症状是否有所缓解？",
            "options": ["明显缓解", "略有缓解", "没有变化", "加重"],
        },
        {"text": "您是否按医嘱服药？", "options": ["是", "否"]},
        {"text": "您对本次就诊的总体满意度", "options": ["非常满意", "满意", "一般", "不满意"]},
    ],
}


@dataclass
class VisitPlan:
    """Who comes, where, when: the inputs of one visit's script."""

    institution_code: str
    dialect: str
    visit_key: str
    arrive_at: datetime
    patient: PatientRef
    department: Department
    doctor: str
    booked: bool = True
    extras: dict[str, Any] = field(default_factory=dict)


def plan_visit(
    rng: random.Random,
    *,
    institution_code: str,
    dialect: str,
    visit_key: str,
    arrive_at: datetime,
    patient: PatientRef | None = None,
) -> VisitPlan:
    department = rng.choice(DEPARTMENTS)
    return VisitPlan(
        institution_code=institution_code,
        dialect=dialect,
        visit_key=visit_key,
        arrive_at=arrive_at,
        patient=patient
        or PatientRef(
            name=patient_name(rng),
            id_number=id_number(rng),
            card_number=f"{rng.randrange(10**9, 10**10)}",
        ),
        department=department,
        doctor=rng.choice(department.doctors),
        booked=rng.random() < 0.7,
    )


def visit_script(plan: VisitPlan, rng: random.Random) -> list[HisEvent]:
    """The events of one visit, in the order they happen."""
    events: list[HisEvent] = []
    source = source_for(plan.dialect, plan.institution_code)
    common = {
        "department_code": plan.department.code,
        "department_name": plan.department.name,
        "doctor_name": plan.doctor,
    }

    def add(node: str, status: str, at: datetime, item: str = "", **payload: Any) -> None:
        events.append(
            HisEvent(
                source=source,
                source_event_id=f"{plan.visit_key}-{len(events) + 1:03d}",
                institution_code=plan.institution_code,
                visit_key=plan.visit_key,
                node=node,
                status=status,
                occurred_at=at,
                item=item,
                patient=plan.patient,
                payload={**common, **payload},
            )
        )

    def later(at: datetime, low: float, high: float) -> datetime:
        return at + timedelta(minutes=rng.uniform(low, high))

    at = plan.arrive_at
    period = "上午" if at.hour < 12 else "下午"
    if plan.booked:
        booked_at = at - timedelta(hours=rng.uniform(2, 60))
        add(
            "appointment",
            "booked",
            booked_at,
            appointment_time=at.isoformat(),
            period=period,
            booked_by=rng.choice(("本人", "本人", "家属（子女）")),
            channel=rng.choice(("健康静安公众号", "随申办", "医院自助机")),
            appointment_no=f"YY{plan.visit_key[-8:]}",
        )
        add("appointment", "fulfilled", at)
    fee = rng.choice(("25.00", "25.00", "35.00", "50.00"))
    insured = f"{float(fee) * 0.6:.2f}"
    self_paid = f"{float(fee) - float(insured):.2f}"
    add(
        "registration",
        "unpaid",
        at,
        registration_no=f"GH{plan.visit_key[-8:]}",
        registration_type=rng.choice(("普通门诊", "专家门诊")),
        fee=fee,
    )
    at = later(at, 0.5, 3)
    add(
        "registration",
        "registered",
        at,
        fee=fee,
        insurance_paid=insured,
        self_paid=self_paid,
        pay_mode=rng.choice(("医保+微信", "医保账户", "微信")),
        settled_at=at.isoformat(),
    )
    add("check_in", "pending", at, location=plan.department.location)
    at = later(at, 2, 10)
    add("check_in", "checked_in", at, location=plan.department.location)
    ahead = rng.randrange(3, 14)
    queue_no = f"{plan.department.code}-{rng.randrange(1, 120):03d}"
    room = f"{plan.department.name}第 {rng.randrange(1, 6)} 诊室"
    while ahead > 0:
        add("waiting", "waiting", at, ahead=ahead, queue_no=queue_no, room=room)
        at = later(at, 3, 9)
        ahead -= rng.choice((1, 1, 2))
    add("waiting", "called", at, ahead=0, queue_no=queue_no, room=room)
    at = later(at, 0.5, 3)
    add("consultation", "in_progress", at, room=room)
    at = later(at, 5, 15)
    prescriptions = [
        {"drug": name, "spec": spec, "usage": usage, "quantity": "1 盒"}
        for name, spec, usage in rng.sample(DRUGS, rng.choice((0, 1, 1, 2)))
    ]
    labs = rng.sample(LAB_ITEMS, rng.choice((0, 0, 1, 2)))
    add(
        "consultation",
        "finished",
        at,
        room=room,
        record={
            "complaint": rng.choice(("咳嗽三天", "头晕乏力一周", "腹痛两天", "复诊配药")),
            "diagnosis": rng.choice(("急性上呼吸道感染", "原发性高血压", "慢性胃炎", "2 型糖尿病")),
            "advice": "多饮水，注意休息，按时服药，不适随诊",
        },
        prescriptions=prescriptions,
    )
    charges: list[tuple[str, str, list[dict[str, str]]]] = []
    if prescriptions:
        charges.append(
            (
                "F1",
                "药品费",
                [{"name": p["drug"], "amount": f"{rng.uniform(8, 60):.2f}"} for p in prescriptions],
            )
        )
    if labs:
        charges.append(
            (
                "F2",
                "检查检验费",
                [{"name": lab[1], "amount": f"{rng.uniform(20, 300):.2f}"} for lab in labs],
            )
        )
    for item, name, lines in charges:
        total = f"{sum(float(line['amount']) for line in lines):.2f}"
        add("payment", "unpaid", at, item=item, item_name=name, items=lines, total=total)
    if charges:
        at = later(at, 2, 10)
        for item, name, lines in charges:
            total = f"{sum(float(line['amount']) for line in lines):.2f}"
            add(
                "payment",
                "paid",
                at,
                item=item,
                item_name=name,
                items=lines,
                total=total,
                pay_mode="医保+微信",
                paid_at=at.isoformat(),
            )
    for index, (category, name, location, _report) in enumerate(labs, start=1):
        item = f"L{index}"
        add(
            "lab_exam",
            "ordered",
            at,
            item=item,
            category=category,
            item_name=name,
            location=location,
            report_eta="约 1 小时后出报告",
        )
    lab_at = at
    for index, (category, name, location, report) in enumerate(labs, start=1):
        item = f"L{index}"
        lab_at = later(lab_at, 5, 20)
        add(
            "lab_exam",
            "in_progress",
            lab_at,
            item=item,
            category=category,
            item_name=name,
            location=location,
        )
        report_at = later(lab_at, 20, 70)
        add(
            "lab_exam",
            "reported",
            report_at,
            item=item,
            category=category,
            item_name=name,
            location=location,
            report={
                "items": report,
                "conclusion": "请结合临床" if category == "检验" else "未见明显异常",
            },
        )
    if prescriptions:
        at = later(at, 1, 3)
        add("pharmacy", "preparing", at, item="R1", drugs=[p["drug"] for p in prescriptions])
        at = later(at, 4, 15)
        window = f"门诊西药房 {rng.randrange(1, 7)} 号窗口"
        code = f"{rng.randrange(0, 10**6):06d}"
        add(
            "pharmacy",
            "ready",
            at,
            item="R1",
            window=window,
            pickup_code=code,
            drugs=[p["drug"] for p in prescriptions],
        )
        at = later(at, 2, 20)
        add("pharmacy", "dispensed", at, item="R1", window=window, pickup_code=code)
    follow_at = plan.arrive_at.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(
        days=1
    )
    follow_at = max(follow_at, at + timedelta(minutes=30))
    add(
        "follow_up",
        "pending",
        follow_at,
        questionnaire=QUESTIONNAIRE,
        due_date=(follow_at + timedelta(days=7)).date().isoformat(),
    )
    if rng.random() < 0.3:
        add(
            "follow_up",
            "completed",
            later(follow_at, 60, 600),
            answers={"q1": "明显缓解", "q2": "是", "q3": "满意"},
        )
    return events
