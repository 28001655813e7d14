"""The task broker carries a task from producer to a real consumer (SQLite or Redis)."""

from __future__ import annotations

import signal
import threading
import time
import uuid

from django.conf import settings
from huey.utils import load_class


def test_a_real_consumer_runs_an_enqueued_task() -> None:
    # The suite runs tasks inline; here we build the configured broker for real.
    config = {k: v for k, v in settings.HUEY.items() if k not in {"immediate", "consumer"}}
    huey_class = load_class(config.pop("huey_class"))
    name = f"test-{uuid.uuid4().hex[:8]}"
    config.pop("name")
    if "filename" in config:
        config["filename"] = str(settings.DATA_DIR / f"{name}.sqlite3")
    huey = huey_class(name, **config)
    done = threading.Event()

    @huey.task()
    def multiply(a: int, b: int) -> int:
        done.set()
        return a * b

    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer.start()  # starts its threads; it also installs signal handlers, undone below
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    try:
        result = multiply(6, 7)
        assert done.wait(timeout=15), "the consumer did not run the task"
        assert result.get(blocking=True, timeout=15) == 42
        assert huey.pending_count() == 0
    finally:
        consumer.stop(graceful=True)
        huey.flush()
        time.sleep(0.05)
