"""``WeChatPort`` through wechatpy, pointed at the configured (real or simulated) platform.

wechatpy speaks through ``requests`` rather than ``jingan.lib.http``; its sessions here get
the same treatment: a timeout on every call and one masked journal line per exchange.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.oauth import WeChatOAuth

from jingan.integrations.wechat.port import (
    RETRYABLE_CODES,
    TRANSPORT_FAILURE,
    WeChatConfig,
    WeChatError,
    WeChatIdentity,
)
from jingan.lib.http import mask_for_journal

journal = logging.getLogger("jingan.outbound")


class _JournaledSession(requests.Session):
    """A requests session that always times out and journals each exchange, masked."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        # Where the platform lives is configuration; environment proxies must not reroute it.
        self.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        started = time.monotonic()
        path = str(url).split("?", 1)[0]
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as error:
            journal.info("wechat %s %s failed: %s", method, path, type(error).__name__)
            raise
        try:
            answer: Any = mask_for_journal(response.json())
        except ValueError:
            answer = f"<{len(response.content)} bytes>"
        journal.info(
            "wechat %s %s status=%s elapsed_ms=%d response=%s",
            method,
            path,
            response.status_code,
            round((time.monotonic() - started) * 1000),
            answer,
        )
        return response


class _Client(WeChatClient):
    """wechatpy's client with its hard-coded token URL replaced by the configured base."""

    def __init__(self, config: WeChatConfig) -> None:
        super().__init__(config.app_id, config.app_secret, timeout=config.timeout_seconds)
        self.API_BASE_URL = f"{config.api_base_url.rstrip('/')}/cgi-bin/"
        self._http = _JournaledSession(config.timeout_seconds)

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
            },
        )


def _oauth(
    config: WeChatConfig, *, redirect_uri: str = "", scope: str = "", state: str = ""
) -> Any:
    oauth = WeChatOAuth(config.app_id, config.app_secret, redirect_uri, scope=scope, state=state)
    oauth.API_BASE_URL = f"{config.api_base_url.rstrip('/')}/"
    oauth.OAUTH_BASE_URL = f"{config.oauth_base_url.rstrip('/')}/connect/"
    oauth._http = _JournaledSession(config.timeout_seconds)
    return oauth


def _error(error: Exception) -> WeChatError:
    if isinstance(error, WeChatClientException) and error.errcode is not None:
        code = int(error.errcode)
        return WeChatError(code, str(error.errmsg), code in RETRYABLE_CODES)
    if isinstance(error, WeChatClientException):
        # An HTTP-level failure (no WeChat error body): a 5xx is worth another try.
        status = getattr(error.response, "status_code", None) or 0
        return WeChatError(TRANSPORT_FAILURE, f"HTTP {status}", status >= 500 or status == 429)
    return WeChatError(TRANSPORT_FAILURE, f"{type(error).__name__}: {error}", True)


class WechatpyAdapter:
    """``WeChatPort`` over wechatpy."""

    def __init__(self, config: WeChatConfig) -> None:
        self.config = config
        self._client = _Client(config)

    def authorize_url(
        self, *, redirect_uri: str, state: str, scope: str = "snsapi_userinfo"
    ) -> str:
        return str(
            _oauth(self.config, redirect_uri=redirect_uri, scope=scope, state=state).authorize_url
        )

    def exchange_code(self, code: str) -> WeChatIdentity:
        oauth = _oauth(self.config)
        try:
            token = oauth.fetch_access_token(code)
            nickname: str | None = None
            unionid = token.get("unionid")
            # Only a userinfo grant may read the profile; a base grant knows just the openid.
            if "snsapi_userinfo" in str(token.get("scope", "")):
                info = oauth.get_user_info()
                nickname = info.get("nickname") or None
                unionid = info.get("unionid") or unionid
        except (WeChatClientException, requests.RequestException) as error:
            raise _error(error) from error
        return WeChatIdentity(openid=str(token["openid"]), unionid=unionid, nickname=nickname)

    def send_template_message(
        self, *, openid: str, template_id: str, data: dict[str, str], url: str = ""
    ) -> str:
        payload = {key: {"value": value} for key, value in data.items()}
        try:
            result = self._client.message.send_template(
                openid, template_id, payload, url=url or None
            )
        except (WeChatClientException, requests.RequestException) as error:
            raise _error(error) from error
        return str(result.get("msgid", ""))

    def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str = ""
    ) -> str:
        payload = {key: {"value": value} for key, value in data.items()}
        try:
            result = self._client.message.send_subscribe_message(
                openid, template_id, payload, page=page or None
            )
        except (WeChatClientException, requests.RequestException) as error:
            raise _error(error) from error
        return str(result.get("msgid", ""))
