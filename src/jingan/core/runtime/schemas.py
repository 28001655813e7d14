from __future__ import annotations

from datetime import datetime

from ninja import Schema


class ComponentHealthRead(Schema):
    name: str
    title: str
    ok: bool
    detail: str
    latency_ms: float | None
    facts: dict[str, str | int | float | bool | None]


class HeartbeatRead(Schema):
    component: str
    instance: str
    started_at: datetime
    seen_at: datetime
    beats: int


class PlatformStatusRead(Schema):
    status: str
    mode: str
    checked_at: datetime
    failed: list[str]
    components: list[ComponentHealthRead]
    heartbeats: list[HeartbeatRead]
