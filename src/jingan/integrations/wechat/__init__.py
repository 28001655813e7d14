"""WeChat Official Account platform: port, wechatpy adapter and a local simulator."""

from __future__ import annotations

import threading

from jingan.integrations.wechat.port import (
    WeChatConfig,
    WeChatError,
    WeChatIdentity,
    WeChatPort,
)

__all__ = ["WeChatConfig", "WeChatError", "WeChatIdentity", "WeChatPort", "get_wechat"]

_adapters: dict[WeChatConfig, WeChatPort] = {}
_lock = threading.Lock()


def get_wechat(config: WeChatConfig) -> WeChatPort:
    """The adapter for ``config``, kept per configuration so the access token is reused."""
    # The access token is rate limited by WeChat (2000 a day): never fetch one per call.
    with _lock:
        adapter = _adapters.get(config)
        if adapter is None:
            from jingan.integrations.wechat.adapter import WechatpyAdapter

            adapter = _adapters[config] = WechatpyAdapter(config)
        return adapter
