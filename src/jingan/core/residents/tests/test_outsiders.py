from __future__ import annotations

import pytest
from django.test import Client

from jingan.core.residents.demo import STEPS, VERIFIED_COUNT
from jingan.core.residents.models import Resident

pytestmark = pytest.mark.django_db

OTHER = ("李建国", "310108195207081074")


@pytest.mark.parametrize("path", ["/h5/verify/", "/h5/me/profile/"])
def test_anonymous_visitors_are_sent_to_wechat_sign_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/h5/login/?next={path.replace('/', '%2F')}"


def test_anonymous_cannot_submit_a_verification() -> None:
    response = Client().post("/h5/verify/", {"name": "王秀英", "id_number": "310106194503121002"})
    assert response.status_code == 302
    assert Resident.objects.count() == 0


def test_unverified_residents_are_sent_to_verification(make_resident, resident_client) -> None:
    response = resident_client(make_resident(verified=False)).get("/h5/me/profile/")
    assert response["Location"] == "/h5/verify/?next=%2Fh5%2Fme%2Fprofile%2F"


@pytest.mark.req("SEC-2")
def test_profile_shows_only_the_own_data_masked(make_resident, resident_client) -> None:
    mine = make_resident(mobile="13821650000")
    theirs = make_resident(name=OTHER[0], id_number=OTHER[1], mobile="13921654093")
    page = resident_client(mine).get("/h5/me/profile/").content.decode()
    assert "王**" in page
    assert "310***********1002" in page
    assert "138****0000" in page
    for plaintext in ("王秀英", "310106194503121002", "13821650000"):
        assert plaintext not in page
    for other in ("李**", "310***********1074", "139****4093", OTHER[1]):
        assert other not in page
    assert theirs.pk != mine.pk


def test_a_staff_session_is_not_a_resident_session(make_staff, client_for) -> None:
    staff = make_staff("clerk")
    response = client_for(staff).get("/h5/me/profile/")
    assert response["Location"].startswith("/h5/login/")


def test_a_session_for_a_deleted_resident_is_anonymous(make_resident, resident_client) -> None:
    resident = make_resident()
    client = resident_client(resident)
    resident.delete()
    assert client.get("/h5/me/profile/")["Location"].startswith("/h5/login/")


def test_me_page_shows_the_state_of_the_resident(make_resident, resident_client) -> None:
    anonymous = Client().get("/h5/me/").content.decode()
    assert "微信授权登录" in anonymous
    pending = (
        resident_client(make_resident(verified=False, nickname="小王"))
        .get("/h5/me/")
        .content.decode()
    )
    assert "去实名认证" in pending
    assert "小王" in pending
    verified = resident_client(make_resident()).get("/h5/me/").content.decode()
    assert "王**" in verified
    assert "王秀英" not in verified


def test_demo_residents_load_once(db: None) -> None:
    [step] = STEPS
    advanced: list[int] = []
    step.run("tiny", advanced.append)
    step.run("tiny", advanced.append)
    assert Resident.objects.count() == step.size("tiny") == 20
    assert Resident.objects.filter(is_verified=True).count() == VERIFIED_COUNT
    assert sum(advanced) == 40
    first = Resident.objects.get(nickname="秀英阿姨")
    assert (first.name, first.id_number, first.mobile) == (
        "王秀英",
        "310106194503121002",
        "13821650000",
    )
