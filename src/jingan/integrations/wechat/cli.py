"""``jingan simulate``: run the external-system simulators standalone, in the foreground."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import click


def _players() -> dict[str, tuple[str, Callable[..., None]]]:
    """Simulations that play scenarios through running simulators (``simulators.PLAYERS``)."""
    from jingan.lib.discovery import declared

    return {name: (title, run) for _, (name, title, run) in declared("simulators", "PLAYERS")}


@click.command()
@click.argument(
    "which",
    type=click.Choice(
        ["wechat", "regional", "archives", "erx-centre", "feeds", "all", *_players()]
    ),
    default="all",
)
@click.option("--host", default=None, help="Address to listen on (default: from the settings).")
@click.option(
    "--port",
    default=None,
    type=int,
    help="Port (default: from JINGAN_WECHAT_API_URL / JINGAN_REGIONAL_API_URL / "
    "JINGAN_ARCHIVE_API_URL / JINGAN_ERX_CENTRE_URL); with 'all', the regional, archive and "
    "declared simulators take the next ports.",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=3600),
    help="clinic-day: simulated seconds per real second.",
)
@click.option(
    "--visits-per-hour",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1, max=100000),
    help="clinic-day: visits arriving per simulated hour, district-wide.",
)
@click.option(
    "--hours",
    default=8.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=24),
    help="clinic-day: length of the simulated day.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="clinic-day: random seed.")
@click.option(
    "--outage/--no-outage",
    default=True,
    show_default=True,
    help="clinic-day: take one institution's HIS down for 20 simulated minutes.",
)
def simulate(
    which: str,
    host: str | None,
    port: int | None,
    speed: float,
    visits_per_hour: float,
    hours: float,
    seed: int,
    outage: bool,
) -> None:
    """Run the WeChat, regional platform, archive and/or declared simulators until Ctrl-C.

    Besides the three built in here, contexts declare simulators in ``simulators.py``
    (``SIMULATORS``, e.g. the e-prescription centre ``erx-centre``, the HIS systems
    ``his``) and players (``PLAYERS``, e.g. ``clinic-day``, which plays a day of
    outpatient visits through the HIS simulators); integrations may not import those
    contexts, so they are found through ``lib.discovery``.
    """
    players = _players()
    if which in players:
        players[which][1](
            speed=speed, visits_per_hour=visits_per_hour, hours=hours, seed=seed, outage=outage
        )
        return
    from django.conf import settings

    from jingan.integrations.regional.simulator import RegionalSimulator
    from jingan.integrations.wechat.simulator import WeChatSimulator, demo_users
    from jingan.lib.simulator import SimulatorServer

    servers: list[tuple[str, SimulatorServer]] = []
    if which in ("wechat", "all"):
        address = urlsplit(settings.WECHAT["api_base_url"])
        wechat = WeChatSimulator(
            app_id=settings.WECHAT["app_id"],
            app_secret=settings.WECHAT["app_secret"],
            users=demo_users(),
        )
        wechat.bind(host or address.hostname or "127.0.0.1", port or address.port or 8101)
        servers.append(("微信公众平台模拟器", wechat))
    if which in ("regional", "all"):
        address = urlsplit(settings.REGIONAL["api_base_url"])
        regional_port = (port + 1 if which == "all" else port) if port else None
        regional = RegionalSimulator()
        regional.bind(
            host or address.hostname or "127.0.0.1", regional_port or address.port or 8102
        )
        servers.append(("区域卫生平台模拟器", regional))
    if which in ("archives", "all"):
        from pathlib import Path

        from jingan.integrations.archives.simulator import ArchiveSimulator, credentials_from_file

        address = urlsplit(str(settings.ARCHIVES["api_base_url"]))
        archive_port = (port + 2 if which == "all" else port) if port else None
        archives = ArchiveSimulator(
            platform_url=str(settings.ARCHIVES["platform_url"]),
            credentials=credentials_from_file(
                Path(str(settings.ARCHIVES["simulator_credentials"]))
            ),
        )
        archives.bind(host or address.hostname or "127.0.0.1", archive_port or address.port or 8103)
        servers.append(("病案归档系统模拟器（18 家住院机构）", archives))
    from jingan.lib.discovery import declared

    for index, (_, (name, title, factory, default_base_url)) in enumerate(
        declared("simulators", "SIMULATORS")
    ):
        if which not in (name, "all"):
            continue
        address = urlsplit(str(default_base_url))
        declared_port = (port + 3 + index if which == "all" else port) if port else None
        server = factory()
        server.bind(host or address.hostname or "127.0.0.1", declared_port or address.port or 80)
        servers.append((title, server))
    for title, server in servers:
        click.echo(f"{title}: {server.url}")
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for _, s in servers]
    for thread in threads:
        thread.start()
    click.echo("Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for _, server in servers:
            server.stop()
        click.echo("Stopped.")


COMMANDS = [simulate]
