"""Demo data of the visit assistant: every institution onboarded to its HIS simulator
(HI-1), its journey, and a history of outpatient visits, some of them the demo residents'.

The history goes through the journal's one door (``journal.ingest``), as the HIS would
have sent it, and is folded without messaging anyone: old visits are not news. The live
part of the demo is the clinic day that ``jingan serve`` plays (``background.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from jingan.core.public import verified_residents_by_id_number
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.integrations.regional.simulator import population
from jingan.lib.demo import DemoStep, Scale

SHANGHAI = ZoneInfo("Asia/Shanghai")

__all__ = ["STEPS", "demo_patients"]

# Visits of the district's recent past (besides the demo residents' own).
HISTORY = {"tiny": 20, "small": 300, "district": 3000}
# Past visits per demo resident.
PER_RESIDENT = {"tiny": 1, "small": 3, "district": 3}


def demo_patients() -> list[PatientRef]:
    """The verified demo residents as patients (name and ID number as their HIS knows them)."""
    people = population()[:40]
    verified = verified_residents_by_id_number(person.id_number for person in people)
    return [
        PatientRef(name=person.name, id_number=person.id_number, card_number=f"9{index:09d}")
        for index, person in enumerate(people)
        if person.id_number in verified
    ]


def _institutions() -> dict[str, str]:
    from jingan.accompaniment.visits.simulators import institution_dialects

    return institution_dialects()


def _onboard_size(scale: Scale) -> int:
    return len(_institutions())


def _onboard(scale: Scale, advance: Callable[[int], None]) -> None:
    from django.apps import apps

    from jingan.accompaniment.visits.connections import ensure_connections
    from jingan.accompaniment.visits.inputs.rest_clients import ensure_push_clients
    from jingan.accompaniment.visits.services import current_template

    ensure_connections()
    ensure_push_clients()
    institution_model = apps.get_model("institutions", "Institution")
    for institution_id in institution_model.objects.unscoped().values_list("pk", flat=True):
        current_template(institution_id)
        advance(1)


def _history_size(scale: Scale) -> int:
    return HISTORY[scale] + PER_RESIDENT[scale] * 12 + 1


def _history(scale: Scale, advance: Callable[[int], None]) -> None:
    from jingan.accompaniment.visits.centre import journal
    from jingan.accompaniment.visits.centre.processor import drain
    from jingan.accompaniment.visits.models import Visit

    if Visit.objects.unscoped().filter(visit_key__startswith="HX").exists():
        advance(_history_size(scale))
        return  # idempotent: the history is loaded once
    rng = random.Random(20261126)
    institutions = _institutions()
    codes = sorted(institutions)
    now = timezone.now().astimezone(SHANGHAI)
    patients = demo_patients()
    plans: list[tuple[datetime, PatientRef | None]] = []
    for resident_patient in patients:
        for _ in range(PER_RESIDENT[scale]):
            days = rng.randrange(3, 60)
            plans.append((_clinic_time(now - timedelta(days=days), rng), resident_patient))
    for _ in range(HISTORY[scale]):
        plans.append((_clinic_time(now - timedelta(days=rng.randrange(1, 30)), rng), None))
    batch: list[HisEvent] = []
    for index, (arrive_at, patient) in enumerate(plans):
        code = codes[rng.randrange(len(codes))]
        plan = plan_visit(
            rng,
            institution_code=code,
            dialect=institutions[code],
            visit_key=f"HX{arrive_at:%y%m%d}{index:05d}",
            arrive_at=arrive_at,
            patient=patient,
        )
        script = visit_script(plan, rng)
        # The follow-up of a past visit has been answered or has lapsed by now.
        batch.extend(event for event in script if event.occurred_at < now)
        if len(batch) > 2000:
            journal.ingest(batch)
            batch = []
        advance(1)
    if patients:
        # 秀英阿姨 (the first demo resident) is at the hospital right now: mid-visit.
        arrive_at = now - timedelta(minutes=40)
        code = "310106001" if "310106001" in institutions else codes[0]
        plan = plan_visit(
            rng,
            institution_code=code,
            dialect=institutions[code],
            visit_key=f"HX{arrive_at:%y%m%d}NOW",
            arrive_at=arrive_at,
            patient=patients[0],
        )
        batch.extend(event for event in visit_script(plan, rng) if event.occurred_at < now)
    advance(1)
    if batch:
        journal.ingest(batch)
    drain(owner="demo-history", announce=False)


def _clinic_time(day: datetime, rng: random.Random) -> datetime:
    return day.replace(
        hour=rng.choice((8, 8, 9, 9, 10, 13, 14)),
        minute=rng.randrange(0, 60),
        second=0,
        microsecond=0,
    )


STEPS = [
    DemoStep(
        "visits-onboarding",
        "HIS 对接：26 家机构接入四种接口与就诊流程",
        _onboard_size,
        _onboard,
    ),
    DemoStep("visits-history", "门诊就诊历史（经事件中心归集）", _history_size, _history),
]
