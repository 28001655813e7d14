"""JSON API of the crypto app: a signed-request echo that vendors use to test their signing."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from jingan.core.crypto.models import ApiClient
from jingan.core.crypto.primitives import sm3_hex
from jingan.core.crypto.requests import (
    SignedRequestError,
    SM2RequestAuth,
    signed_request_error_response,
)
from jingan.core.crypto.schemas import SignedEchoRead, SignedRequestErrorRead, WhoAmIRead

router = Router(tags=["接入应用签名"])


@router.get(
    "/whoami",
    auth=SM2RequestAuth(),
    response={200: WhoAmIRead, 401: SignedRequestErrorRead},
    summary="验证签名请求",
)
def whoami(request: HttpRequest) -> dict[str, object]:
    """The calling system as the platform identified it from its SM2 signature, and the
    server time (to check clock skew)."""
    client = request.auth  # type: ignore[attr-defined]
    assert isinstance(client, ApiClient)
    return {
        "app_id": client.app_id,
        "name": client.name,
        "institution_id": client.institution_id,
        "server_time": timezone.now(),
    }


@router.post(
    "/echo",
    auth=SM2RequestAuth(),
    response={200: SignedEchoRead, 401: SignedRequestErrorRead},
    summary="验证带请求体的签名请求",
)
def echo(request: HttpRequest) -> dict[str, object]:
    """The SM3 digest and length of the body as the platform received and verified it, so a
    vendor can compare with what its system signed."""
    client = request.auth  # type: ignore[attr-defined]
    assert isinstance(client, ApiClient)
    return {
        "app_id": client.app_id,
        "body_sm3": sm3_hex(request.body),
        "body_length": len(request.body),
        "server_time": timezone.now(),
    }


ROUTERS = [("/system", router)]
EXCEPTION_HANDLERS = [(SignedRequestError, signed_request_error_response)]
