"""``make test``: the whole suite, with browser tests whenever Chromium is installed."""

from __future__ import annotations

import os
import sys

import pytest

from jingan.testing.chromium import chromium_available


def main(argv: list[str]) -> int:
    args = list(argv)
    "services" if os.environ.get("JINGAN_DATABASE_URL") else "embedded"
    if chromium_available():
        pass
    else:
        args = ["-m", "not browser", *args]
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
