"""SM2-signed API requests from external systems (CR-1 system authentication, CR-2 integrity).

A client signs, with its SM2 private key (default user ID ``1234567812345678``), the
UTF-8 bytes of the canonical string::

    METHOD\\nPATH\\nCANONICAL_QUERY\\nTIMESTAMP\\nNONCE\\nSM3_HEX(BODY)

- METHOD: upper case; PATH: the percent-decoded path, e.g. ``/api/v1/system/whoami``;
- CANONICAL_QUERY: the decoded query parameters as (name, value) pairs, each part
  percent-encoded again (RFC 3986, UTF-8, only ``A-Z a-z 0-9 - _ . ~`` left as is),
  sorted by encoded name then encoded value, joined as ``name=value`` with ``&``; empty
  when there is no query;
- TIMESTAMP: unix seconds, within ±300 s of the server clock;
- NONCE: 16 to 64 characters of ``A-Z a-z 0-9 _ -``, never reused by the same client;
- SM3_HEX(BODY): lower-case hex SM3 digest of the raw body (of b"" when there is none).

and sends ``X-Jingan-App-Id``, ``X-Jingan-Timestamp``, ``X-Jingan-Nonce`` and
``X-Jingan-Signature`` (standard base64 of the DER signature). The server answers any
failure with 401 and ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from ninja.security.base import AuthBase

from jingan.core.crypto import sm2
from jingan.core.crypto.errors import CryptoError
from jingan.core.crypto.models import ApiClient, UsedNonce
from jingan.core.crypto.primitives import sm3_hex

HEADER_APP_ID = "X-Jingan-App-Id"
HEADER_TIMESTAMP = "X-Jingan-Timestamp"
HEADER_NONCE = "X-Jingan-Nonce"
HEADER_SIGNATURE = "X-Jingan-Signature"
SIGNED_HEADERS = (HEADER_APP_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

ALLOWED_SKEW_SECONDS = 300
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
APP_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
PUBLIC_KEY_PATTERN = re.compile(r"04[0-9a-f]{128}")
# RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
_UNRESERVED = "-_.~"

QueryInput = str | Mapping[str, str | int | Sequence[str | int]] | Sequence[tuple[str, str]] | None


class ErrorCode(enum.StrEnum):
    """Why a signed request was refused; the value is the ``code`` of the 401 answer."""

    MISSING_HEADER = "missing_header"
    UNKNOWN_APP = "unknown_app"
    APP_DISABLED = "app_disabled"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_NONCE = "bad_nonce"
    REPLAYED_NONCE = "replayed_nonce"
    BAD_SIGNATURE = "bad_signature"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.MISSING_HEADER: "缺少签名请求头：{detail}",
    ErrorCode.UNKNOWN_APP: "未登记的接入应用：{detail}",
    ErrorCode.APP_DISABLED: "接入应用已停用：{detail}",
    ErrorCode.BAD_TIMESTAMP: "请求时间戳格式不正确，应为 Unix 秒数",
    ErrorCode.STALE_TIMESTAMP: "请求时间戳与服务器时间相差超过 {detail} 秒，请校准系统时钟后重新签名",
    ErrorCode.BAD_NONCE: "随机串格式不正确，应为 16–64 位字母、数字、下划线或连字符",
    ErrorCode.REPLAYED_NONCE: "随机串已被使用，请求被视为重放",
    ErrorCode.BAD_SIGNATURE: "签名验证失败：请求内容与签名不符，或使用了错误的私钥",
}


class SignedRequestError(Exception):
    """A signed request was refused; answered as 401 ``{"code", "message"}``."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = code
        self.message = MESSAGES[code].format(detail=detail)
        super().__init__(f"{code.value}: {self.message}")


class ApiClientError(Exception):
    """An API client cannot be registered or changed; the message says why, in Chinese."""


# -- The canonical form, shared by both sides -----------------------------------------


def _encode(part: str) -> str:
    return quote(part, safe=_UNRESERVED, encoding="utf-8")


def _query_pairs(query: QueryInput) -> list[tuple[str, str]]:
    if query is None:
        return []
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in query.items():
            values = (
                value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
            )
            pairs.extend((str(name), str(item)) for item in values)
        return pairs
    return [(str(name), str(value)) for name, value in query]


