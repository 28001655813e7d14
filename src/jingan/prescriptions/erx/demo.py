"""Demo data of the e-prescription centre link (``jingan demo-data``).

1. ``erx-connections``: every institution (tiny scale: the first two) gets its centre
   connection — 定点医药机构编码, appId/appSecret, its SM2 key pair — registered with the
   simulated centre, plus a signed API client for its doctor workstations. The
   workstations' private keys are written to ``DATA_DIR/erx/workstation-keys.json``
   (mode 0600) so HIS vendors can try the workstation API at once.
2. ``erx-catalogue``: the circulation drug catalogue synced from the centre simulator,
   started in process when nothing listens on the configured centre port.
3. ``erx-prescriptions``: prescriptions for the verified demo residents through the real
   services, left in the states a doctor, a pharmacist and a resident meet: approved by
   the centre, collected at a pharmacy, revoked, a draft, waiting for in-hospital review.

Every step is idempotent: what exists is kept and a second run adds nothing.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jingan.core.public import (
    check_id_number,
    create_api_client,
    generate_keypair,
    get_sm2_backend,
    record_event,
)
from jingan.lib.demo import DemoStep, Scale
from jingan.lib.http import OutboundClient, OutboundError
from jingan.prescriptions.erx.errors import ErxError
from jingan.prescriptions.erx.models import (
    CentreConnection,
    DrugCatalogueEntry,
    Prescription,
    PrescriptionStatus,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ACCOUNTS",
    "STEPS",
    "ensure_connection",
    "erx_centre_simulator",
    "fixmedins_code_for",
    "workstation_keys_path",
]

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
# How long the demo waits for the centre's (simulated) review before moving on.
CENTRE_REVIEW_WAIT_SECONDS = 15.0


# -- institutions and their connections ----------------------------------------------------


def _institutions(scale: Scale) -> list[Any]:
    model = apps.get_model("institutions", "Institution")
    rows = list(model.objects.unscoped().filter(is_active=True).order_by("code"))
    return rows[:2] if scale == "tiny" else rows


def fixmedins_code_for(institution: Any) -> str:
    """定点医药机构编码, 12 characters: ``H`` + the 9-digit institution code + ``01``."""
    digits = "".join(ch for ch in str(institution.code) if ch.isdigit())
    return f"H{digits}01"[:12] if len(digits) == 9 else f"H{digits[:11].ljust(11, '0')}"


def _new_app_id(institution: Any) -> str:
    # The SM4 data key is derived from appId[0:16]: the institution code comes first so
    # no two institutions share those sixteen characters.
    return f"{institution.code}ERX{secrets.token_hex(4).upper()}"


def workstation_keys_path() -> Path:
    return Path(settings.DATA_DIR) / "erx" / "workstation-keys.json"


def _read_workstation_keys() -> dict[str, Any]:
    try:
        stored = json.loads(workstation_keys_path().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _save_workstation_key(code: str, entry: dict[str, str]) -> None:
    path = workstation_keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = _read_workstation_keys()
    stored[code] = entry
    temporary = path.with_suffix(".part")
    # Created 0600 from the start: the private keys must never be readable by others.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(stored, handle, indent=2, ensure_ascii=False)
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def _workstation_client(institution: Any, fixmedins_code: str) -> str:
    """The institution's doctor-workstation API client (core), its key in the demo key file."""
    known = _read_workstation_keys().get(institution.code)
    if isinstance(known, dict) and known.get("app_id"):
        return str(known["app_id"])
    client_model = apps.get_model("crypto", "ApiClient")
    base = f"erx-workstation-{institution.code}"
    app_id = base
    if client_model.objects.filter(app_id__startswith=base).exists():
        # The key was lost with an older data directory: register a fresh client.
        app_id = f"{base}-{client_model.objects.filter(app_id__startswith=base).count()}"
    _, private_key_hex = create_api_client(
        actor=None,
        app_id=app_id,
        name=f"医生工作站（电子处方）{institution.short_name or institution.name}"[:100],
        institution_id=institution.pk,
    )
    _save_workstation_key(
        institution.code,
        {
            "institution": institution.name,
            "fixmedins_code": fixmedins_code,
            "app_id": app_id,
            "private_key_hex": private_key_hex,
        },
    )
    return app_id


def _register_with_simulator(
    *, app_id: str, app_secret: str, public_key_hex: str, code: str, name: str
) -> str:
    from jingan.integrations.erx_centre.simulator import register_app

    def keypair() -> tuple[str, str]:
        pair = generate_keypair()
        return pair.private_hex, pair.public_hex

    return register_app(
        Path(str(settings.ERX_CENTRE["simulator_state"])),
        app_id=app_id,
        app_secret=app_secret,
        public_key_hex=public_key_hex,
        fixmedins_code=code,
        fixmedins_name=name,
        notify_url=str(settings.ERX_CENTRE["notify_url"]),
        generate_keypair=keypair,
    )


