"""Fixtures of the message-centre tests: the WeChat simulator as the port's far end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jingan.integrations.wechat.simulator import WeChatSimulator, running_wechat_simulator


@pytest.fixture
def wechat(settings: Any) -> Iterator[WeChatSimulator]:
    """A WeChat simulator on loopback, configured as the platform's official account."""
    with running_wechat_simulator() as simulator:
        settings.WECHAT = {
            "app_id": simulator.app_id,
            "app_secret": simulator.app_secret,
            "api_base_url": simulator.url,
            "oauth_base_url": simulator.url,
        }
        yield simulator


def id_number(sequence: int) -> str:
    """A valid GB 11643 ID number (Jing'an, born 1980-01-01), distinct per ``sequence``."""
    body = f"31010619800101{sequence:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


@pytest.fixture
def person(make_resident: Any) -> Callable[[str], Any]:
    """``person(name)``: a verified resident with a fresh, valid ID number."""
    counter = iter(range(1, 1000))

    def _make(name: str) -> Any:
        return make_resident(name=name, id_number=id_number(next(counter)))

    return _make


@pytest.fixture
def follower(person: Callable[[str], Any], wechat: WeChatSimulator) -> Any:
    """A verified resident who follows the official account in the simulator."""
    resident = person("王小明")
    wechat.add_user("王小明", openid=resident.openid)
    return resident
