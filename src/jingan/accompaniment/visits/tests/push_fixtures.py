"""Helpers of the push API tests (dialect B and third parties): signed posts and clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from jingan.core.public import create_api_client, sign_request

PUSH = "/api/v1/his/push"
EVENTS = "/api/v1/his/events"
B_CODE = "310106009"  # 上海市静安区妇幼保健所, dialect B
B_OTHER = "310106010"  # 上海市静安区牙病防治所, dialect B
PATIENT_NAME = "李秀英"
PATIENT_ID = "310106195001011238"


def institution(code: str) -> Any:
    from django.apps import apps

    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


@pytest.fixture
def api_client(db: None) -> Callable[..., tuple[str, str]]:
    """``api_client(code, app_id=...)``: a signing client of that institution (or of none)."""

    def _make(code: str | None, app_id: str | None = None) -> tuple[str, str]:
        client, key = create_api_client(
            actor=None,
            app_id=app_id or f"his-b-{code}",
            name=f"HIS {code}",
            institution_id=institution(code).pk if code else None,
        )
        return client.app_id, key

    return _make


def body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def post_signed(
    path: str, body: Any, *, app_id: str, key: str, client: Client | None = None
) -> Any:
    raw = body_bytes(body)
    headers = sign_request(app_id=app_id, private_key_hex=key, method="POST", path=path, body=raw)
    return (client or Client()).post(
        path, data=raw, content_type="application/json", headers=headers
    )
