"""Resident fixtures: residents, a client signed in as one, and both simulators wired in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from jingan.integrations.regional.simulator import RegionalSimulator, running_regional_simulator
from jingan.integrations.wechat.simulator import WeChatSimulator, running_wechat_simulator

# Valid GB 11643 numbers of the regional simulator's population register.
DEFAULT_NAME = "王秀英"
DEFAULT_ID_NUMBER = "310106194503121002"


@pytest.fixture
def make_resident(db: None) -> Callable[..., Any]:
    """Create a resident; verified ones carry the given name and ID number."""
    from django.utils import timezone

    from jingan.core.residents.identity import check_id_number
    from jingan.core.residents.models import Resident
    from jingan.integrations.wechat.simulator import new_openid

    def _make(
        name: str = DEFAULT_NAME,
        id_number: str = DEFAULT_ID_NUMBER,
        verified: bool = True,
        *,
        openid: str | None = None,
        nickname: str = "测试居民",
        mobile: str = "",
    ) -> Any:
        resident = Resident(openid=openid or new_openid(), nickname=nickname)
        if verified:
            facts = check_id_number(id_number)
            resident.name = name
            resident.id_number = facts.id_number
            resident.birth_date = facts.birth_date
            resident.sex = facts.sex
            resident.mobile = mobile
            resident.is_verified = True
            resident.verified_at = timezone.now()
            resident.verification_score = 0.93
            resident.verification_reference = "TEST000001"
        resident.save()
        return resident

    return _make


@pytest.fixture
def resident_client() -> Callable[[Any], Client]:
    """A test client whose session belongs to ``resident``."""
    from jingan.core.residents.auth import SESSION_KEY

    def _client(resident: Any) -> Client:
        client = Client()
        session = client.session
        session[SESSION_KEY] = resident.pk
        session.save()
        return client

    return _client


@dataclass(frozen=True)
class Simulators:
    wechat: WeChatSimulator
    regional: RegionalSimulator


@pytest.fixture
def simulators(settings: Any) -> Iterator[Simulators]:
    """Both simulators on free loopback ports, with the settings pointing at them."""
    app_id, secret = "wxtest0residents01", "residents-test-secret"
    with (
        running_wechat_simulator(app_id=app_id, app_secret=secret) as wechat,
        running_regional_simulator() as regional,
    ):
        settings.WECHAT = {
            "app_id": app_id,
            "app_secret": secret,
            "api_base_url": wechat.url,
            "oauth_base_url": wechat.url,
        }
        settings.REGIONAL = {"api_base_url": regional.url}
        settings.SIMULATED_INTEGRATIONS = True
        yield Simulators(wechat=wechat, regional=regional)
