"""Declarations of per-institution settings (MR-A8) that any app may hang options on.

An app lists ``INSTITUTION_SETTINGS`` (``SettingSpec``) in its ``institution_settings.py``;
the dictionary context stores each institution's chosen values and renders one form for
all of them. Keys are dotted and owned by the declaring app, e.g.
``medical_records.review_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SettingKind = Literal["choice", "bool", "int", "text"]
SettingValue = str | bool | int


@dataclass(frozen=True)
class SettingSpec:
    """One setting an institution may choose; ``default`` applies until it does."""

    key: str
    title: str
    help_text: str
    choices: tuple[tuple[str, str], ...] | None
    default: SettingValue
    kind: SettingKind = "choice"

    def __post_init__(self) -> None:
        if self.kind == "choice":
            values = [value for value, _ in self.choices or ()]
            if self.default not in values:
                raise ValueError(f"{self.key}: default {self.default!r} is not one of {values}")
        elif self.choices is not None:
            raise ValueError(f"{self.key}: only choice settings have choices")

    def is_valid(self, value: object) -> bool:
        """Whether ``value`` (as stored in JSON) fits this setting."""
        if self.kind == "choice":
            return value in [choice for choice, _ in self.choices or ()]
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, str)

    def label_for(self, value: object) -> str:
        """The Chinese label of a stored value, for pages and audit details."""
        if self.kind == "choice":
            return dict(self.choices or ()).get(str(value), str(value))
        if self.kind == "bool":
            return "是" if value else "否"
        return str(value)
