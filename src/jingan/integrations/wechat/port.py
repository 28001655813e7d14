"""What the platform needs from the WeChat Official Account platform (微信公众平台)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Error codes of the WeChat platform that the adapter and the simulator agree on.
SYSTEM_BUSY = -1
TRANSPORT_FAILURE = -2  # ours, not WeChat's: the platform could not be reached or timed out
INVALID_CREDENTIAL = 40001
INVALID_OPENID = 40003
INVALID_APPID = 40013
INVALID_CODE = 40029
INVALID_TEMPLATE_ID = 40037
INVALID_APPSECRET = 40125
CODE_BEEN_USED = 40163
ACCESS_TOKEN_MISSING = 41001
ACCESS_TOKEN_EXPIRED = 42001
DATA_FORMAT_ERROR = 47001
API_UNAUTHORIZED = 48001
API_FREQUENCY_LIMIT = 45009
RETRYABLE_CODES = frozenset({SYSTEM_BUSY, TRANSPORT_FAILURE, API_FREQUENCY_LIMIT})


@dataclass(frozen=True)
class WeChatConfig:
    """Where the official account lives and how it signs in (``settings.WECHAT``)."""

    app_id: str
    app_secret: str
    api_base_url: str  # e.g. https://api.weixin.qq.com
    oauth_base_url: str  # e.g. https://open.weixin.qq.com
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:
        return f"WeChatConfig(app_id={self.app_id!r}, api_base_url={self.api_base_url!r})"


@dataclass(frozen=True)
class WeChatIdentity:
    """Who signed in through web authorisation (网页授权)."""

    openid: str
    unionid: str | None
    nickname: str | None


class WeChatError(Exception):
    """The WeChat platform refused or could not be reached; ``retryable`` guides the caller."""

    def __init__(self, errcode: int, errmsg: str, retryable: bool) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.retryable = retryable


class WeChatPort(Protocol):
    def authorize_url(
        self, *, redirect_uri: str, state: str, scope: str = "snsapi_userinfo"
    ) -> str: ...

    def exchange_code(self, code: str) -> WeChatIdentity: ...

    def send_template_message(
        self, *, openid: str, template_id: str, data: dict[str, str], url: str = ""
    ) -> str: ...

    def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str = ""
    ) -> str: ...
