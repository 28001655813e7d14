"""The ``jingan`` command line.

Core commands live here; every context adds its own through ``COMMANDS`` in its
``cli.py`` (click commands or groups), collected when the command line starts.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

logger = logging.getLogger("jingan.cli")

ASGI_APP = "jingan.config.asgi:application"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingan.config.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        click.echo(click.style(str(error), fg="red"), err=True)
        sys.exit(2)


def _uvicorn_config(host: str, port: int, workers: int = 1) -> Any:
    import uvicorn

    return uvicorn.Config(
        ASGI_APP,
        host=host,
        port=port,
        workers=workers,
        lifespan="off",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_config=None,  # Django's LOGGING already configured the root logger
        ws="auto",
    )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn, or a clear error if it is taken."""
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listening = socket.socket(family, kind, protocol)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({error.strerror}); is another `jingan serve` "
            "running? Stop it or choose another --port"
        ) from None
    return listening


def _consumer(workers: int) -> Any:
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    # Every app's tasks module, as Huey's own run_huey does: a consumer that has not
    # imported a task cannot run it, and drops the queued message with an error.
    autodiscover_modules("tasks")
    import jingan.config.schedules  # noqa: F401  (registers the periodic jobs)

    return HUEY.create_consumer(workers=workers, worker_type="thread", periodic=True)


def _background_components() -> list[Any]:
    from jingan.lib.discovery import declared

    return [component for _, component in declared("background", "COMPONENTS")]


DEV_CHECKOUT_OPTION = click.option(
    "--dev-checkout",
    is_flag=True,
    default=False,
    help="Development checkout: start even if the signed release manifest is missing or "
    "stale (a warning is printed). Same as JINGAN_DEV_CHECKOUT=1.",
)


def _verify_release(dev_checkout: bool) -> None:
    """Refuse to start (exit 3) unless the installed files match the signed release manifest."""
    from jingan.core.crypto.manifest import (
        STARTUP_REFUSED_EXIT_CODE,
        ReleaseVerificationError,
        check_release_at_startup,
    )

    try:
        line = check_release_at_startup(dev_checkout=dev_checkout)
    except ReleaseVerificationError as error:
        click.echo(click.style(f"拒绝启动：{error}", fg="red"), err=True)
        sys.exit(STARTUP_REFUSED_EXIT_CODE)
    click.echo(line)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="jingan", prog_name="jingan")
def cli() -> None:
    """Jing'an convenient-care platform (健康静安 便捷就医 3.0).

    Settings come from JINGAN_* environment variables; without any, everything runs
    embedded under ./var (SQLite, in-process queue and cache).
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=None, type=int, help="Task worker threads (default JINGAN_HUEY_WORKERS)."
)
@DEV_CHECKOUT_OPTION
def serve(host: str, port: int, workers: int | None, dev_checkout: bool) -> None:
    """Run everything in one process: web (ASGI), task worker and background components.

    The web server runs in the main thread; the Huey consumer and every background
    component registered by a context run in their own threads. Ctrl-C stops them all.
    """
    import uvicorn
    from django.conf import settings

    from jingan.lib.background import ComponentRunner

    _verify_release(dev_checkout)
    # Take the port before starting anything else: a second `make run` says so at once
    # instead of starting workers and announcing an address it cannot serve.
    listening = _bind(host, port)
    consumer = _consumer(workers or settings.ENV.huey_workers)
    runner = ComponentRunner(_background_components())
    consumer.start()
    runner.start()
    names = ", ".join(["web", "worker", *(c.name for c in runner.components)])
    click.echo(f"健康静安 · 便捷就医 running at http://{host}:{port}/  ({names}); Ctrl-C to stop")
    try:
        uvicorn.Server(_uvicorn_config(host, port)).run(sockets=[listening])
    finally:
        click.echo("Stopping worker and background components ...")
        consumer.stop(graceful=True)
        stuck = runner.shutdown()
        if stuck:
            click.echo(f"Components still running at exit: {', '.join(stuck)}", err=True)
        click.echo("Stopped.")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Web worker processes.")
@DEV_CHECKOUT_OPTION
def web(host: str, port: int, workers: int, dev_checkout: bool) -> None:
    """Run only the web server (ASGI under uvicorn); stateless, run as many as needed."""
    import uvicorn

    _verify_release(dev_checkout)
    uvicorn.Server(_uvicorn_config(host, port, workers)).run()


@cli.command()
@click.option(
    "--workers", default=None, type=int, help="Worker threads (default JINGAN_HUEY_WORKERS)."
)
def worker(workers: int | None) -> None:
    """Run only the task worker (Huey consumer with the periodic schedule)."""
    from django.conf import settings

    _consumer(workers or settings.ENV.huey_workers).run()


@cli.command("demo-data")
@click.option(
    "--scale",
    type=click.Choice(["tiny", "small", "district"]),
    default="tiny",
    show_default=True,
    help="tiny: a few of everything; small: enough for tests and demos; district: full size.",
)
def demo_data(scale: str) -> None:
    """Load demo data for every context. Safe to run again: nothing is duplicated."""
    from jingan.lib.demo import DemoStep
    from jingan.lib.discovery import declared

    steps: list[DemoStep] = [step for _, step in declared("demo", "STEPS")]
    sizes = [step.size(scale) for step in steps]  # type: ignore[arg-type]
    # Demo steps talk to the in-process simulators hundreds of times; their journal
    # lines would bury the progress bar. Warnings and errors still show.
    logging.getLogger("jingan.outbound").setLevel(logging.WARNING)
    with click.progressbar(
        length=sum(sizes),
        label=f"Loading demo data ({scale})",
        show_pos=True,
        item_show_func=lambda title: title,
    ) as bar:
        for step in steps:
            bar.update(0, step.title)
            step.run(scale, bar.update)  # type: ignore[arg-type]
    click.echo(f"Demo data ready: {len(steps)} steps, {sum(sizes)} items.")


@cli.command()
@click.option("--check", "mode", flag_value="check", help="Fail when openapi.json is out of date.")
@click.option("--write", "mode", flag_value="write", default=True, help="Rewrite openapi.json.")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=None,
    help="Schema file (default: openapi.json at the project root).",
)
def openapi(mode: str, path: Path | None) -> None:
    """Write (or check) the committed OpenAPI schema of /api/v1."""
    from jingan.config.api import api
    from jingan.config.environment import PROJECT_ROOT

    target = path or PROJECT_ROOT / "openapi.json"
    current = (
        json.dumps(api.get_openapi_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )
    if mode == "check":
        if not target.exists() or target.read_text(encoding="utf-8") != current:
            raise click.ClickException(
                f"{target.name} is out of date: run `jingan openapi --write`"
            )
        click.echo(f"{target.name} matches the code.")
        return
    target.write_text(current, encoding="utf-8")
    click.echo(f"Wrote {target}")


@cli.command(
    "manage",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def manage(ctx: click.Context) -> None:
    """Run a Django management command (migrate, createsuperuser, shell, ...)."""
    from django.core.management import execute_from_command_line

    execute_from_command_line(["jingan manage", *ctx.args])


def _add_context_commands(group: click.Group) -> None:
    from jingan.lib.discovery import declared

    for label, command in declared("cli", "COMMANDS"):
        if group.commands.get(command.name, command) is not command:
            raise click.ClickException(f"command {command.name!r} of {label} is already taken")
        group.add_command(command)


def main() -> None:
    _setup_django()
    _add_context_commands(cli)
    cli(prog_name="jingan")