def canonical_query(query: QueryInput) -> str:
    """The query parameters in their signed form: sorted, percent-encoded, ``&``-joined."""
    encoded = sorted((_encode(name), _encode(value)) for name, value in _query_pairs(query))
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_string(
    *, method: str, path: str, query: QueryInput, timestamp: str, nonce: str, body: bytes
) -> str:
    """The exact text a client signs (see the module docstring)."""
    return "\n".join(
        [
            method.upper(),
            unquote(path),
            canonical_query(query),
            timestamp,
            nonce,
            sm3_hex(body),
        ]
    )


# -- Client side ------------------------------------------------------------------------


def sign_request(
    *,
    app_id: str,
    private_key_hex: str,
    method: str,
    path: str,
    query: QueryInput = None,
    body: bytes | str = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for one request, for our simulators, tests and adapters."""
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = nonce or secrets.token_hex(16)
    text = canonical_string(
        method=method, path=path, query=query, timestamp=stamp, nonce=once, body=raw_body
    )
    signature = sm2.sign(private_key_hex, text.encode("utf-8"))
    return {
        HEADER_APP_ID: app_id,
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: once,
        HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
    }


# -- Server side ------------------------------------------------------------------------


def _header(request: HttpRequest, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise SignedRequestError(ErrorCode.MISSING_HEADER, name)
    return value


def authenticate_signed_request(request: HttpRequest) -> ApiClient:
    """The client that signed ``request``, or ``SignedRequestError`` saying why not."""
    app_id, stamp, nonce, signature_b64 = (_header(request, name) for name in SIGNED_HEADERS)

    client = ApiClient.objects.filter(app_id=app_id).first() if len(app_id) <= 64 else None
    if client is None:
        raise SignedRequestError(ErrorCode.UNKNOWN_APP, app_id[:64])
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignedRequestError(ErrorCode.BAD_TIMESTAMP)
    now = time.time()
    if abs(now - int(stamp)) > ALLOWED_SKEW_SECONDS:
        raise SignedRequestError(ErrorCode.STALE_TIMESTAMP, str(ALLOWED_SKEW_SECONDS))
    if not NONCE_PATTERN.fullmatch(nonce):
        raise SignedRequestError(ErrorCode.BAD_NONCE)
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignedRequestError(ErrorCode.BAD_SIGNATURE) from error
    text = canonical_string(
        method=request.method or "GET",
        path=request.path,
        query=request.META.get("QUERY_STRING", ""),
        timestamp=stamp,
        nonce=nonce,
        body=request.body,
    )
    try:
        valid = sm2.verify(client.public_key_hex, text.encode("utf-8"), signature)
    except CryptoError:
        valid = False
    if not valid:
        raise SignedRequestError(ErrorCode.BAD_SIGNATURE)
    # Only a correctly signed request learns that its client is disabled, so outsiders
    # cannot probe which app ids exist but are switched off.
    if not client.is_active:
        raise SignedRequestError(ErrorCode.APP_DISABLED, client.app_id)
    _spend_nonce(client.app_id, nonce, int(stamp))
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
    return client


def _spend_nonce(app_id: str, nonce: str, stamp: int) -> None:
    expires_at = datetime.fromtimestamp(stamp + ALLOWED_SKEW_SECONDS, tz=UTC)
    try:
        # A savepoint, so a replay does not break a surrounding (ATOMIC_REQUESTS) transaction.
        with transaction.atomic():
            UsedNonce.objects.create(app_id=app_id, nonce=nonce, expires_at=expires_at)
    except IntegrityError as error:
        raise SignedRequestError(ErrorCode.REPLAYED_NONCE) from error


class SM2RequestAuth(AuthBase):
    """django-ninja auth for endpoints called by external systems: ``auth=SM2RequestAuth()``.

    ``request.auth`` is the calling ``ApiClient``; refusals are 401 JSON with a code.
    """

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = HEADER_SIGNATURE
    openapi_description = (
        "国密 SM2 签名请求：以接入应用私钥对“METHOD\\nPATH\\n排序后的查询串\\n时间戳\\n随机串\\n"
        "SM3(请求体)”签名，并携带 X-Jingan-App-Id、X-Jingan-Timestamp、X-Jingan-Nonce、"
        "X-Jingan-Signature（Base64 DER）四个请求头。"
    )

    def __call__(self, request: HttpRequest) -> ApiClient:
        try:
            return authenticate_signed_request(request)
        except SignedRequestError as error:
            _record_refusal(request, error)
            raise


def _record_refusal(request: HttpRequest, error: SignedRequestError) -> None:
    from jingan.core.audit.services import record_event

    record_event(
        action="api.request.denied",
        outcome="denied",
        object_type="crypto.apiclient",
        object_id=request.headers.get(HEADER_APP_ID, "")[:64],
        detail={"code": error.code.value, "method": request.method, "path": request.path},
        request=request,
    )


def signed_request_error_response(request: HttpRequest, error: Exception) -> JsonResponse:
    """The 401 answer for a refused signed request (registered as a ninja exception handler)."""
    assert isinstance(error, SignedRequestError)
    response = JsonResponse(
        {"code": error.code.value, "message": error.message},
        status=401,
        json_dumps_params={"ensure_ascii": False},
    )
    response["WWW-Authenticate"] = 'SM2-Signature realm="jingan"'
    return response


# -- Services: registering and disabling clients, pruning nonces ------------------------


def _validate_new_client(app_id: str, name: str) -> None:
    if not APP_ID_PATTERN.fullmatch(app_id):
        raise ApiClientError(
            "应用标识须为 3–64 位字母、数字、点、下划线或连字符，且以字母或数字开头"
        )
    if not name.strip():
        raise ApiClientError("请填写应用名称")
    if len(name) > 100:
        raise ApiClientError("应用名称不能超过 100 个字符")
    if ApiClient.objects.filter(app_id=app_id).exists():
        raise ApiClientError(f"应用标识 {app_id} 已登记")


def register_api_client(
    *,
    actor: Any,
    app_id: str,
    name: str,
    public_key_hex: str,
    institution_id: int | None = None,
) -> ApiClient:
    """Register an external system by the SM2 public key it generated itself."""
    from jingan.core.audit.services import record_event

    public_key_hex = public_key_hex.strip().lower()
    if not PUBLIC_KEY_PATTERN.fullmatch(public_key_hex):
        raise ApiClientError("SM2 公钥格式不正确：应为 04 开头的 130 位十六进制未压缩公钥")
    try:
        sm2.normalize_public_key(public_key_hex)
    except CryptoError as error:
        raise ApiClientError("SM2 公钥无效：不是 SM2 曲线上的点") from error
    _validate_new_client(app_id, name)
    with transaction.atomic():
        client = ApiClient.objects.create(
            app_id=app_id,
            name=name.strip(),
            institution_id=institution_id,
            public_key_hex=public_key_hex,
        )
        record_event(
            action="crypto.api_client.create",
            actor=actor,
            object_type="crypto.apiclient",
            object_id=app_id,
            institution_id=institution_id,
            detail={"name": client.name},
        )
    return client


def create_api_client(
    *, actor: Any, app_id: str, name: str, institution_id: int | None = None
) -> tuple[ApiClient, str]:
    """Generate an SM2 key pair for a new client; returns it and the private key (shown once)."""
    _validate_new_client(app_id, name)
    pair = sm2.generate_keypair()
    client = register_api_client(
        actor=actor,
        app_id=app_id,
        name=name,
        public_key_hex=pair.public_hex,
        institution_id=institution_id,
    )
    return client, pair.private_hex


def disable_api_client(*, actor: Any, app_id: str) -> ApiClient:
    """Stop accepting requests signed by ``app_id``."""
    from jingan.core.audit.services import record_event

    with transaction.atomic():
        client = ApiClient.objects.select_for_update().filter(app_id=app_id).first()
        if client is None:
            raise ApiClientError(f"未找到接入应用 {app_id}")
        if not client.is_active:
            raise ApiClientError(f"接入应用 {app_id} 已是停用状态")
        client.is_active = False
        client.save(update_fields=["is_active"])
        record_event(
            action="crypto.api_client.disable",
            actor=actor,
            object_type="crypto.apiclient",
            object_id=app_id,
            institution_id=client.institution_id,
        )
    return client


def prune_used_nonces(*, now: datetime | None = None) -> int:
    """Delete nonces whose requests would now be refused as stale anyway; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=1)
    deleted, _ = UsedNonce.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
