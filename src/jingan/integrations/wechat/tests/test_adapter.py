from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jingan.integrations.wechat import get_wechat, port
from jingan.integrations.wechat.adapter import WechatpyAdapter
from jingan.integrations.wechat.port import WeChatConfig, WeChatError
from jingan.integrations.wechat.simulator import WeChatSimulator
from jingan.testing.servers import free_port

from .conftest import APP_ID


def _sign_in(
    simulator: WeChatSimulator, nickname: str, scope: str = "snsapi_userinfo"
) -> tuple[str, str]:
    """Drive the authorisation page as a browser would; return (openid, code)."""
    adapter = WechatpyAdapter(WeChatConfig(APP_ID, "unused", simulator.url, simulator.url))
    url = adapter.authorize_url(
        redirect_uri="http://127.0.0.1:1/h5/login/callback/?a=1", state="s1", scope=scope
    )
    page = httpx.get(url.split("#")[0])
    assert page.status_code == 200
    assert "健康静安" in page.text
    user = simulator.add_user(nickname)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = httpx.post(
        f"{simulator.url}/connect/oauth2/authorize",
        data={**query, "user": user.openid, "action": "allow"},
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert location.path == "/h5/login/callback/"
    params = parse_qs(location.query)
    assert params["a"] == ["1"]
    assert params["state"] == ["s1"]
    return user.openid, params["code"][0]


def test_authorize_url_points_at_the_configured_platform(config: WeChatConfig) -> None:
    url = get_wechat(config).authorize_url(redirect_uri="http://h5.example/cb?x=1", state="abc")
    assert url == (
        f"{config.oauth_base_url}/connect/oauth2/authorize?appid={APP_ID}"
        "&redirect_uri=http%3A%2F%2Fh5.example%2Fcb%3Fx%3D1&response_type=code"
        "&scope=snsapi_userinfo&state=abc#wechat_redirect"
    )


def test_exchange_code_returns_the_identity_with_nickname(
    simulator: WeChatSimulator, config: WeChatConfig
) -> None:
    openid, code = _sign_in(simulator, "秀英阿姨")
    identity = get_wechat(config).exchange_code(code)
    assert identity == port.WeChatIdentity(openid=openid, unionid=None, nickname="秀英阿姨")


def test_base_scope_yields_the_openid_only(
    simulator: WeChatSimulator, config: WeChatConfig
) -> None:
    openid, code = _sign_in(simulator, "老李", scope="snsapi_base")
    assert get_wechat(config).exchange_code(code) == port.WeChatIdentity(openid, None, None)


def test_a_code_works_once(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    _, code = _sign_in(simulator, "芳芳")
    adapter = get_wechat(config)
    adapter.exchange_code(code)
    with pytest.raises(WeChatError) as raised:
        adapter.exchange_code(code)
    assert (raised.value.errcode, raised.value.retryable) == (port.CODE_BEEN_USED, False)


def test_unknown_code_is_40029(config: WeChatConfig) -> None:
    with pytest.raises(WeChatError) as raised:
        get_wechat(config).exchange_code("not-a-code")
    assert raised.value.errcode == port.INVALID_CODE
    assert raised.value.errmsg.startswith("invalid code")
    assert raised.value.retryable is False


def test_expired_code_is_40029(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    now = [1_000_000.0]
    simulator.clock = lambda: now[0]
    user = simulator.add_user("周周")
    code = simulator.issue_code(user.openid)
    now[0] += 301
    with pytest.raises(WeChatError) as raised:
        get_wechat(config).exchange_code(code)
    assert raised.value.errcode == port.INVALID_CODE


def test_wrong_secret_is_refused(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    user = simulator.add_user("阿伟")
    code = simulator.issue_code(user.openid)
    wrong = WeChatConfig(APP_ID, "wrong", config.api_base_url, config.oauth_base_url)
    with pytest.raises(WeChatError) as raised:
        get_wechat(wrong).exchange_code(code)
    assert raised.value.errcode == port.INVALID_APPSECRET
    with pytest.raises(WeChatError) as raised:
        get_wechat(wrong).send_template_message(openid=user.openid, template_id="T1", data={})
    assert raised.value.errcode == port.INVALID_APPSECRET
    assert simulator.messages() == []


def test_template_message_arrives_on_the_phone(
    simulator: WeChatSimulator, config: WeChatConfig
) -> None:
    user = simulator.add_user("美玲")
    msgid = get_wechat(config).send_template_message(
        openid=user.openid,
        template_id="TPL-COPY-APPROVED",
        data={
            "first": "您的病案复印申请已通过",
            "keyword1": "静安区中心医院",
            "remark": "请留意快递",
        },
        url="http://127.0.0.1:8000/h5/",
    )
    [message] = simulator.messages(user.openid)
    assert str(message.msgid) == msgid
    assert (message.kind, message.template_id, message.link) == (
        "template",
        "TPL-COPY-APPROVED",
        "http://127.0.0.1:8000/h5/",
    )
    assert message.data == {
        "first": "您的病案复印申请已通过",
        "keyword1": "静安区中心医院",
        "remark": "请留意快递",
    }
    listing = httpx.get(f"{simulator.url}/simulator/messages", params={"format": "json"}).json()
    assert [m["msgid"] for m in listing["messages"]] == [message.msgid]
    page = httpx.get(f"{simulator.url}/simulator/messages")
    assert "您的病案复印申请已通过" in page.text
    assert "美玲" in page.text


def test_subscribe_message_is_accepted(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    user = simulator.add_user("志强")
    get_wechat(config).send_subscribe_message(
        openid=user.openid, template_id="SUB-1", data={"thing1": "就诊提醒"}, page="/h5/"
    )
    [message] = simulator.messages()
    assert (message.kind, message.data, message.link) == (
        "subscribe",
        {"thing1": "就诊提醒"},
        "/h5/",
    )


def test_newest_message_is_listed_first(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    user = simulator.add_user("丽华")
    adapter = get_wechat(config)
    first = adapter.send_template_message(openid=user.openid, template_id="T", data={"first": "一"})
    second = adapter.send_template_message(
        openid=user.openid, template_id="T", data={"first": "二"}
    )
    assert [str(m.msgid) for m in simulator.messages()] == [second, first]


def test_unknown_openid_is_40003(simulator: WeChatSimulator, config: WeChatConfig) -> None:
    with pytest.raises(WeChatError) as raised:
        get_wechat(config).send_template_message(openid="o-nobody", template_id="T", data={})
    assert (raised.value.errcode, raised.value.retryable) == (port.INVALID_OPENID, False)


def test_system_busy_is_retryable_and_then_clears(
    simulator: WeChatSimulator, config: WeChatConfig
) -> None:
    user = simulator.add_user("国平")
    answer = httpx.post(
        f"{simulator.url}/simulator/faults",
        json={"count": 2, "errcode": -1, "errmsg": "system error"},
    ).json()
    assert answer["faults"] == {"count": 2, "errcode": -1, "errmsg": "system error"}
    adapter = get_wechat(config)
    for _ in range(2):
        with pytest.raises(WeChatError) as raised:
            adapter.send_template_message(openid=user.openid, template_id="T", data={})
        assert (raised.value.errcode, raised.value.retryable) == (port.SYSTEM_BUSY, True)
    adapter.send_template_message(openid=user.openid, template_id="T", data={})
    assert len(simulator.messages()) == 1


def test_expired_access_token_is_renewed_transparently(
    simulator: WeChatSimulator, config: WeChatConfig
) -> None:
    user = simulator.add_user("海燕")
    adapter = get_wechat(config)
    adapter.send_template_message(openid=user.openid, template_id="T", data={})
    httpx.post(f"{simulator.url}/simulator/faults", json={"expire_tokens": True})
    adapter.send_template_message(openid=user.openid, template_id="T", data={})
    assert len(simulator.messages()) == 2


def test_expired_token_answers_42001_on_the_wire(simulator: WeChatSimulator) -> None:
    token = httpx.get(
        f"{simulator.url}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": APP_ID, "secret": simulator.app_secret},
    ).json()
    assert token["expires_in"] == 7200
    simulator.expire_access_tokens()
    send = f"{simulator.url}/cgi-bin/message/template/send"
    expired = httpx.post(send, params={"access_token": token["access_token"]}, json={}).json()
    invalid = httpx.post(send, params={"access_token": "forged"}, json={}).json()
    assert expired["errcode"] == port.ACCESS_TOKEN_EXPIRED
    assert invalid["errcode"] == port.INVALID_CREDENTIAL


def test_unreachable_platform_is_a_retryable_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    adapter = WechatpyAdapter(WeChatConfig(APP_ID, "s", dead, dead, timeout_seconds=1.0))
    with pytest.raises(WeChatError) as raised:
        adapter.send_template_message(openid="o1", template_id="T", data={})
    assert (raised.value.errcode, raised.value.retryable) == (port.TRANSPORT_FAILURE, True)
    with pytest.raises(WeChatError) as raised:
        adapter.exchange_code("c")
    assert raised.value.retryable is True


def test_user_refusal_returns_without_a_code(simulator: WeChatSimulator) -> None:
    answer = httpx.post(
        f"{simulator.url}/connect/oauth2/authorize",
        data={
            "appid": APP_ID,
            "redirect_uri": "http://127.0.0.1:1/cb",
            "response_type": "code",
            "scope": "snsapi_userinfo",
            "state": "s9",
            "action": "deny",
        },
    )
    assert answer.headers["location"] == "http://127.0.0.1:1/cb?state=s9"


def test_new_user_needs_a_nickname(simulator: WeChatSimulator) -> None:
    form = {
        "appid": APP_ID,
        "redirect_uri": "http://127.0.0.1:1/cb",
        "response_type": "code",
        "scope": "snsapi_userinfo",
        "state": "s",
        "action": "allow",
        "user": "__new__",
        "nickname": "",
    }
    refused = httpx.post(f"{simulator.url}/connect/oauth2/authorize", data=form)
    assert refused.status_code == 400
    assert "请填写 1 至 32 个字的微信昵称" in refused.text
    created = httpx.post(
        f"{simulator.url}/connect/oauth2/authorize", data={**form, "nickname": "新邻居"}
    )
    assert created.status_code == 302
    assert [u.nickname for u in simulator.users()] == ["新邻居"]


def test_authorize_page_rejects_a_foreign_appid(simulator: WeChatSimulator) -> None:
    page = httpx.get(
        f"{simulator.url}/connect/oauth2/authorize",
        params={
            "appid": "wxother",
            "redirect_uri": "http://x/",
            "response_type": "code",
            "scope": "snsapi_base",
        },
    )
    assert page.status_code == 400
    assert "appid 参数错误" in page.text
