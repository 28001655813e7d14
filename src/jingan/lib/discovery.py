"""Find what each installed app declares in a conventional module.

Contexts declare command-line commands (``cli.py: COMMANDS``), background components
(``background.py: COMPONENTS``), demo-data steps (``demo.py: STEPS``), console menu
entries (``navigation.py: MENU``) and so on, and the wiring collects them here. A
context adds to the platform without any central list being edited.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from typing import Any

from django.apps import apps


def declared(module_name: str, attribute: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(app_label, item)`` for every item of ``<app>.<module_name>.<attribute>``.

    Apps are visited in INSTALLED_APPS order; an app without the module is skipped, but
    an import error inside an existing module propagates, since hiding it would hide a bug.
    """
    for config in apps.get_app_configs():
        full_name = f"{config.name}.{module_name}"
        if importlib.util.find_spec(full_name) is None:
            continue
        module = importlib.import_module(full_name)
        for item in getattr(module, attribute, ()):
            yield config.label, item