def ensure_connection(institution: Any) -> CentreConnection:
    """The institution's centre connection, created (and registered) when missing.

    Idempotent: an existing connection is kept, re-registered with the simulated centre
    (a no-op when it already knows it) and given the centre's current public key, so a
    fresh simulator state file does not leave the institution unable to verify answers.
    """
    connection = CentreConnection.objects.unscoped().filter(institution=institution).first()
    if connection is not None:
        centre_key = _register_with_simulator(
            app_id=connection.app_id,
            app_secret=connection.app_secret,
            public_key_hex=connection.public_key_hex,
            code=connection.fixmedins_code,
            name=connection.fixmedins_name,
        )
        updates: list[str] = []
        if centre_key != connection.centre_public_key_hex:
            connection.centre_public_key_hex = centre_key
            updates.append("centre_public_key_hex")
        if not connection.workstation_app_id:
            connection.workstation_app_id = _workstation_client(
                institution, connection.fixmedins_code
            )
            updates.append("workstation_app_id")
        if updates:
            connection.save(update_fields=[*updates, "updated_at"])
        return connection

    code = fixmedins_code_for(institution)
    app_id = _new_app_id(institution)
    app_secret = secrets.token_hex(16).upper()
    pair = generate_keypair()
    centre_key = _register_with_simulator(
        app_id=app_id,
        app_secret=app_secret,
        public_key_hex=pair.public_hex,
        code=code,
        name=institution.name,
    )
    workstation_app_id = _workstation_client(institution, code)
    with transaction.atomic():
        connection = CentreConnection.objects.create(
            institution=institution,
            fixmedins_code=code,
            fixmedins_name=institution.name,
            app_id=app_id,
            app_secret=app_secret,
            private_key_hex=pair.private_hex,
            public_key_hex=pair.public_hex,
            centre_public_key_hex=centre_key,
            workstation_app_id=workstation_app_id,
            requires_pharmacist_review=True,
            is_enabled=True,
        )
        record_event(
            action="erx.connection.create",
            object_type="erx.centreconnection",
            object_id=str(connection.pk),
            institution_id=institution.pk,
            detail={
                "fixmedins_code": code,
                "app_id": app_id,
                "workstation_app_id": workstation_app_id,
                "source": "demo",
            },
        )
    return connection


def load_connections(scale: Scale, advance: Callable[[int], None]) -> None:
    for institution in _institutions(scale):
        ensure_connection(institution)
        advance(1)


# -- the simulated centre --------------------------------------------------------------------


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def erx_centre_simulator(*, review_delay_seconds: float = 0.2) -> Iterator[str]:
    """A centre simulator serving this data directory's key store for the duration.

    On the configured local port when it is free; when something already listens there
    (``make run`` of this or another checkout), on a free port of its own with the
    settings pointed at it meanwhile, so the demo never talks to a centre that does not
    know its institutions. A remote (real) centre URL is used as it is.
    """
    url = str(settings.ERX_CENTRE["api_base_url"]).rstrip("/")
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    if host not in LOCAL_HOSTS or port is None:
        yield url
        return
    from django.test.utils import override_settings

    from jingan.integrations.erx_centre.simulator import ErxCentreSimulator

    simulator = ErxCentreSimulator(
        backend=get_sm2_backend(),
        state_path=Path(str(settings.ERX_CENTRE["simulator_state"])),
        review_delay_seconds=review_delay_seconds,
    )
    taken = _listening(host, port)
    own_url = simulator.start(host, 0 if taken else port)
    try:
        with override_settings(ERX_CENTRE={**settings.ERX_CENTRE, "api_base_url": own_url}):
            yield own_url
    finally:
        simulator.stop()


def _system_actor() -> Any:
    from jingan.prescriptions.erx import services

    return services.SYSTEM_ACTOR


def sync_catalogue(scale: Scale, advance: Callable[[int], None]) -> None:
    """Sync the catalogue once, then test every institution's connection (RX-C1 board)."""
    from jingan.prescriptions.erx import services

    connections = list(CentreConnection.objects.unscoped().filter(is_enabled=True))
    if not connections:
        advance(1)
        return
    with erx_centre_simulator():
        services.sync_drug_catalogue(
            actor=_system_actor(), institution_id=connections[0].institution_id
        )
        for connection in connections:
            services.test_connection(
                actor=_system_actor(), institution_id=connection.institution_id
            )
    advance(1)


# -- prescriptions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    """What a doctor writes for one visit: diagnosis, department and drug lines."""

    department_code: str
    department_name: str
    diagnoses: tuple[tuple[str, str], ...]  # (ICD-10, name), the first is the main one
    # (generic name, quantity, single dose, route code, frequency code, days)
    items: tuple[tuple[str, str, str, str, str, int], ...]


