"""Long-running background components that ``jingan serve`` runs beside the web server.

A context lists its components in ``<app>/background.py`` as ``COMPONENTS``. ``serve``
runs each in its own thread and sets ``stop`` on shutdown; a component must return soon
after ``stop`` is set (wait on it rather than sleeping).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackgroundComponent:
    """A named loop that runs until ``stop`` is set."""

    name: str
    title: str
    run: Callable[[threading.Event], None]


class ComponentRunner:
    """Runs components in daemon threads and stops them together."""

    def __init__(self, components: list[BackgroundComponent]) -> None:
        self.components = components
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for component in self.components:
            thread = threading.Thread(
                target=self._guarded, args=(component,), name=component.name, daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _guarded(self, component: BackgroundComponent) -> None:
        try:
            component.run(self.stop)
        except Exception:
            logger.exception("background component %s crashed", component.name)

    def shutdown(self, timeout: float = 10.0) -> list[str]:
        """Ask every component to stop; return the names of those still running after ``timeout``."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=timeout / max(len(self.threads), 1))
        return [thread.name for thread in self.threads if thread.is_alive()]
