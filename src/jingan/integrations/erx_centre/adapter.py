"""``ErxCentrePort`` over HTTP: the sealed envelope of :mod:`.envelope`, through ``lib.http``.

One ``HttpErxCentre`` serves one institution (its app, secret and SM2 key pair). Each
call seals the business object with the institution's private key, POSTs it to
``profile.path(operation)`` and opens the answer with the centre's public key:

- a verified answer is a ``CentreAnswer``, whatever its ``code`` (a refusal such as
  2001 is still an answer the caller must show);
- no verified answer is a ``CentreError`` that says truthfully whether the call may be
  sent again (``retryable``) and whether the centre may have acted on it (``reached``).
  A query is repeated by ``OutboundClient`` itself; a write (uploadChk, sign, upload,
  undo) is repeated only when it cannot have left this machine (connection refused),
  so after a read timeout it is ``reached=True, retryable=False`` and the caller
  reconciles with a query instead of uploading twice.

The receiving side of the centre's notifications is here too: ``notification_app_id``
(whose credentials to use), ``open_notification`` and ``answer_notification``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from jingan.integrations.erx_centre.envelope import (
    AppCredentials,
    EnvelopeError,
    Opened,
    Sm2Backend,
    open_envelope,
    read_envelope,
    seal,
)
from jingan.integrations.erx_centre.port import (
    IDEMPOTENT_OPERATIONS,
    CentreAnswer,
    CentreError,
    CentreProfile,
    Notification,
    Operation,
)
from jingan.lib.http import OutboundClient, OutboundError

SYSTEM = "医保电子处方中心"
# Statuses with which a gateway says it did not pass the request on.
NOT_FORWARDED_STATUSES = frozenset({429, 503})


class HttpErxCentre:
    """One institution's connection to the centre over HTTP (implements ``ErxCentrePort``)."""

    def __init__(
        self,
        *,
        profile: CentreProfile,
        credentials: AppCredentials,
        centre_public_key_hex: str,
        backend: Sm2Backend,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff_seconds: float = 0.2,
    ) -> None:
        self.profile = profile
        self.credentials = credentials
        self.centre_public_key_hex = centre_public_key_hex
        self.backend = backend
        self.transport = transport
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._outbound: OutboundClient | None = None
        self._client_lock = threading.Lock()

    def _client(self) -> OutboundClient:
        # One client per connection object: building one loads the CA store (~20 ms),
        # more than the SM2 work of a call. httpx clients are safe to share across threads.
        with self._client_lock:
            if self._outbound is None:
                timeout = float(self.profile.timeout_seconds)
                self._outbound = OutboundClient(
                    system=SYSTEM,
                    base_url=self.profile.base_url,
                    timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)),
                    retries=self.retries,
                    backoff_seconds=self.backoff_seconds,
                    transport=self.transport,
                )
            return self._outbound

    def close(self) -> None:
        """Release the HTTP connections (the object stays usable; a new client is made)."""
        with self._client_lock:
            if self._outbound is not None:
                self._outbound.close()
                self._outbound = None

    def __enter__(self) -> HttpErxCentre:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def seal_request(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The request envelope around ``data``, signed with the institution's key."""
        return seal(
            data,
            credentials=self.credentials,
            signing_key_hex=self.credentials.private_key_hex,
            backend=self.backend,
            version=self.profile.version,
            enc_type=self.profile.enc_type,
            sign_type=self.profile.sign_type,
        )

    def open_answer(self, envelope: Mapping[str, Any]) -> Opened:
        """The verified answer; EnvelopeError if it is not the centre's."""
        return open_envelope(
            envelope,
            credentials=self.credentials,
            verifying_key_hex=self.centre_public_key_hex,
            backend=self.backend,
        )

    def call(self, operation: Operation, data: Mapping[str, Any]) -> CentreAnswer:
        """Send one operation; CentreError when no verified answer came back."""
        started = time.monotonic()
        try:
            request = self.seal_request(data)
        except EnvelopeError as error:
            raise CentreError(
                f"无法生成{SYSTEM}请求报文：{error.message}", retryable=False, reached=False
            ) from error
        except Exception as error:  # a malformed key in the connection settings
            raise CentreError(
                f"无法签名{SYSTEM}请求报文（请检查机构私钥）：{error}",
                retryable=False,
                reached=False,
            ) from error
        body = json.dumps(request, ensure_ascii=False).encode("utf-8")
        idempotent = operation in IDEMPOTENT_OPERATIONS
        try:
            response = self._client().request(
                "POST",
                self.profile.path(operation),
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                retry_unsafe=idempotent,
            )
        except OutboundError as error:
            raise self._transport_error(error, idempotent, request) from error
        text = response.text
        try:
            envelope = response.json()
        except ValueError:
            raise CentreError(
                f"{SYSTEM}返回 HTTP {response.status_code}，内容不是 JSON",
                retryable=False,
                reached=True,
                request_envelope=request,
                response_body=text[:2000],
            ) from None
        if not isinstance(envelope, dict):
            raise CentreError(
                f"{SYSTEM}返回的不是 JSON 对象",
                retryable=False,
                reached=True,
                request_envelope=request,
                response_body=text[:2000],
            )
        if not envelope.get("signData"):
            # The centre answers without a signature only when it cannot tell who is asking
            # (unknown appId) or the gateway refused the request.
            raise CentreError(
                f"{SYSTEM}拒绝请求（HTTP {response.status_code}，代码 {envelope.get('code', '-')}）："
                f"{envelope.get('message') or '未签名的应答'}",
                retryable=False,
                reached=True,
                request_envelope=request,
                response_body=text[:2000],
            )
        try:
            opened = self.open_answer(read_envelope(envelope))
        except EnvelopeError as error:
            raise CentreError(
                f"{SYSTEM}应答无法验证：{error.message}",
                retryable=False,
                reached=True,
                request_envelope=request,
                response_body=text[:2000],
            ) from error
        if opened.code is None:
            raise CentreError(
                f"{SYSTEM}应答缺少 code",
                retryable=False,
                reached=True,
                request_envelope=request,
                response_body=text[:2000],
            )
        return CentreAnswer(
            operation=operation,
            code=opened.code,
            message=opened.message,
            data=opened.data,
            request_envelope=request,
            response_envelope=envelope,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )

    def _transport_error(
        self, error: OutboundError, idempotent: bool, request: dict[str, Any]
    ) -> CentreError:
        cause = error.__cause__
        if error.status is not None:
            # The centre (or its gateway) answered with an HTTP failure.
            forwarded = error.status not in NOT_FORWARDED_STATUSES
            return CentreError(
                f"{SYSTEM}返回 HTTP {error.status}",
                retryable=idempotent or not forwarded,
                reached=forwarded,
                request_envelope=request,
            )
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            return CentreError(
                f"无法连接{SYSTEM}：{cause}",
                retryable=True,
                reached=False,
                request_envelope=request,
            )
        if isinstance(cause, httpx.TimeoutException):
            return CentreError(
                f"{SYSTEM}在 {self.profile.timeout_seconds:g} 秒内未应答"
                + ("" if idempotent else "，请求可能已被处理，请先查询处方状态"),
                retryable=idempotent,
                reached=True,
                request_envelope=request,
            )
        return CentreError(
            f"与{SYSTEM}的连接中断：{cause or error.message}"
            + ("" if idempotent else "，请求可能已被处理，请先查询处方状态"),
            retryable=idempotent,
            reached=True,
            request_envelope=request,
        )


# --- notifications from the centre ------------------------------------------------------


def notification_app_id(body: bytes | Mapping[str, Any]) -> str:
    """The ``appId`` a notification is addressed to (to pick the credentials to open it)."""
    return str(read_envelope(body)["appId"])


def open_notification(
    body: bytes | Mapping[str, Any],
    credentials: AppCredentials,
    centre_public_key_hex: str,
    backend: Sm2Backend,
    *,
    check_time: bool = True,
) -> tuple[Notification, Opened]:
    """A verified notification: which kind, and its business object.

    EnvelopeError (with ``field``) for a missing or unknown ``transType``, a stale
    timestamp, ciphertext that does not decrypt or a signature that is not the centre's.
    ``check_time=False`` re-opens a kept notification later (a deliberate replay).
    """
    envelope = read_envelope(body)
    trans_type = str(envelope.get("transType") or "")
    if not trans_type:
        raise EnvelopeError("缺少必填字段 transType", field="transType")
    try:
        kind = Notification(trans_type)
    except ValueError:
        raise EnvelopeError(f"不支持的通知类型 transType={trans_type}", field="transType") from None
    opened = open_envelope(
        envelope,
        credentials=credentials,
        verifying_key_hex=centre_public_key_hex,
        backend=backend,
        check_time=check_time,
    )
    return kind, opened


def answer_notification(
    notification: Notification | str,
    *,
    credentials: AppCredentials,
    backend: Sm2Backend,
    version: str = "1.0.0",
    code: int = 0,
    message: str = "成功",
    data: Mapping[str, Any] | None = None,
    enc_type: str = "SM4",
    sign_type: str = "SM2",
) -> dict[str, Any]:
    """The institution's answer to a notification, signed with its own key.

    ``code`` 0 tells the centre the notification was taken; anything else makes it
    send again later. ``notification`` may be a raw ``transType`` the platform did
    not recognise, so the refusal still names it.
    """
    return seal(
        dict(data or {}),
        credentials=credentials,
        signing_key_hex=credentials.private_key_hex,
        backend=backend,
        version=version,
        enc_type=enc_type,
        sign_type=sign_type,
        answer={"code": code, "message": message},
        extra_fields={"transType": str(notification)} if str(notification) else None,
    )


def unsigned_refusal(code: int, message: str) -> dict[str, Any]:
    """An answer that cannot be signed (the sender's app is unknown): code and message only."""
    return {"code": code, "message": message, "success": False}