ORDERS: tuple[_Order, ...] = (
    _Order(
        "A03.01",
        "心血管内科门诊",
        (("I10.X00", "原发性高血压"),),
        (
            ("苯磺酸氨氯地平片", "4", "5mg", "01", "qd", 28),
            ("阿托伐他汀钙片", "4", "20mg", "01", "qn", 28),
        ),
    ),
    _Order(
        "A03.04",
        "内分泌科门诊",
        (("E11.900", "2型糖尿病"), ("I10.X00", "原发性高血压")),
        (
            ("盐酸二甲双胍片", "6", "0.5g", "01", "tid", 20),
            ("缬沙坦胶囊", "4", "80mg", "01", "qd", 28),
        ),
    ),
    _Order(
        "A03.03",
        "消化内科门诊",
        (("K29.500", "慢性胃炎"),),
        (
            ("雷贝拉唑钠肠溶片", "2", "10mg", "01", "qd", 14),
            ("铝碳酸镁咀嚼片", "2", "1g", "01", "tid", 7),
        ),
    ),
    _Order(
        "A03.01",
        "心血管内科门诊",
        (("I25.103", "冠状动脉粥样硬化性心脏病"),),
        (
            ("阿司匹林肠溶片", "1", "100mg", "01", "qd", 30),
            ("琥珀酸美托洛尔缓释片", "4", "47.5mg", "01", "qd", 28),
        ),
    ),
    _Order(
        "A02.01",
        "全科门诊",
        (("J02.900", "急性咽炎"),),
        (("阿莫西林胶囊", "2", "0.5g", "01", "tid", 5),),
    ),
    _Order(
        "A03.04",
        "内分泌科门诊",
        (("E11.900", "2型糖尿病"),),
        (("阿卡波糖片", "3", "50mg", "01", "tid", 30),),
    ),
)

# (final state, how many) dealt out over institutions and residents in turn.
PLAN: tuple[str, ...] = (
    "approved",
    "dispensed",
    "revoked",
    "draft",
    "pending_review",
    "approved",
)
DOCTOR_NAMES = ("陈立新", "周慧敏", "孙建华", "吴晓燕", "郑国强", "冯丽娟")
PRESCRIPTION_INSTITUTIONS = 3


def _residents() -> list[Any]:
    model = apps.get_model("residents", "Resident")
    return [
        resident
        for resident in model.objects.filter(is_verified=True)
        .exclude(openid__startswith="demo-archive-patient-")
        .order_by("pk")
        if resident.id_number and resident.name
    ]


def _staff(institution: Any, suffix: str) -> Any | None:
    model = apps.get_model("accounts", "User")
    return model.objects.filter(username=f"jg{institution.code[-3:]}-{suffix}").first()


