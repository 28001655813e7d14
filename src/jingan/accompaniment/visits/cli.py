"""``jingan event-centre``: run sub-centres of the visit event centre as their own process."""

from __future__ import annotations

import signal
import threading

import click


@click.command("event-centre")
@click.option(
    "--partitions",
    default="all",
    show_default=True,
    help="Partitions this process may hold, e.g. 0-7 or 0-3,6 (it takes its fair share "
    "of them by lease; the other sub-centres take the rest).",
)
@click.option("--name", default=None, help="Sub-centre name (default host:pid:random).")
@click.option(
    "--inputs/--no-inputs",
    default=False,
    show_default=True,
    help="Also run the inputs here: HL7 listener, HIS pollers and the AMQP consumer.",
)
@click.option(
    "--drain",
    is_flag=True,
    default=False,
    help="Fold every pending event once and exit (takes all leases while it runs).",
)
def event_centre(partitions: str, name: str | None, inputs: bool, drain: bool) -> None:
    """Run a sub-centre of the visit event centre until Ctrl-C or SIGTERM."""
    from jingan.accompaniment.visits.centre.processor import drain as drain_all
    from jingan.accompaniment.visits.centre.subcentre import SubCentre, parse_partitions
    from jingan.lib.background import ComponentRunner

    if drain:
        count = drain_all(owner=name or "cli-drain")
        click.echo(f"已处理 {count} 个事件")
        return
    try:
        allowed = parse_partitions(partitions)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--partitions") from None
    centre = SubCentre(name=name, allowed=allowed)
    stop = threading.Event()
    components = []
    if inputs:
        from jingan.accompaniment.visits.background import input_components

        components = input_components()
    runner = ComponentRunner(components)
    runner.start()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    click.echo(
        f"事件子中心 {centre.name} 运行中（可处理分区 {partitions}"
        + (f"，另含 {', '.join(c.name for c in components)}" if components else "")
        + "）；Ctrl-C 停止"
    )
    try:
        centre.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        runner.shutdown()
        click.echo(f"已停止，共处理 {centre.processed} 个事件")


COMMANDS = [event_centre]
