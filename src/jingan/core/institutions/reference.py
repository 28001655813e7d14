"""The reference data files shipped in ``data/`` (the tender's institutions, departments)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def _load(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as handle:
        return tomllib.load(handle)


def tender_institutions() -> list[dict[str, Any]]:
    """The 26 institutions of the tender, in its order (loaded by migration 0002)."""
    return list(_load("institutions.toml")["institution"])


def standard_departments(*, institution_code: str, kind: str) -> list[dict[str, Any]]:
    """The standard department set for an institution: its own list, else its kind's."""
    data = _load("departments.toml")
    own = data.get("institution", {}).get(institution_code)
    return list(own if own is not None else data["kind"].get(kind, []))
