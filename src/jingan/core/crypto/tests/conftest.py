"""Every crypto test runs against its own throw-away keyring, never the data dir's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jingan.core.crypto.keyring import Keyring, use_keyring


@pytest.fixture(autouse=True)
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    ring = Keyring(tmp_path / "keyring.json", may_create=True)
    with use_keyring(ring):
        yield ring
