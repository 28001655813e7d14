"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from jingan.testing.servers import running_asgi

DEFAULT_PASSWORD = "Test#Password2026"


@pytest.fixture
def make_staff(db: None) -> Callable[..., Any]:
    """Create a staff user holding exactly the given permissions ("app_label.codename")."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    def _make(
        username: str = "staff", *, permissions: tuple[str, ...] = (), superuser: bool = False
    ) -> Any:
        user = get_user_model().objects.create_user(
            username=username, password=DEFAULT_PASSWORD, is_staff=True, is_superuser=superuser
        )
        for dotted in permissions:
            app_label, codename = dotted.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return _make


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A test client signed in as ``user``."""

    def _client(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _client


@pytest.fixture
def fresh_worker(db: None) -> None:
    """A worker heartbeat just now, as a running consumer would leave it."""
    from jingan.core.public import record_heartbeat

    record_heartbeat(component="worker")


@pytest.fixture
def live_server_url(transactional_db: None) -> Iterator[str]:
    """The whole ASGI application (HTTP and websockets) on a loopback port."""
    from jingan.config.asgi import application

    with running_asgi(application) as url:
        yield url
