"""The ``jingan`` command line, driven as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from jingan.config.cli import _add_context_commands, cli
from jingan.config.environment import PROJECT_ROOT
from jingan.core.accounts.models import User
from jingan.testing.servers import free_port

JINGAN = Path(sys.executable).parent / "jingan"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _add_context_commands(cli)
    return CliRunner()


def test_help_lists_the_stable_commands(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ["serve", "web", "worker", "demo-data", "openapi", "manage"]:
        assert f"  {command} " in result.output


@pytest.mark.parametrize("command", ["serve", "web", "worker", "demo-data", "openapi"])
def test_every_command_explains_itself(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: cli " + command in result.output or f"Usage: jingan {command}" in result.output
    assert len(result.output.splitlines()) > 4


@pytest.mark.django_db
def test_demo_data_is_idempotent(runner: CliRunner) -> None:
    first = runner.invoke(cli, ["demo-data", "--scale", "tiny"])
    assert first.exit_code == 0, first.output
    assert "Demo data ready" in first.output
    usernames = sorted(User.objects.values_list("username", flat=True))
    second = runner.invoke(cli, ["demo-data", "--scale", "tiny"])
    assert second.exit_code == 0, second.output
    # tiny: the five district roles, plus the first two institutions' admins, reviewers,
    # checkers, e-prescription doctors and pharmacists.
    assert (
        sorted(User.objects.values_list("username", flat=True))
        == usernames
        == [
            "auditor",
            "dataops",
            "jg001-admin",
            "jg001-checker",
            "jg001-doctor",
            "jg001-pharmacist",
            "jg001-reviewer",
            "jg002-admin",
            "jg002-checker",
            "jg002-doctor",
            "jg002-pharmacist",
            "jg002-reviewer",
            "regulator",
            "secadmin",
            "sysadmin",
        ]
    )
    regulator = User.objects.get(username="regulator")
    assert regulator.has_perm("runtime.view_platform_status")
    assert not regulator.has_perm("institutions.change_institution")
    assert not User.objects.filter(is_superuser=True).exists()
    assert all(user.has_totp for user in User.objects.all())


def test_demo_data_rejects_an_unknown_scale(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["demo-data", "--scale", "huge"])
    assert result.exit_code == 2
    assert "'huge' is not one of 'tiny', 'small', 'district'" in result.output


def test_openapi_check_detects_drift(runner: CliRunner, tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    drift = runner.invoke(cli, ["openapi", "--check", "--path", str(stale)])
    assert drift.exit_code == 1
    assert "openapi.json is out of date" in drift.output
    assert runner.invoke(cli, ["openapi", "--write", "--path", str(stale)]).exit_code == 0
    assert runner.invoke(cli, ["openapi", "--check", "--path", str(stale)]).exit_code == 0


def test_bad_environment_stops_the_command_line_with_a_clear_message(tmp_path: Path) -> None:
    env = {**_clean_env(tmp_path), "JINGAN_HUEY_WORKERS": "0"}
    result = subprocess.run(
        [str(JINGAN), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "JINGAN_HUEY_WORKERS: Input should be greater than or equal to 1" in result.stderr


def _clean_env(data_dir: Path) -> dict[str, str]:
    """An embedded-mode environment, whatever mode the suite itself runs in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JINGAN_", "DJANGO_"))}
    return {**env, "JINGAN_DATA_DIR": str(data_dir)}


def test_serve_runs_web_and_worker_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    subprocess.run(
        [str(JINGAN), "manage", "migrate", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    # As `make run` does: serve refuses to start without a signed release manifest (CR-4).
    subprocess.run(
        [str(JINGAN), "release", "sign"], env=env, check=True, capture_output=True, timeout=120
    )
    port = free_port()
    process = subprocess.Popen(
        [str(JINGAN), "serve", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        assert health is not None, "serve never answered /healthz"
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["mode"] == "embedded"
        assert body["components"]["worker"]["ok"] is True
        assert body["components"]["broker"]["facts"]["backend"] == "SqliteStorage"
        landing = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert landing.status_code == 200
        assert "健康静安" in landing.text
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "发布清单校验通过" in output
    assert "Stopped." in output


def test_serve_on_a_taken_port_says_so_before_starting_anything(tmp_path: Path) -> None:
    import socket

    env = _clean_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(JINGAN), "serve", "--dev-checkout", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "running at" not in done.stdout
    assert "simulator" not in done.stdout + done.stderr
