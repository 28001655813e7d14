"""The external systems residents need, built from the settings at call time."""

from __future__ import annotations

from django.conf import settings

from jingan.integrations.regional import IdentityPort, RegionalConfig, get_identity
from jingan.integrations.wechat import WeChatConfig, WeChatPort, get_wechat


def wechat_port() -> WeChatPort:
    """The WeChat official account configured in ``settings.WECHAT``."""
    return get_wechat(
        WeChatConfig(
            app_id=settings.WECHAT["app_id"],
            app_secret=settings.WECHAT["app_secret"],
            api_base_url=settings.WECHAT["api_base_url"],
            oauth_base_url=settings.WECHAT["oauth_base_url"],
        )
    )


def identity_port() -> IdentityPort:
    """The regional platform's identity service configured in ``settings.REGIONAL``."""
    return get_identity(RegionalConfig(api_base_url=settings.REGIONAL["api_base_url"]))
