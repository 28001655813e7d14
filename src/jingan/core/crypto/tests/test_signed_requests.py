"""SM2-signed requests from external systems: who may call, and what a tamperer gets."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from django.test import Client

from jingan.core.audit.models import AuditEntry
from jingan.core.crypto import sm2
from jingan.core.crypto.models import ApiClient, UsedNonce
from jingan.core.crypto.primitives import sm3_hex
from jingan.core.crypto.requests import (
    ApiClientError,
    canonical_query,
    canonical_string,
    create_api_client,
    disable_api_client,
    prune_used_nonces,
    register_api_client,
    sign_request,
)
from jingan.core.crypto.signing_cli import api_client

WHOAMI = "/api/v1/system/whoami"
ECHO = "/api/v1/system/echo"

pytestmark = [pytest.mark.req("CR-1"), pytest.mark.req("CR-2")]


@pytest.fixture
def his(db: None) -> tuple[ApiClient, str]:
    return create_api_client(actor=None, app_id="his-ruijin", name="瑞金医院 HIS", institution_id=7)


def _get(client: Client, path: str, headers: dict[str, str], query: str = "") -> Any:
    return client.get(path + (f"?{query}" if query else ""), headers=headers)


def _post(client: Client, path: str, headers: dict[str, str], body: bytes) -> Any:
    return client.post(path, data=body, content_type="application/json", headers=headers)


def _refusal(response: Any) -> dict[str, str]:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'SM2-Signature realm="jingan"'
    return json.loads(response.content)


def test_canonical_form_sorts_and_encodes_the_query() -> None:
    assert canonical_query("b=2&a=%E9%9D%99 安&a=1&empty=") == (
        "a=%E9%9D%99%20%E5%AE%89&a=1&b=2&empty="
    )
    assert canonical_query({"z": ["2", "1"], "k": 3}) == "k=3&z=1&z=2"
    assert canonical_query(None) == ""
    text = canonical_string(
        method="post",
        path="/api/v1/system/echo",
        query="x=1",
        timestamp="1700000000",
        nonce="n" * 16,
        body=b"{}",
    )
    assert text == "\n".join(
        ["POST", "/api/v1/system/echo", "x=1", "1700000000", "n" * 16, sm3_hex(b"{}")]
    )


def test_a_correctly_signed_request_identifies_the_calling_system(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    record, private_key = his
    headers = sign_request(
        app_id="his-ruijin", private_key_hex=private_key, method="GET", path=WHOAMI
    )
    response = _get(client, WHOAMI, headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("app_id", "name", "institution_id")} == {
        "app_id": "his-ruijin",
        "name": "瑞金医院 HIS",
        "institution_id": 7,
    }
    server_time = datetime.fromisoformat(body["server_time"])
    assert abs(server_time - datetime.now(UTC)) < timedelta(seconds=5)
    record.refresh_from_db()
    assert record.last_used_at is not None
    assert UsedNonce.objects.filter(app_id="his-ruijin", nonce=headers["X-Jingan-Nonce"]).exists()


def test_query_and_body_are_covered_by_the_signature(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    _, private_key = his
    body = json.dumps({"患者": "张三", "n": 1}, ensure_ascii=False).encode()
    headers = sign_request(
        app_id="his-ruijin",
        private_key_hex=private_key,
        method="POST",
        path=ECHO,
        query={"b": "2", "a": "静安"},
        body=body,
    )
    path = f"{ECHO}?b=2&a=%E9%9D%99%E5%AE%89"
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    assert response.json()["body_sm3"] == sm3_hex(body)
    assert response.json()["body_length"] == len(body)

    fresh = sign_request(
        app_id="his-ruijin", private_key_hex=private_key, method="GET", path=WHOAMI, query="a=1"
    )
    assert _refusal(_get(client, WHOAMI, fresh, query="a=2"))["code"] == "bad_signature"


@pytest.mark.parametrize(
    "header",
    ["X-Jingan-App-Id", "X-Jingan-Timestamp", "X-Jingan-Nonce", "X-Jingan-Signature"],
)
def test_a_missing_header_is_refused(
    client: Client, his: tuple[ApiClient, str], header: str
) -> None:
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    del headers[header]
    assert _refusal(_get(client, WHOAMI, headers)) == {
        "code": "missing_header",
        "message": f"缺少签名请求头：{header}",
    }


def test_an_anonymous_request_is_refused_without_leaking_anything(db: None, client: Client) -> None:
    response = client.get(WHOAMI)
    assert _refusal(response) == {
        "code": "missing_header",
        "message": "缺少签名请求头：X-Jingan-App-Id",
    }
    assert ApiClient.objects.count() == 0


def test_a_signature_by_another_key_is_refused(client: Client, his: tuple[ApiClient, str]) -> None:
    intruder = sm2.generate_keypair()
    headers = sign_request(
        app_id="his-ruijin", private_key_hex=intruder.private_hex, method="GET", path=WHOAMI
    )
    assert _refusal(_get(client, WHOAMI, headers)) == {
        "code": "bad_signature",
        "message": "签名验证失败：请求内容与签名不符，或使用了错误的私钥",
    }
    assert not UsedNonce.objects.exists()
    assert ApiClient.objects.get(app_id="his-ruijin").last_used_at is None


def test_garbage_in_the_signature_header_is_refused(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    headers["X-Jingan-Signature"] = "not base64!"
    assert _refusal(_get(client, WHOAMI, headers))["code"] == "bad_signature"
    headers["X-Jingan-Signature"] = "AAAA"
    assert _refusal(_get(client, WHOAMI, headers))["code"] == "bad_signature"


def test_a_flipped_body_byte_is_refused(client: Client, his: tuple[ApiClient, str]) -> None:
    body = b'{"prescription":"P-2026-0001","amount":"12.50"}'
    headers = sign_request(
        app_id="his-ruijin", private_key_hex=his[1], method="POST", path=ECHO, body=body
    )
    flipped = bytearray(body)
    flipped[20] ^= 0x01
    assert _refusal(_post(client, ECHO, headers, bytes(flipped)))["code"] == "bad_signature"
    # The untouched body, with the same headers, still passes: only the flip was refused.
    assert _post(client, ECHO, headers, body).status_code == 200


def test_a_replayed_nonce_is_refused(client: Client, his: tuple[ApiClient, str]) -> None:
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    assert _get(client, WHOAMI, headers).status_code == 200
    assert _refusal(_get(client, WHOAMI, headers)) == {
        "code": "replayed_nonce",
        "message": "随机串已被使用，请求被视为重放",
    }


def test_a_stale_or_future_timestamp_is_refused(client: Client, his: tuple[ApiClient, str]) -> None:
    for offset in (-301, 301):
        headers = sign_request(
            app_id="his-ruijin",
            private_key_hex=his[1],
            method="GET",
            path=WHOAMI,
            timestamp=int(time.time()) + offset,
        )
        assert _refusal(_get(client, WHOAMI, headers)) == {
            "code": "stale_timestamp",
            "message": "请求时间戳与服务器时间相差超过 300 秒，请校准系统时钟后重新签名",
        }
    headers = sign_request(
        app_id="his-ruijin",
        private_key_hex=his[1],
        method="GET",
        path=WHOAMI,
        timestamp=int(time.time()) - 290,
    )
    assert _get(client, WHOAMI, headers).status_code == 200


def test_malformed_timestamp_and_nonce_are_refused(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    assert _refusal(_get(client, WHOAMI, {**headers, "X-Jingan-Timestamp": "17e8"}))["code"] == (
        "bad_timestamp"
    )
    short = sign_request(
        app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI, nonce="short"
    )
    assert _refusal(_get(client, WHOAMI, short))["code"] == "bad_nonce"


def test_unknown_and_disabled_clients_are_refused(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    headers = sign_request(app_id="his-other", private_key_hex=his[1], method="GET", path=WHOAMI)
    assert _refusal(_get(client, WHOAMI, headers)) == {
        "code": "unknown_app",
        "message": "未登记的接入应用：his-other",
    }
    disable_api_client(actor=None, app_id="his-ruijin")
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    assert _refusal(_get(client, WHOAMI, headers)) == {
        "code": "app_disabled",
        "message": "接入应用已停用：his-ruijin",
    }


def test_every_refusal_is_audited(client: Client, his: tuple[ApiClient, str]) -> None:
    headers = sign_request(app_id="his-ruijin", private_key_hex=his[1], method="GET", path=WHOAMI)
    _get(client, WHOAMI, headers)
    before = AuditEntry.objects.count()
    _get(client, WHOAMI, headers)
    entry = AuditEntry.objects.order_by("-sequence").first()
    assert AuditEntry.objects.count() == before + 1
    assert entry is not None
    assert (entry.action, entry.outcome, entry.object_id) == (
        "api.request.denied",
        "denied",
        "his-ruijin",
    )
    assert json.loads(entry.detail) == {"code": "replayed_nonce", "method": "GET", "path": WHOAMI}


def test_spent_nonces_are_pruned_once_their_request_would_be_stale(
    client: Client, his: tuple[ApiClient, str]
) -> None:
    now = int(time.time())
    for offset in (-250, 0):
        headers = sign_request(
            app_id="his-ruijin",
            private_key_hex=his[1],
            method="GET",
            path=WHOAMI,
            timestamp=now + offset,
        )
        assert _get(client, WHOAMI, headers).status_code == 200
    assert UsedNonce.objects.count() == 2
    assert prune_used_nonces(now=datetime.fromtimestamp(now, tz=UTC)) == 0
    assert prune_used_nonces(now=datetime.fromtimestamp(now + 100, tz=UTC)) == 1
    assert prune_used_nonces(now=datetime.fromtimestamp(now + 400, tz=UTC)) == 1
    assert UsedNonce.objects.count() == 0


def test_registration_rejects_bad_input(db: None) -> None:
    with pytest.raises(ApiClientError, match="应用标识须为 3–64 位"):
        create_api_client(actor=None, app_id="a b", name="x")
    with pytest.raises(ApiClientError, match="请填写应用名称"):
        create_api_client(actor=None, app_id="his-a", name="  ")
    with pytest.raises(ApiClientError, match="SM2 公钥格式不正确"):
        register_api_client(actor=None, app_id="his-a", name="甲", public_key_hex="04abc")
    create_api_client(actor=None, app_id="his-a", name="甲")
    with pytest.raises(ApiClientError, match="应用标识 his-a 已登记"):
        create_api_client(actor=None, app_id="his-a", name="乙")
    assert list(
        AuditEntry.objects.filter(action="crypto.api_client.create").values_list(
            "object_id", flat=True
        )
    ) == ["his-a"]


def test_cli_creates_lists_and_disables_clients(client: Client, db: None) -> None:
    runner = CliRunner()
    created = runner.invoke(
        api_client, ["create", "--app-id", "emr-huashan", "--name", "华山病案系统"]
    )
    assert created.exit_code == 0, created.output
    lines = created.output.splitlines()
    assert lines[0] == "已登记接入应用 emr-huashan（华山病案系统）"
    private_key = lines[-1]
    stored = ApiClient.objects.get(app_id="emr-huashan")
    assert private_key not in {stored.public_key_hex, ""}
    assert len(private_key) == 64
    assert lines[1] == f"SM2 公钥：{stored.public_key_hex}"
    # The printed private key is the one that signs for this client; nothing stores it.
    headers = sign_request(
        app_id="emr-huashan", private_key_hex=private_key, method="GET", path=WHOAMI
    )
    assert _get(client, WHOAMI, headers).status_code == 200
    assert private_key not in json.dumps(list(ApiClient.objects.values()), default=str)

    listed = runner.invoke(api_client, ["list"])
    assert listed.exit_code == 0
    assert listed.output.startswith("emr-huashan\t华山病案系统\t机构 -\t启用\t")

    duplicate = runner.invoke(api_client, ["create", "--app-id", "emr-huashan", "--name", "x"])
    assert duplicate.exit_code == 1
    assert "应用标识 emr-huashan 已登记" in duplicate.output

    disabled = runner.invoke(api_client, ["disable", "--app-id", "emr-huashan"])
    assert disabled.exit_code == 0
    assert disabled.output == "已停用接入应用 emr-huashan\n"
    assert "\t停用\t" in runner.invoke(api_client, ["list"]).output
    assert runner.invoke(api_client, ["disable", "--app-id", "nope"]).exit_code == 1


def test_cli_registers_a_vendor_supplied_public_key(db: None) -> None:
    pair = sm2.generate_keypair()
    result = CliRunner().invoke(
        api_client,
        ["create", "--app-id", "lis-1", "--name", "检验系统", "--public-key", pair.public_hex],
    )
    assert result.exit_code == 0, result.output
    assert "私钥" not in result.output
    assert ApiClient.objects.get(app_id="lis-1").public_key_hex == pair.public_hex


def test_signed_requests_work_over_a_real_http_server(
    live_server_url: str, transactional_db: None
) -> None:
    _, private_key = create_api_client(actor=None, app_id="sim-his", name="HIS 模拟器")
    body = '{"visit":"V1"}'
    headers = sign_request(
        app_id="sim-his", private_key_hex=private_key, method="POST", path=ECHO, body=body
    )
    response = httpx.post(
        live_server_url + ECHO,
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["app_id"] == "sim-his"
    replay = httpx.post(
        live_server_url + ECHO,
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "replayed_nonce"
