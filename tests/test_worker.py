"""The task broker carries a task from producer to a real consumer (SQLite or Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def test_the_consumer_knows_every_task_before_any_page_imports_one() -> None:
    # A fresh process, as `jingan worker` starts: messages queued by the web processes
    # (WeChat deliveries, copy builds) must find their task in the consumer's registry.
    script = (
        "import django; django.setup()\n"
        "from jingan.config.cli import _consumer\n"
        "from huey.contrib.djhuey import HUEY\n"
        "_consumer(1)\n"
        "print('\\n'.join(sorted(HUEY._registry._registry)))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jingan.config.settings_test"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = done.stdout.split()
    for task in (
        "messaging.deliver_outbox_entry",
        "medical_records.prepare_copy",
        "medical_records.poll_archive_source",
    ):
        assert any(name.endswith(task) for name in names), (task, names)
