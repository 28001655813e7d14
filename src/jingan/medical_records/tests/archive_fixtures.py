"""Fixtures of the archive-sync tests: the archive simulator, sources, signed pushes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from jingan.core.public import create_api_client, sign_request
from jingan.integrations.archives.simulator import ArchiveSimulator

CENTRAL = "310106001"  # 上海市静安区中心医院
ZHABEI = "310106002"  # 上海市静安区闸北中心医院


@pytest.fixture
def simulator() -> Iterator[ArchiveSimulator]:
    """The archive simulator on a free loopback port, three items a page (paging shows)."""
    server = ArchiveSimulator(page_size=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def institution(db: None) -> Callable[[str], Any]:
    from django.apps import apps

    model = apps.get_model("institutions", "Institution")
    return lambda code: model.objects.unscoped().get(code=code)


@pytest.fixture
def source(db: None, institution: Callable[[str], Any]) -> Callable[..., Any]:
    """``source(code, mode="poll", base_url=..., api_app_id="")``: an archive source."""
    from jingan.medical_records.archive_services import configure_archive_source

    def _make(code: str, mode: str = "poll", base_url: str = "", api_app_id: str = "") -> Any:
        return configure_archive_source(
            actor=None,
            institution_id=institution(code).pk,
            mode=mode,
            base_url=base_url,
            api_app_id=api_app_id,
            poll_interval_minutes=5,
            is_enabled=True,
        )

    return _make


@pytest.fixture
def push_client(
    db: None, institution: Callable[[str], Any], source: Callable[..., Any]
) -> Callable[[str], tuple[str, str]]:
    """``push_client(code)``: a registered signing client configured as the code's pusher."""

    def _make(code: str) -> tuple[str, str]:
        client, private_key = create_api_client(
            actor=None, app_id=f"archive-{code}", name=f"病案系统 {code}"
        )
        source(code, mode="push", api_app_id=client.app_id)
        return client.app_id, private_key

    return _make


def post_signed(
    path: str, body: Any, *, app_id: str, private_key: str, client: Client | None = None
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = sign_request(
        app_id=app_id, private_key_hex=private_key, method="POST", path=path, body=raw
    )
    return (client or Client()).post(
        path, data=raw, content_type="application/json", headers=headers
    )


def push_path(code: str) -> str:
    return f"/api/v1/archives/{code}/admissions"
