from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from django.test import Client

from jingan.testing.residents import Simulators


def wechat_sign_in(
    client: Client, simulators: Simulators, *, openid: str, next_url: str = ""
) -> str:
    """Follow /h5/login/ to the simulator, pick ``openid`` there; return the callback URL."""
    start = client.get("/h5/login/", {"next": next_url} if next_url else {})
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(f"{simulators.wechat.url}/connect/oauth2/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    confirmed = httpx.post(
        f"{simulators.wechat.url}/connect/oauth2/authorize",
        data={**query, "user": openid, "action": "allow"},
    )
    assert confirmed.status_code == 302
    callback = urlsplit(confirmed.headers["location"])
    assert callback.path == "/h5/login/callback/"
    return f"{callback.path}?{callback.query}"
