from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

from jingan.prescriptions.erx import demo
from jingan.prescriptions.erx.models import CentreConnection

INSTITUTIONS = 26


def _institutions() -> list[Any]:
    model = apps.get_model("institutions", "Institution")
    return list(model.objects.unscoped().filter(is_active=True).order_by("code"))


@pytest.fixture
def erx_dirs(settings: Any, tmp_path: Path) -> Path:
    """DATA_DIR and the simulated centre's state file of this test alone."""
    settings.DATA_DIR = tmp_path
    settings.ERX_CENTRE = {
        **settings.ERX_CENTRE,
        "simulator_state": tmp_path / "erx" / "centre-simulator.json",
        "notify_url": "http://127.0.0.1:9/api/v1/erx/centre/notifications",
    }
    return tmp_path


@pytest.fixture
def centre(settings: Any, erx_dirs: Path) -> Iterator[str]:
    """The centre simulator on a free loopback port, reading the demo's state file."""
    from jingan.core.public import get_sm2_backend
    from jingan.integrations.erx_centre.simulator import ErxCentreSimulator

    simulator = ErxCentreSimulator(
        backend=get_sm2_backend(), state_path=erx_dirs / "erx" / "centre-simulator.json"
    )
    url = simulator.start("127.0.0.1", 0)
    settings.ERX_CENTRE = {**settings.ERX_CENTRE, "api_base_url": url}
    try:
        yield url
    finally:
        simulator.stop()


def _load_connections(scale: str = "district") -> list[int]:
    steps: list[int] = []
    demo.load_connections(scale, steps.append)  # type: ignore[arg-type]
    return steps


def _simulator_state(erx_dirs: Path) -> Any:
    from jingan.integrations.erx_centre.simulator import CentreState

    return CentreState.load(erx_dirs / "erx" / "centre-simulator.json")


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_connections_step_configures_all_26_institutions(erx_dirs: Path) -> None:
    steps = _load_connections()

    assert steps == [1] * INSTITUTIONS
    connections = list(CentreConnection.objects.unscoped().select_related("institution"))
    assert len(connections) == INSTITUTIONS
    assert {c.institution_id for c in connections} == {i.pk for i in _institutions()}
    state = _simulator_state(erx_dirs)
    assert len(state.apps) == INSTITUTIONS
    for connection in connections:
        code = connection.institution.code
        assert connection.is_enabled is True
        assert connection.requires_pharmacist_review is True
        assert connection.fixmedins_code == f"H{code}01"
        assert connection.fixmedins_name == connection.institution.name
        assert connection.app_id.startswith(f"{code}ERX")
        assert len(connection.app_id) == 20
        assert len(connection.app_secret) == 32
        assert len(connection.public_key_hex) == 130
        assert connection.public_key_hex.startswith("04")
        assert len(connection.private_key_hex) == 64
        assert connection.centre_public_key_hex == state.centre_public_key_hex
        registered = state.apps[connection.app_id]
        assert registered.app_secret == connection.app_secret
        assert registered.public_key_hex == connection.public_key_hex
        assert registered.fixmedins_code == connection.fixmedins_code
        assert registered.fixmedins_name == connection.institution.name
        assert registered.notify_url == "http://127.0.0.1:9/api/v1/erx/centre/notifications"
    # No two institutions share the sixteen appId characters the data key comes from.
    assert len({c.app_id[:16] for c in connections}) == INSTITUTIONS
    assert connections[0].fixmedins_code == "H31010600101"


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_workstation_clients_and_their_keys_are_kept_private(erx_dirs: Path) -> None:
    _load_connections()

    path = erx_dirs / "erx" / "workstation-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = json.loads(path.read_text("utf-8"))
    assert len(keys) == INSTITUTIONS
    client_model = apps.get_model("crypto", "ApiClient")
    for connection in CentreConnection.objects.unscoped().select_related("institution"):
        entry = keys[connection.institution.code]
        assert entry["app_id"] == connection.workstation_app_id
        assert entry["app_id"] == f"erx-workstation-{connection.institution.code}"
        assert entry["fixmedins_code"] == connection.fixmedins_code
        assert len(entry["private_key_hex"]) == 64
        client = client_model.objects.get(app_id=connection.workstation_app_id)
        assert client.is_active is True
        assert client.institution_id == connection.institution_id


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_connections_step_twice_adds_nothing(erx_dirs: Path) -> None:
    _load_connections()
    before = {
        c.institution_id: (c.app_id, c.app_secret, c.public_key_hex, c.workstation_app_id)
        for c in CentreConnection.objects.unscoped()
    }
    client_count = apps.get_model("crypto", "ApiClient").objects.count()

    _load_connections()

    after = {
        c.institution_id: (c.app_id, c.app_secret, c.public_key_hex, c.workstation_app_id)
        for c in CentreConnection.objects.unscoped()
    }
    assert after == before
    assert apps.get_model("crypto", "ApiClient").objects.count() == client_count
    assert len(_simulator_state(erx_dirs).apps) == INSTITUTIONS


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_tiny_scale_configures_the_first_two_institutions(erx_dirs: Path) -> None:
    assert _load_connections("tiny") == [1, 1]

    codes = sorted(CentreConnection.objects.unscoped().values_list("institution__code", flat=True))
    assert codes == ["310106001", "310106002"]


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_a_lost_simulator_state_is_re_registered_with_the_new_centre_key(
    erx_dirs: Path,
) -> None:
    institution = _institutions()[0]
    first = demo.ensure_connection(institution)
    old_centre_key = first.centre_public_key_hex
    (erx_dirs / "erx" / "centre-simulator.json").unlink()

    again = demo.ensure_connection(institution)

    state = _simulator_state(erx_dirs)
    assert again.pk == first.pk
    assert again.app_id == first.app_id
    assert state.centre_public_key_hex != old_centre_key
    assert again.centre_public_key_hex == state.centre_public_key_hex
    assert CentreConnection.objects.unscoped().get(pk=first.pk).centre_public_key_hex == (
        state.centre_public_key_hex
    )
    assert list(state.apps) == [first.app_id]


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_connection_test_succeeds_for_each_of_the_26_institutions(centre: str) -> None:
    from jingan.prescriptions.erx import services

    _load_connections()

    results = {
        connection.fixmedins_code: services.test_connection(
            actor=services.SYSTEM_ACTOR, institution_id=connection.institution_id
        )
        for connection in CentreConnection.objects.unscoped()
    }

    assert len(results) == INSTITUTIONS
    failed = {code: r.message for code, r in results.items() if not r.ok}
    assert failed == {}


