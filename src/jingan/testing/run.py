"""``make test``: the whole suite, with browser tests whenever Chromium is installed."""

from __future__ import annotations

import os
import sys

import pytest

from jingan.testing.chromium import CHROMIUM, chromium_available


def main(argv: list[str]) -> int:
    args = list(argv)
    mode = "services" if os.environ.get("JINGAN_DATABASE_URL") else "embedded"
    print(f"jingan test suite: {mode} mode", flush=True)
    if chromium_available():
        print(f"Browser tests: on (Chromium at {CHROMIUM})", flush=True)
    else:
        print(
            f"Browser tests: OFF - Chromium is not installed at {CHROMIUM}. "
            "Install it with `sudo apt-get install chromium` to run them.",
            flush=True,
        )
        args = ["-m", "not browser", *args]
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
