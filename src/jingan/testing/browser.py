"""Playwright driving Debian's Chromium (DESIGN.md §8); screenshots under var/screenshots/."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jingan.config.environment import PROJECT_ROOT
from jingan.testing.chromium import CHROMIUM, CHROMIUM_FLAGS, VIDEO_FLAGS, chromium_available

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
PHONE = {
    "viewport": {"width": 375, "height": 667},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
BIG_SCREEN = {"viewport": {"width": 1920, "height": 1080}}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not chromium_available():
        # `make test` deselects browser tests and says so; this guards a bare `pytest`.
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM must still work here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS + VIDEO_FLAGS, headless=True
        )
        yield instance
        instance.close()


class PageProblems:
    """JavaScript errors and failed requests a page produced; a test asserts there are none."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"JS error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                self.errors.append(f"HTTP {response.status}: {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on("requestfailed", self._request_failed)

    def _request_failed(self, request: Any) -> None:
        failure = request.failure or ""
        # Chromium aborts what a page still loads when it navigates away (a font, an image)
        # and a navigation that turns into a download; a missing file is an HTTP 4xx above.
        if "ERR_ABORTED" in failure:
            return
        self.errors.append(f"failed: {request.url} {failure}".rstrip())


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., tuple[Any, PageProblems]]]:
    """``open_page(**context_options)`` -> (page, problems); closed after the test."""
    contexts: list[Any] = []

    def _open(**options: Any) -> tuple[Any, PageProblems]:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        problems = PageProblems()
        problems.watch(page)
        return page, problems

    yield _open
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    # A click that navigates may still be swapping documents: Chromium then refuses the
    # capture. Wait for the new page to load, and try once more if it was mid-swap.
    page.wait_for_load_state()
    try:
        page.screenshot(path=str(path), full_page=full_page)
    except Exception as error:
        if "Unable to capture screenshot" not in str(error):
            raise
        page.wait_for_load_state()
        page.screenshot(path=str(path), full_page=full_page)
    return path
