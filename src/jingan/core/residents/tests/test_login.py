from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from jingan.core.audit.models import AuditEntry
from jingan.core.residents.auth import SESSION_KEY
from jingan.core.residents.models import Resident
from jingan.testing.residents import Simulators

from .helpers import wechat_sign_in

pytestmark = pytest.mark.django_db


@pytest.mark.req("SEC-2")
def test_new_wechat_user_signs_in_and_is_sent_to_verification(simulators: Simulators) -> None:
    user = simulators.wechat.add_user("新邻居")
    client = Client()
    callback = wechat_sign_in(client, simulators, openid=user.openid)
    before = client.session.session_key
    response = client.get(callback)
    assert response.status_code == 302
    assert response["Location"] == "/h5/verify/?next=%2Fh5%2Fme%2Fprofile%2F"
    resident = Resident.objects.get(openid=user.openid)
    assert (resident.nickname, resident.is_verified, resident.name) == ("新邻居", False, "")
    assert client.session[SESSION_KEY] == resident.pk
    assert client.session.session_key != before  # rotated on sign-in
    entry = AuditEntry.objects.get(action="resident.login")
    assert (entry.resident_id, entry.outcome) == (resident.pk, "success")
    assert json.loads(entry.detail) == {"channel": "wechat", "new": True}


def test_verified_resident_returns_to_the_page_asked_for(
    simulators: Simulators, make_resident
) -> None:
    resident = make_resident(openid=simulators.wechat.add_user("秀英阿姨").openid)
    client = Client()
    response = client.get(
        wechat_sign_in(client, simulators, openid=resident.openid, next_url="/h5/me/")
    )
    assert response["Location"] == "/h5/me/"
    assert Resident.objects.count() == 1


def test_the_authorize_redirect_carries_a_session_bound_state(simulators: Simulators) -> None:
    client = Client()
    response = client.get("/h5/login/")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["redirect_uri"] == ["http://testserver/h5/login/callback/"]
    assert query["scope"] == ["snsapi_userinfo"]
    assert query["state"] == [client.session["_resident_oauth"]["state"]]


def test_forged_state_signs_nobody_in(simulators: Simulators) -> None:
    user = simulators.wechat.add_user("受害者")
    victim = Client()
    attacker = Client()
    callback = wechat_sign_in(attacker, simulators, openid=user.openid)
    # The attacker hands their callback link to the victim (login CSRF).
    response = victim.get(callback)
    assert response.status_code == 400
    assert "登录请求已失效" in response.content.decode()
    assert SESSION_KEY not in victim.session
    assert Resident.objects.count() == 0


def test_state_is_single_use(simulators: Simulators) -> None:
    user = simulators.wechat.add_user("芳芳")
    client = Client()
    callback = wechat_sign_in(client, simulators, openid=user.openid)
    assert client.get(callback).status_code == 302
    client.post("/h5/logout/")
    assert client.get(callback).status_code == 400


def test_refused_authorisation_explains_itself(simulators: Simulators) -> None:
    client = Client()
    start = client.get("/h5/login/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get("/h5/login/callback/", {"state": state})
    assert response.status_code == 200
    assert "您已取消微信授权" in response.content.decode()
    assert Resident.objects.count() == 0


def test_a_bad_code_is_a_clear_failure(simulators: Simulators) -> None:
    client = Client()
    start = client.get("/h5/login/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get("/h5/login/callback/", {"state": state, "code": "forged"})
    assert response.status_code == 400
    assert "微信授权已过期或无效" in response.content.decode()
    assert Resident.objects.count() == 0


def test_open_redirects_are_refused(simulators: Simulators) -> None:
    client = Client()
    client.get("/h5/login/", {"next": "https://evil.example/"})
    assert client.session["_resident_oauth"]["next"] == "/h5/me/profile/"


def test_logout_ends_the_resident_session(make_resident, resident_client) -> None:
    resident = make_resident()
    client = resident_client(resident)
    assert client.get("/h5/me/profile/").status_code == 200
    assert client.get("/h5/logout/").status_code == 405
    response = client.post("/h5/logout/")
    assert response["Location"] == "/h5/me/"
    assert client.get("/h5/me/profile/")["Location"] == "/h5/login/?next=%2Fh5%2Fme%2Fprofile%2F"
    assert AuditEntry.objects.filter(action="resident.logout", resident_id=resident.pk).count() == 1
