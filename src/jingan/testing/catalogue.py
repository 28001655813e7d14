"""The requirement catalogue kept in the repository (docs/requirements.toml)."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from jingan.config.environment import PROJECT_ROOT

CATALOGUE_PATH = PROJECT_ROOT / "docs" / "requirements.toml"
SHARED_REQUIREMENTS = PROJECT_ROOT.parent / "shared" / "REQUIREMENTS.md"

_TABLE_ROW = re.compile(r"^\| ([A-Z]+-[A-Z]*\d+) \|", re.MULTILINE)
_INLINE_ITEM = re.compile(r"(?:^|: |; )((?:SP|SC)-\d+) ", re.MULTILINE)


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, str]:
    """ID -> one-line title, in catalogue order."""
    with path.open("rb") as handle:
        areas = tomllib.load(handle)
    return {key: title for area in areas.values() for key, title in area.items()}


def ids_in_requirements_document(text: str) -> list[str]:
    """Capability IDs of the district's REQUIREMENTS.md: table rows plus the inline SP/SC items."""
    found = [(match.start(), match.group(1)) for match in _TABLE_ROW.finditer(text)]
    found += [(match.start(1), match.group(1)) for match in _INLINE_ITEM.finditer(text)]
    ordered: list[str] = []
    for _, identifier in sorted(found):
        if identifier not in ordered:
            ordered.append(identifier)
    return ordered
