"""Where Debian's Chromium lives and the flags it needs here (DESIGN.md §8)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("JINGAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Video tests: fake camera and microphone, and WebRTC between two pages on 127.0.0.1.
VIDEO_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


def chromium_available() -> bool:
    return CHROMIUM.exists()
