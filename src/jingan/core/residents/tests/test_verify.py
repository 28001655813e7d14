from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from jingan.core.audit.models import AuditEntry
from jingan.core.crypto.fields import blind_index
from jingan.core.residents.models import IdentityVerification, Resident
from jingan.core.residents.services import DAILY_FAILURE_LIMIT
from jingan.integrations.regional.simulator import demo_face, population
from jingan.testing.residents import Simulators

pytestmark = pytest.mark.django_db

PERSON = population()[20]  # in the register, no demo WeChat user
OTHER_FACE = b"\x89PNG\r\n\x1a\n" + b"someone else" * 20


def _submit(
    client, *, name=PERSON.name, id_number=PERSON.id_number, photo=None, mobile="13912345678"
):
    upload = SimpleUploadedFile("face.png", demo_face() if photo is None else photo, "image/png")
    return client.post(
        "/h5/verify/",
        {"name": name, "id_number": id_number, "mobile": mobile, "photo": upload},
    )


@pytest.mark.req("SEC-2")
def test_matching_face_verifies_the_resident(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident(verified=False)
    client = resident_client(resident)
    response = _submit(client)
    assert response.status_code == 302
    assert response["Location"] == "/h5/me/profile/"
    resident.refresh_from_db()
    assert (resident.is_verified, resident.name, resident.id_number, resident.mobile) == (
        True,
        PERSON.name,
        PERSON.id_number,
        "13912345678",
    )
    assert (resident.verification_score, resident.sex) == (0.93, "F")
    assert str(resident.birth_date) == "1968-10-14"
    assert resident.verification_reference.startswith("RHP")
    [attempt] = IdentityVerification.objects.all()
    assert (attempt.outcome, attempt.score) == ("matched", 0.93)
    entry = AuditEntry.objects.get(action="resident.identity.verify")
    assert (entry.outcome, entry.resident_id) == ("success", resident.pk)
    assert PERSON.id_number not in entry.detail
    found = Resident.objects.get(
        id_number_index=blind_index(Resident, "id_number_index", PERSON.id_number)
    )
    assert found.pk == resident.pk


def test_another_face_is_refused_and_audited(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident(verified=False)
    response = _submit(resident_client(resident), photo=OTHER_FACE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "人脸比对未通过" in page
    assert "今日还可尝试 4 次" in page
    resident.refresh_from_db()
    assert (resident.is_verified, resident.name, resident.id_number) == (False, "", "")
    [attempt] = IdentityVerification.objects.all()
    assert attempt.outcome == "not_matched"
    assert attempt.score < 0.6
    entry = AuditEntry.objects.get(action="resident.identity.verify")
    assert entry.outcome == "failure"
    assert json.loads(entry.detail)["reason"] == "face_not_matched"


@pytest.mark.parametrize(
    ("name", "id_number", "message"),
    [
        ("李四", PERSON.id_number, "姓名与身份证号不一致，请核对后重试"),
        ("张三", "11010519491231002X", "未在人口信息库中找到该身份证号，请核对后重试"),
    ],
)
def test_platform_refusals_are_explained(
    simulators: Simulators, make_resident, resident_client, name: str, id_number: str, message: str
) -> None:
    resident = make_resident(verified=False)
    response = _submit(resident_client(resident), name=name, id_number=id_number)
    assert message in response.content.decode()
    assert IdentityVerification.objects.get().outcome == "rejected"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id_number", "310106194503121003", "身份证号校验位不正确"),
        ("id_number", "310106194502301001", "出生日期无效"),
        ("id_number", "999999194503121004", "地区码不存在"),
        ("name", "", "请填写姓名"),
        ("mobile", "12345", "请填写 11 位手机号，或留空"),
    ],
)
def test_form_errors_are_specific_and_reach_nobody(
    simulators: Simulators, make_resident, resident_client, field: str, value: str, message: str
) -> None:
    resident = make_resident(verified=False)
    response = _submit(resident_client(resident), **{field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert simulators.regional.received == 0
    assert IdentityVerification.objects.count() == 0


def test_a_non_image_photo_is_refused_by_the_form(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident(verified=False)
    response = _submit(resident_client(resident), photo=b"GIF89a.......")
    assert response.status_code == 400
    assert "请上传 JPG 或 PNG 格式的照片" in response.content.decode()


def test_failures_are_limited_per_day(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident(verified=False)
    client = resident_client(resident)
    for _ in range(DAILY_FAILURE_LIMIT):
        _submit(client, photo=OTHER_FACE)
    assert simulators.regional.received == DAILY_FAILURE_LIMIT
    response = _submit(client)  # even the right face is not tried any more today
    assert "今日实名认证失败已达 5 次，请明天再试" in response.content.decode()
    assert simulators.regional.received == DAILY_FAILURE_LIMIT
    resident.refresh_from_db()
    assert resident.is_verified is False
    denied = AuditEntry.objects.get(action="resident.identity.verify", outcome="denied")
    assert json.loads(denied.detail) == {"reason": "daily_limit", "limit": 5}


def test_an_outage_does_not_use_up_attempts(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident(verified=False)
    client = resident_client(resident)
    simulators.regional.inject_faults(DAILY_FAILURE_LIMIT + 1)
    for _ in range(DAILY_FAILURE_LIMIT + 1):
        response = _submit(client)
    assert "实名认证服务暂时不可用" in response.content.decode()
    assert _submit(client).status_code == 302
    resident.refresh_from_db()
    assert resident.is_verified is True


def test_an_id_number_bound_to_another_wechat_is_refused(
    simulators: Simulators, make_resident, resident_client
) -> None:
    make_resident(name=PERSON.name, id_number=PERSON.id_number)
    newcomer = make_resident(verified=False)
    response = _submit(resident_client(newcomer))
    assert "该身份证号已绑定其他微信账号" in response.content.decode()
    assert simulators.regional.received == 0
    newcomer.refresh_from_db()
    assert newcomer.is_verified is False
    assert IdentityVerification.objects.get().outcome == "conflict"


def test_a_verified_resident_is_not_verified_again(
    simulators: Simulators, make_resident, resident_client
) -> None:
    resident = make_resident()
    response = resident_client(resident).get("/h5/verify/")
    assert response["Location"] == "/h5/me/profile/"


def test_the_demo_rule_is_explained_in_demo_mode(
    simulators: Simulators, make_resident, resident_client
) -> None:
    page = resident_client(make_resident(verified=False)).get("/h5/verify/").content.decode()
    assert "演示人脸照片" in page
    assert "/static/regional/demo-face.png" in page
    assert f"{PERSON.name} {PERSON.id_number}" in page


@pytest.mark.req("SEC-2")
def test_no_plaintext_personal_data_in_the_database(make_resident) -> None:
    resident = make_resident(name="王秀英", id_number="310106194503121002", mobile="13821650000")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM residents_resident WHERE id = %s", [resident.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    for plaintext in ("310106194503121002", "13821650000", "王秀英"):
        assert plaintext not in row
    assert Resident.objects.get(pk=resident.pk).id_number == "310106194503121002"
