"""/healthz: 200 with each component's state when healthy, 503 naming the failed part."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jingan.core.runtime.models import Heartbeat

COMPONENTS = {"database", "cache", "broker", "worker", "data_dir"}


@pytest.mark.django_db
def test_healthz_is_200_when_every_component_is_healthy(client: Client, fresh_worker: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["components"]) == COMPONENTS
    assert all(component["ok"] for component in body["components"].values())
    assert body["components"]["worker"]["facts"]["alive_instances"] == 1
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_names_the_worker_when_it_never_beat(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["worker"]
    assert body["components"]["worker"]["detail"] == "后台任务进程从未上报心跳"


@pytest.mark.django_db
def test_healthz_names_the_worker_when_its_heartbeat_is_stale(
    client: Client, fresh_worker: None
) -> None:
    Heartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["worker"]
    assert response.json()["components"]["worker"]["detail"].startswith("后台任务进程心跳已停止")


@pytest.mark.django_db
def test_healthz_names_the_cache_when_it_is_unreachable(
    client: Client, fresh_worker: None, settings: object
) -> None:
    # A Redis cache on a loopback port where nothing listens: a real connection failure.
    settings.CACHES = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"]
    assert body["components"]["cache"]["detail"] == "ConnectionError: 不可用"
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_healthz_only_answers_get(client: Client, fresh_worker: None) -> None:
    assert client.post("/healthz").status_code == 405