def test_demo_declares_its_steps_and_no_accounts() -> None:
    assert [step.name for step in demo.STEPS] == [
        "erx-connections",
        "erx-catalogue",
        "erx-prescriptions",
    ]
    assert demo.ACCOUNTS == []


def _with_check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


@pytest.mark.req("RX-C1")
@pytest.mark.django_db
def test_prescriptions_step_leaves_every_demo_state_and_runs_once(
    centre: str, make_resident: Any, make_staff: Any
) -> None:
    from jingan.prescriptions.erx.models import Prescription, RevokeOutcome

    make_resident("王秀英", "310106194503121002")
    make_resident("李建军", _with_check_digit("31010619780916301"))
    for institution in _institutions()[:2]:
        number = institution.code[-3:]
        make_staff(f"jg{number}-doctor", roles=("erx_doctor",), institution=institution)
        make_staff(f"jg{number}-pharmacist", roles=("erx_pharmacist",), institution=institution)
    _load_connections("tiny")
    catalogue_steps: list[int] = []
    demo.sync_catalogue("tiny", catalogue_steps.append)
    steps: list[int] = []

    demo.load_prescriptions("tiny", steps.append)

    assert catalogue_steps == [1]
    assert steps == [1] * len(demo.PLAN)
    rows = {
        p.hosp_rxno: p
        for p in Prescription.objects.unscoped().select_related("institution").order_by("pk")
    }
    assert {rxno: p.status for rxno, p in rows.items()} == {
        "DEMO0020001": "centre_approved",
        "DEMO0010002": "dispensed",
        "DEMO0020003": "revoked",
        "DEMO0010004": "draft",
        "DEMO0020005": "pending_review",
        "DEMO0010006": "centre_approved",
    }
    assert rows["DEMO0020003"].revoke_outcome == RevokeOutcome.REVOKED
    assert rows["DEMO0010002"].rx_used_status_code == "02"
    assert rows["DEMO0020001"].hi_rxno != ""
    assert rows["DEMO0020001"].signed_file != b""
    assert rows["DEMO0010004"].hi_rxno == ""
    assert rows["DEMO0010002"].patient_name == "王秀英"
    assert rows["DEMO0020001"].patient_name == "李建军"

    demo.load_prescriptions("tiny", steps.append)

    assert Prescription.objects.unscoped().count() == len(demo.PLAN)
