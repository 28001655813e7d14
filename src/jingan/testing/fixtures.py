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
    """A staff user holding exactly the given permissions ("app_label.codename").

    The permissions come the way they do in production: through a role of their own,
    granted district-wide (``institution=None``) or for one institution (an
    ``Institution`` or its id), with MAC-sealed rows. ``roles`` grants built-in roles by
    code instead, e.g. ``roles=("auditor",)``.
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from jingan.core.access.models import Duty, Role, ScopeKind
    from jingan.core.access.services import create_role, grant_role

    def _make(
        username: str = "staff",
        *,
        permissions: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
        institution: Any = None,
        **fields: Any,
    ) -> Any:
        institution_id = getattr(institution, "pk", institution)
        fields.setdefault("institution_id", institution_id)
        user = get_user_model().objects.create_user(
            username=username,
            password=DEFAULT_PASSWORD,
            is_staff=True,
            must_change_password=False,
            password_changed_at=timezone.now(),
            **fields,
        )
        scope_kind = ScopeKind.DISTRICT if institution_id is None else ScopeKind.INSTITUTION
        if permissions:
            role = create_role(
                actor=None,
                code=f"test-{username}",
                name=f"测试角色 {username}",
                duty=Duty.BUSINESS,
                scope_kind=scope_kind,
                permissions=permissions,
            )
            grant_role(actor=None, user=user, role=role, institution_id=institution_id)
        for code in roles:
            role = Role.objects.get(code=code)
            scoped = role.scope_kind == ScopeKind.INSTITUTION
            grant_role(
                actor=None, user=user, role=role, institution_id=institution_id if scoped else None
            )
        return user

    return _make


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A test client signed in as ``user``, both factors done (as after the TOTP step)."""

    def _client(user: Any) -> Client:
        from jingan.core.accounts.models import StaffSession
        from jingan.core.accounts.sessions import mark_fully_authenticated

        client = Client()
        client.force_login(user, backend="jingan.core.access.backends.RoleBackend")
        session = client.session
        mark_fully_authenticated(session)
        session.save()
        StaffSession.objects.create(user=user, session_key=session.session_key or "")
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


# Reference data that data migrations load (the 26 institutions, the system
# dictionaries). Transactional tests flush every table afterwards; in production nothing
# flushes, and re-creating reference rows there would undo an administrator's deletions,
# so only the test run puts them back after each flush.
REFERENCE_DATA_MIGRATIONS = (
    "jingan.core.institutions.migrations.0002_district_institutions",
    "jingan.core.dictionary.migrations.0002_system_dictionaries",
    "jingan.medical_records.reference_data",
)


_historical_apps: list[Any] = []


def _reload_reference_data(sender: Any, **kwargs: Any) -> None:
    import importlib

    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is not with_models[-1]:
        return
    if not _historical_apps:
        # The loaders run against migration-state models, as in a migration (plain managers).
        _historical_apps.append(MigrationLoader(connection).project_state().apps)
    for name in REFERENCE_DATA_MIGRATIONS:
        importlib.import_module(name).load(_historical_apps[0], None)


@pytest.fixture(scope="session", autouse=True)
def _reference_data_survives_flushes() -> Iterator[None]:
    from django.db.models.signals import post_migrate

    post_migrate.connect(_reload_reference_data, dispatch_uid="jingan.testing.reference_data")
    yield
    post_migrate.disconnect(dispatch_uid="jingan.testing.reference_data")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Every test starts with an empty cache: throttles and alert de-duplication keys
    live there, and in services mode Redis would carry them over between tests and runs."""
    from django.core.cache import cache

    cache.clear()
