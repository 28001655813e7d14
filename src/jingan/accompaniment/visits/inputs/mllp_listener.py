"""Our HL7 v2 listener (dialect A): HIS interface engines connect and send over MLLP.

Each frame is decoded by its MSH-18 and handed to ``journal.take`` (channel ``hl7``,
source ``his-a:<MSH-4>``); the answer is an ACK: AA when the events are in the journal
(or were already: a repeated MSH-10 is a no-op), AE with an ERR segment when the message
was rejected (``take`` keeps it with the reason, replayable from the console), AR for a
frame that is not an HL7 message at all or arrived broken (kept too, as far as it
could be read). An ``NMQ^N01`` is a HIS checking on us: AA, nothing journaled. When the
database itself fails the message is not acknowledged and the connection is closed, so
the interface engine keeps the message and sends it again.

MLLP has no authentication of its own: the listener binds to ``settings.VISITS
["mllp_listen"]`` (loopback by default) and is meant to be reached only over the
hospital link (VPN or private line), as HL7 interfaces are.
"""

from __future__ import annotations

import logging
import threading

from django import db
from django.conf import settings

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.connections import count_received
from jingan.integrations.his.hl7.codec import build_ack, parse_message, read_header
from jingan.integrations.his.hl7.mllp import InboundFrame, MllpServer, split_endpoint
from jingan.integrations.his.port import MessageRejected
from jingan.integrations.his.simulation import source_for
from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)

__all__ = ["COMPONENT", "MllpListener", "handle_frame", "run"]

CHANNEL = "hl7"
# Messages a HIS sends to check the link; answered, never journaled.
LINK_CHECKS = frozenset({"NMQ^N01", "NMQ^N02"})


def handle_frame(inbound: InboundFrame) -> str | None:
    """The ACK for one received frame (``""``: no answer; ``None``: close unanswered)."""
    db.close_old_connections()
    try:
        header = read_header(inbound.text)
    except MessageRejected as error:
        journal.reject(channel=CHANNEL, raw=inbound.text, error=inbound.error or error)
        return build_ack(None, "AR", inbound.error or error)
    source = source_for("A", header.sending_facility) if header.sending_facility else ""
    if inbound.error is not None:
        journal.reject(
            channel=CHANNEL,
            raw=inbound.text,
            error=inbound.error,
            source=source,
            institution_code=header.sending_facility,
        )
        return build_ack(header, "AR", inbound.error)
    if header.message_type.split("^")[0] == "ACK":
        return ""  # an acknowledgement is never answered
    if header.message_type in LINK_CHECKS:
        return build_ack(header, "AA")
    result = journal.take(
        channel=CHANNEL,
        raw=inbound.text,
        parse=parse_message,
        source=source,
        institution_code=header.sending_facility,
    )
    if result.rejected is not None:
        return build_ack(header, "AE", result.rejected)
    if result.accepted:
        count_received(accepted=result.accepted, code=header.sending_facility)
    logger.debug(
        "HL7 %s from %s: %d accepted, %d duplicate",
        header.control_id,
        header.sending_facility,
        result.accepted,
        result.duplicates,
    )
    return build_ack(header, "AA")


def _close_database_connections() -> None:
    # Each connection has a thread of its own; its database connection ends with it.
    db.connections.close_all()


class MllpListener:
    """The platform's MLLP server: ``start()``, ``stop()``, ``address``."""

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        if host is None or port is None:
            default_host, default_port = split_endpoint(str(settings.VISITS["mllp_listen"]))
            host = default_host if host is None else host
            port = default_port if port is None else port
        self._server = MllpServer(
            host,
            port,
            handle_frame,
            name="his-mllp-listener",
            on_connection_end=_close_database_connections,
        )

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def endpoint(self) -> str:
        return self._server.endpoint

    def start(self) -> None:
        self._server.start()
        logger.info("HL7 MLLP listener on %s", self._server.endpoint)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MllpListener:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run(stop: threading.Event) -> None:
    """Serve until ``stop``; if the port is taken (another process serves it), retry quietly."""
    listener = MllpListener()
    announced = False
    while not stop.is_set():
        try:
            listener.start()
        except OSError as error:
            if not announced:
                logger.warning(
                    "HL7 MLLP listener cannot bind %s (%s); retrying",
                    settings.VISITS["mllp_listen"],
                    error,
                )
                announced = True
            stop.wait(5)
            continue
        try:
            stop.wait()
        finally:
            listener.stop()
        return


COMPONENT = BackgroundComponent("his-mllp-listener", "HL7 监听（MLLP）", run)
