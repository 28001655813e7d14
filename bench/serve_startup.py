"""Time to first healthy answer and idle memory of `jingan serve`, against a bare Django process.

Baseline (same run): a Python process that only sets Django up with the same settings,
so the ratio shows what the web server, worker and components add on top of Django.

    .venv/bin/python bench/serve_startup.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
IDLE_SECONDS = 5.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB (from /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JINGAN_")}
        env["JINGAN_DATA_DIR"] = data_dir
        subprocess.run(
            [BIN / "jingan", "manage", "migrate", "--noinput"],
            env=env,
            check=True,
            capture_output=True,
        )
        # serve verifies the signed release manifest at start-up; that time is measured too.
        subprocess.run(
            [BIN / "jingan", "release", "sign"], env=env, check=True, capture_output=True
        )

        baseline = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import django, os, time; os.environ['DJANGO_SETTINGS_MODULE']='jingan.config.settings'; django.setup(); print('ready', flush=True); time.sleep(60)",
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert baseline.stdout is not None
        baseline.stdout.readline()
        time.sleep(IDLE_SECONDS)
        baseline_rss = rss_mb(baseline.pid)
        baseline.kill()

        port = free_port()
        started = time.perf_counter()
        serve = subprocess.Popen(
            [BIN / "jingan", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        healthy_after = None
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    if response.status == 200:
                        healthy_after = time.perf_counter() - started
                        break
            except OSError:
                time.sleep(0.05)
        time.sleep(IDLE_SECONDS)
        serve_rss = rss_mb(serve.pid)
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)

    if healthy_after is None:
        raise SystemExit("jingan serve never became healthy")
    print(f"jingan serve: healthy after {healthy_after:.2f} s, idle RSS {serve_rss:.1f} MiB")
    print(f"baseline (bare django.setup()): idle RSS {baseline_rss:.1f} MiB")
    print(f"ratio serve/baseline RSS: {serve_rss / baseline_rss:.2f}")


if __name__ == "__main__":
    main()
