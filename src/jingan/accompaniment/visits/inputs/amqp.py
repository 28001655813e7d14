"""The message-queue half of the dual drive (VA-3): third-party systems notify node changes
through RabbitMQ.

Each message on the durable queue ``settings.VISITS["amqp_queue"]`` is one canonical
JSON message (``jingan.integrations.his.canonical``: one event or a list). The consumer
hands it to the journal (``take``) and acknowledges it only after the journal has
committed it; a message that cannot be read is kept as a rejected message (replayable
after a fix) and acknowledged, so it does not come back forever; when our database
fails, the message is returned to the queue (nack with requeue) and the consumer pauses.
When the broker goes away, the consumer reconnects with back-off.

Runs in ``jingan serve`` and ``jingan event-centre`` only when ``JINGAN_AMQP_URL`` is set.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection

from jingan.accompaniment.visits.centre import journal
from jingan.integrations.his.canonical import parse_canonical
from jingan.integrations.his.port import HisEvent, MessageRejected
from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)
# pika narrates every connection step at INFO; our own lines say what matters.
logging.getLogger("pika").setLevel(logging.WARNING)

__all__ = [
    "COMPONENTS",
    "AmqpConsumer",
    "ConsumerStats",
    "amqp_url",
    "publish",
    "publish_body",
]

CHANNEL = "amqp"
MAX_RECONNECT_SECONDS = 30.0
MAX_DATABASE_PAUSE_SECONDS = 30.0


def amqp_url(url: str | None = None) -> str:
    """``url``, or the configured ``JINGAN_AMQP_URL``; ``RuntimeError`` when neither is set."""
    if url:
        return url
    secret = settings.ENV.amqp_url
    if secret is None or not secret.get_secret_value():
        raise RuntimeError("JINGAN_AMQP_URL is not set: no message broker to talk to")
    return str(secret.get_secret_value())


def queue_name(queue: str | None = None) -> str:
    return queue or str(settings.VISITS["amqp_queue"])


def _parse(raw: str) -> list[HisEvent]:
    return parse_canonical(raw, default_source=CHANNEL)


@dataclass
class ConsumerStats:
    """What a consumer has done so far (messages, not events)."""

    taken: int = 0
    rejected: int = 0
    requeued: int = 0
    events: int = 0
    duplicates: int = 0
    connections: int = 0


class AmqpConsumer:
    """Consumes the visit-event queue into the journal; ``run`` until stopped."""

    def __init__(
        self, url: str | None = None, queue: str | None = None, *, prefetch: int = 50
    ) -> None:
        self.url = amqp_url(url)
        self.queue = queue_name(queue)
        self.prefetch = prefetch
        self.stats = ConsumerStats()
        self._database_failures = 0

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with back-off when the broker is lost."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self._session(stop, idle_seconds=None)
                    failures = 0
                except (pika.exceptions.AMQPError, OSError) as error:
                    failures += 1
                    delay = min(MAX_RECONNECT_SECONDS, 2.0 ** (failures - 1))
                    delay *= random.uniform(0.8, 1.2)
                    logger.warning(
                        "AMQP consumer lost the broker (%s); reconnecting in %.1f s",
                        type(error).__name__,
                        delay,
                    )
                    stop.wait(delay)
        finally:
            # The consumer runs in a thread of its own; its database connection ends with it.
            db_connection.close()

    def drain(self, *, idle_seconds: float = 1.0, timeout: float = 60.0) -> ConsumerStats:
        """Consume what is queued now: return once the queue stays quiet for ``idle_seconds``
        (or after ``timeout``). For tests, scripts and the benchmark."""
        stop = threading.Event()
        timer = threading.Timer(timeout, stop.set)
        timer.daemon = True
        timer.start()
        try:
            self._session(stop, idle_seconds=idle_seconds)
        finally:
            timer.cancel()
        return self.stats

    def handle(self, body: bytes) -> bool:
        """Take one message into the journal; True to acknowledge it, False to requeue it."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._keep(
                body.decode("utf-8", errors="replace"),
                MessageRejected("bad_encoding", "消息不是 UTF-8 编码的文本"),
            )
        try:
            result = journal.take(channel=CHANNEL, raw=text, parse=_parse, source=CHANNEL)
        except DatabaseError:
            logger.exception("AMQP message not taken: database error; returned to the queue")
            _drop_broken_database_connection()
            return False
        except Exception as error:
            # A bug of ours must not bounce the message between queue and consumer forever:
            # keep it (it can be replayed once fixed) and move on.
            logger.exception("AMQP message could not be processed")
            return self._keep(
                text,
                MessageRejected("internal_error", f"处理消息时出错：{type(error).__name__}"),
            )
        if result.rejected is not None:
            self.stats.rejected += 1
        else:
            self.stats.taken += 1
            self.stats.events += result.accepted
            self.stats.duplicates += result.duplicates
        return True

    # -- internals --------------------------------------------------------------------

    def _keep(self, raw: str, error: MessageRejected) -> bool:
        try:
            journal.reject(channel=CHANNEL, raw=raw, error=error, source=CHANNEL)
        except DatabaseError:
            logger.exception("AMQP message not kept: database error; returned to the queue")
            _drop_broken_database_connection()
            return False
        self.stats.rejected += 1
        return True

    def _session(self, stop: threading.Event, *, idle_seconds: float | None) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.stats.connections += 1
        try:
            channel = connection.channel()
            channel.queue_declare(queue=self.queue, durable=True)
            channel.basic_qos(prefetch_count=self.prefetch)
            logger.info("AMQP consumer listening on queue %s", self.queue)
            quiet_since = time.monotonic()
            for method, _properties, body in channel.consume(self.queue, inactivity_timeout=0.5):
                if method is None or body is None:
                    if stop.is_set():
                        break
                    if idle_seconds is not None and time.monotonic() - quiet_since >= idle_seconds:
                        break
                    continue
                if self.handle(body):
                    self._database_failures = 0
                    channel.basic_ack(method.delivery_tag)
                else:
                    channel.basic_nack(method.delivery_tag, requeue=True)
                    self.stats.requeued += 1
                    self._pause_after_database_error(connection, stop)
                quiet_since = time.monotonic()
                if stop.is_set():
                    break
            # Messages delivered but not yet handled go back to the queue.
            channel.cancel()
        finally:
            if connection.is_open:
                connection.close()

    def _pause_after_database_error(
        self, connection: pika.BlockingConnection, stop: threading.Event
    ) -> None:
        self._database_failures += 1
        delay = min(MAX_DATABASE_PAUSE_SECONDS, 0.5 * 2.0 ** (self._database_failures - 1))
        deadline = time.monotonic() + delay
        # connection.sleep keeps the broker's heartbeats answered while we wait.
        while not stop.is_set() and time.monotonic() < deadline:
            connection.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _drop_broken_database_connection() -> None:
    # After a database error the connection may be dead (server restarted): the next
    # message opens a fresh one. Inside a caller's transaction (tests) it stays.
    if not db_connection.in_atomic_block:
        db_connection.close()


