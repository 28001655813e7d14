from __future__ import annotations

from collections.abc import Iterator

import pytest

from jingan.integrations.wechat.port import WeChatConfig
from jingan.integrations.wechat.simulator import WeChatSimulator, running_wechat_simulator

APP_ID = "wxtest000000000001"
APP_SECRET = "test-secret-0123456789"


@pytest.fixture
def simulator() -> Iterator[WeChatSimulator]:
    with running_wechat_simulator(app_id=APP_ID, app_secret=APP_SECRET) as running:
        yield running


@pytest.fixture
def config(simulator: WeChatSimulator) -> WeChatConfig:
    return WeChatConfig(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        api_base_url=simulator.url,
        oauth_base_url=simulator.url,
        timeout_seconds=3.0,
    )