def _age(birth: datetime.date, today: datetime.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _draft(institution: Any, resident: Any, order: _Order, *, number: int, doctor: str) -> Any:
    from jingan.prescriptions.erx.schemas import DiagnosisIn, ItemIn, PrescriptionDraft

    facts = check_id_number(resident.id_number)
    codes = {
        entry.generic_name: entry.med_list_codg
        for entry in DrugCatalogueEntry.objects.filter(
            generic_name__in=[item[0] for item in order.items], is_listed=True
        )
    }
    missing = [item[0] for item in order.items if item[0] not in codes]
    if missing:
        raise RuntimeError(
            f"药品目录中没有 {'、'.join(missing)}：请先运行 erx-catalogue 步骤同步药品目录"
        )
    return PrescriptionDraft(
        hosp_rxno=f"DEMO{institution.code[-3:]}{number:04d}",
        patient_name=resident.name,
        patient_id_number=resident.id_number,
        patient_gender="1" if facts.sex == "M" else "2",
        patient_age=_age(facts.birth_date, timezone.localdate()),
        psn_no=f"3100{facts.id_number[6:14]}{facts.id_number[-2:]}",
        insuplc_admdvs="310106",
        mdtrt_id=f"MZ{institution.code}{number:06d}",
        department_code=order.department_code,
        department_name=order.department_name,
        doctor_code=f"D{institution.code}{number % 7 + 1:02d}",
        doctor_name=doctor,
        doctor_title="主治医师",
        diagnoses=[
            DiagnosisIn(code=code, name=name, main=index == 0)
            for index, (code, name) in enumerate(order.diagnoses)
        ],
        rx_type_code="1",
        valid_days=3,
        items=[
            ItemIn(
                med_list_codg=codes[name],
                quantity=Decimal(quantity),
                single_dose=dose,
                route_code=route,
                frequency_code=frequency,
                days=days,
            )
            for name, quantity, dose, route, frequency, days in order.items
        ],
    )


def _wait_for_centre(actor: Any, prescription_id: int, statuses: set[str]) -> Prescription:
    """Poll the centre until its (simulated) review is done, as the console's refresh does."""
    from jingan.prescriptions.erx import services

    deadline = time.monotonic() + CENTRE_REVIEW_WAIT_SECONDS
    while True:
        prescription = services.refresh_from_centre(actor=actor, prescription_id=prescription_id)
        if prescription.status in statuses or time.monotonic() > deadline:
            return prescription
        time.sleep(0.3)


def _pharmacy(base_url: str, hi_rxno: str, stage: str) -> None:
    with OutboundClient(system="erx-centre-simulator", base_url=base_url, retries=0) as client:
        client.request("POST", "/simulator/pharmacy", params={"hiRxno": hi_rxno, "stage": stage})


def _drive(final: str, *, prescription_id: int, doctor: Any, pharmacist: Any, url: str) -> None:
    """Take a saved draft through the real services to ``final``."""
    from jingan.prescriptions.erx import services

    if final == "draft":
        return
    doctor_actor = services.staff_actor(doctor)
    services.preverify(actor=doctor_actor, prescription_id=prescription_id)
    services.submit_for_review(actor=doctor_actor, prescription_id=prescription_id)
    if final == "pending_review":
        return
    services.review_by_pharmacist(
        actor=services.staff_actor(pharmacist),
        prescription_id=prescription_id,
        approve=True,
        opinion="用药合理，剂量与疗程适宜",
    )
    services.sign(actor=doctor_actor, prescription_id=prescription_id)
    services.upload(actor=doctor_actor, prescription_id=prescription_id)
    if final == "revoked":
        services.revoke(
            actor=doctor_actor, prescription_id=prescription_id, reason="患者要求调整用药"
        )
        return
    prescription = _wait_for_centre(
        doctor_actor,
        prescription_id,
        {PrescriptionStatus.CENTRE_APPROVED, PrescriptionStatus.CENTRE_REJECTED},
    )
    if final != "dispensed" or prescription.status != PrescriptionStatus.CENTRE_APPROVED:
        return
    _pharmacy(url, prescription.hi_rxno, "start")
    _pharmacy(url, prescription.hi_rxno, "complete")
    _wait_for_centre(doctor_actor, prescription_id, {PrescriptionStatus.DISPENSED})


def load_prescriptions(scale: Scale, advance: Callable[[int], None]) -> None:
    from jingan.prescriptions.erx import services

    institutions = [
        institution
        for institution in _institutions(scale)[:PRESCRIPTION_INSTITUTIONS]
        if CentreConnection.objects.unscoped().filter(institution=institution).exists()
    ]
    residents = _residents()
    if not institutions or not residents:
        advance(len(PLAN))
        return
    with erx_centre_simulator() as url:
        for number, final in enumerate(PLAN, start=1):
            institution = institutions[number % len(institutions)]
            resident = residents[number % len(residents)]
            doctor = _staff(institution, "doctor")
            pharmacist = _staff(institution, "pharmacist")
            draft = _draft(
                institution,
                resident,
                ORDERS[number % len(ORDERS)],
                number=number,
                doctor=DOCTOR_NAMES[number % len(DOCTOR_NAMES)],
            )
            exists = (
                Prescription.objects.unscoped()
                .filter(institution=institution, hosp_rxno=draft.hosp_rxno)
                .exists()
            )
            if exists or doctor is None or pharmacist is None:
                advance(1)
                continue
            prescription = services.save_draft(
                actor=services.staff_actor(doctor), institution_id=institution.pk, draft=draft
            )
            try:
                _drive(
                    final,
                    prescription_id=prescription.pk,
                    doctor=doctor,
                    pharmacist=pharmacist,
                    url=url,
                )
            except (ErxError, OutboundError) as error:
                # The prescription stays where it stopped; its timeline and the call
                # journal say why, which is itself something the console shows.
                logger.warning("demo prescription %s stopped: %s", draft.hosp_rxno, error)
            advance(1)


STEPS = [
    DemoStep(
        "erx-connections",
        "医保电子处方中心接入（各机构）",
        lambda scale: len(_institutions(scale)),
        load_connections,
    ),
    DemoStep(
        "erx-catalogue", "同步处方流转药品目录并测试各机构连接", lambda scale: 1, sync_catalogue
    ),
    DemoStep(
        "erx-prescriptions",
        "演示医保电子处方（各状态）",
        lambda scale: len(PLAN),
        load_prescriptions,
    ),
]

# The doctor and pharmacist accounts (jgNNN-doctor, jgNNN-pharmacist) are core's.
ACCOUNTS: list[Any] = []
