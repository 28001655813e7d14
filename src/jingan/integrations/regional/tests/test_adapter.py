from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import httpx
import pytest

from jingan.integrations.regional import (
    IdentityError,
    IdentityVerdict,
    RegionalConfig,
    get_identity,
)
from jingan.integrations.regional.simulator import (
    RegionalSimulator,
    demo_face,
    face_score,
    population,
    running_regional_simulator,
)
from jingan.testing.servers import free_port

PERSON = population()[0]
OTHER_IMAGE = b"\x89PNG\r\n\x1a\n" + b"not the demo face" * 10


@pytest.fixture
def simulator() -> Iterator[RegionalSimulator]:
    with running_regional_simulator() as running:
        yield running


@pytest.fixture
def config(simulator: RegionalSimulator) -> RegionalConfig:
    return RegionalConfig(api_base_url=simulator.url, timeout_seconds=2.0)


def test_demo_face_matches_a_registered_person(config: RegionalConfig) -> None:
    verdict = get_identity(config).verify(
        id_number=PERSON.id_number, name=PERSON.name, photo=demo_face()
    )
    assert (verdict.matched, verdict.score) == (True, 0.93)
    assert verdict.reference.startswith("RHP")
    assert len(verdict.reference) == 17


def test_any_other_image_scores_below_the_threshold(config: RegionalConfig) -> None:
    verdict = get_identity(config).verify(
        id_number=PERSON.id_number, name=PERSON.name, photo=OTHER_IMAGE
    )
    assert verdict.matched is False
    assert verdict.score == face_score(OTHER_IMAGE)
    assert 0.2 <= verdict.score < 0.6


def test_jpeg_is_accepted_as_an_image(config: RegionalConfig) -> None:
    verdict = get_identity(config).verify(
        id_number=PERSON.id_number, name=PERSON.name, photo=b"\xff\xd8\xff\xe0" + b"x" * 100
    )
    assert verdict.matched is False


@pytest.mark.parametrize(
    ("id_number", "name", "photo", "code", "message"),
    [
        (PERSON.id_number, "李四", demo_face(), "E1001", "身份证号与姓名不一致"),
        ("11010519491231002X", "张三", demo_face(), "E1002", "人口库中查无此身份证号"),
        ("310106194503121003", PERSON.name, demo_face(), "E1003", "身份证号格式不正确"),
        (PERSON.id_number, PERSON.name, b"GIF89a....", "E2002", "照片不是 JPEG 或 PNG 图像"),
    ],
)
def test_refusals_carry_the_platform_code(
    config: RegionalConfig, id_number: str, name: str, photo: bytes, code: str, message: str
) -> None:
    with pytest.raises(IdentityError) as raised:
        get_identity(config).verify(id_number=id_number, name=name, photo=photo)
    assert (raised.value.code, raised.value.message, raised.value.retryable) == (
        code,
        message,
        False,
    )


def test_wire_format_of_errors(simulator: RegionalSimulator) -> None:
    answer = httpx.post(
        f"{simulator.url}/identity/v1/face-verify",
        json={"id_number": PERSON.id_number, "name": PERSON.name, "photo_base64": "%%%"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"code": "E2001", "message": "照片数据无法解码"}
    incomplete = httpx.post(f"{simulator.url}/identity/v1/face-verify", json={"name": "x"})
    assert incomplete.json()["code"] == "E0001"
    ok = httpx.post(
        f"{simulator.url}/identity/v1/face-verify",
        json={
            "id_number": PERSON.id_number,
            "name": PERSON.name,
            "photo_base64": base64.b64encode(demo_face()).decode(),
        },
    ).json()
    assert (ok["code"], ok["matched"], ok["score"]) == ("0", True, 0.93)


def test_platform_busy_is_retryable(simulator: RegionalSimulator, config: RegionalConfig) -> None:
    httpx.post(f"{simulator.url}/simulator/faults", json={"count": 1, "code": "E9001"})
    with pytest.raises(IdentityError) as raised:
        get_identity(config).verify(id_number=PERSON.id_number, name=PERSON.name, photo=demo_face())
    assert (raised.value.code, raised.value.retryable) == ("E9001", True)
    verdict = get_identity(config).verify(
        id_number=PERSON.id_number, name=PERSON.name, photo=demo_face()
    )
    assert verdict.matched is True


def test_timeout_is_retried_then_reported_retryable(simulator: RegionalSimulator) -> None:
    simulator.set_delay(0.5)
    config = RegionalConfig(api_base_url=simulator.url, timeout_seconds=0.1)
    with pytest.raises(IdentityError) as raised:
        get_identity(config).verify(id_number=PERSON.id_number, name=PERSON.name, photo=demo_face())
    assert (raised.value.code, raised.value.retryable) == ("NETWORK", True)
    # Verifying has no side effect, so a read timeout is retried: three attempts in all.
    assert simulator.received == 3


def test_unreachable_platform_is_retryable() -> None:
    config = RegionalConfig(api_base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=0.5)
    with pytest.raises(IdentityError) as raised:
        get_identity(config).verify(id_number=PERSON.id_number, name=PERSON.name, photo=demo_face())
    assert raised.value.retryable is True


def test_journal_masks_the_id_number_and_leaves_out_the_photo(
    config: RegionalConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="jingan.outbound"):
        get_identity(config).verify(id_number=PERSON.id_number, name=PERSON.name, photo=demo_face())
    [line] = [r.getMessage() for r in caplog.records if r.name == "jingan.outbound"]
    assert PERSON.id_number not in line
    assert "310***********1002" in line
    assert PERSON.name not in line
    assert base64.b64encode(demo_face()).decode()[:40] not in line
    assert "status=200" in line


def test_verdict_type() -> None:
    assert IdentityVerdict(True, 0.93, "R") == IdentityVerdict(
        matched=True, score=0.93, reference="R"
    )
