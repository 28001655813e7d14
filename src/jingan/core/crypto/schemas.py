"""JSON shapes of the crypto app's API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema


class WhoAmIRead(Schema):
    app_id: str
    name: str
    institution_id: int | None
    server_time: datetime


class SignedEchoRead(Schema):
    app_id: str
    body_sm3: str
    body_length: int
    server_time: datetime


class SignedRequestErrorRead(Schema):
    code: str
    message: str