def publish(
    events: Iterable[Mapping[str, Any]],
    url: str | None = None,
    *,
    queue: str | None = None,
    as_batch: bool = False,
) -> int:
    """Publish canonical events (one message each, or one message with the list when
    ``as_batch``) to the visit-event queue; returns the number of messages sent."""
    items = [dict(event) for event in events]
    bodies = (
        [json.dumps(items, ensure_ascii=False)]
        if as_batch
        else [json.dumps(item, ensure_ascii=False) for item in items]
    )
    return _send(bodies, url, queue)


def publish_body(body: str | bytes, url: str | None = None, *, queue: str | None = None) -> None:
    """Publish one message body as it is (a third party's message, well formed or not)."""
    _send([body], url, queue)


def _send(bodies: Sequence[str | bytes], url: str | None, queue: str | None) -> int:
    if not bodies:
        return 0
    target = queue_name(queue)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url(url)))
    try:
        channel = connection.channel()
        channel.queue_declare(queue=target, durable=True)
        # Publisher confirms: a message counts as sent once the broker has it.
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="application/json", content_encoding="utf-8", delivery_mode=2
        )
        for body in bodies:
            payload = body.encode("utf-8") if isinstance(body, str) else body
            channel.basic_publish(
                exchange="", routing_key=target, body=payload, properties=properties
            )
    finally:
        if connection.is_open:
            connection.close()
    return len(bodies)


def _run(stop: threading.Event) -> None:
    AmqpConsumer().run(stop)


COMPONENTS = (
    [BackgroundComponent("amqp-consumer", "消息队列（AMQP）消费", _run)]
    if settings.ENV.amqp_url is not None and settings.ENV.amqp_url.get_secret_value()
    else []
)
