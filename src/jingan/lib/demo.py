"""Demo data declarations: steps that load data and the accounts they create.

A context lists ``STEPS`` (``DemoStep``) and ``ACCOUNTS`` (``DemoAccount``) in its
``demo.py``. ``jingan demo-data`` runs every step in INSTALLED_APPS order with one
progress bar; each step must be idempotent (a second run adds nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Scale = Literal["tiny", "small", "district"]
SCALES: tuple[Scale, ...] = ("tiny", "small", "district")


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str
    surface: Literal["console", "h5", "screen"]
    note: str = ""


@dataclass(frozen=True)
class DemoStep:
    """``size(scale)`` items of work; ``run(scale, advance)`` calls ``advance(n)`` as it goes."""

    name: str
    title: str
    size: Callable[[Scale], int]
    run: Callable[[Scale, Callable[[int], None]], None]
