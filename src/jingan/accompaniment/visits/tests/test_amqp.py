"""The message-queue drive (VA-3) against the real RabbitMQ (services suite: needs
``JINGAN_AMQP_URL``, e.g. amqp://guest:guest@127.0.0.1:5672/)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import pika.exceptions
import pytest
from django.db import OperationalError

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.inputs import amqp
from jingan.accompaniment.visits.models import RejectedMessage, VisitEvent

AMQP_URL = os.environ.get("JINGAN_AMQP_URL", "")

pytestmark = pytest.mark.skipif(
    not AMQP_URL, reason="services suite only: set JINGAN_AMQP_URL to a RabbitMQ broker"
)

CODE = "310106001"
T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def canonical(n: int, status: str = "unpaid", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"TP{n:04d}",
        "institution": CODE,
        "visit": "MZ0001",
        "node": "payment",
        "status": status,
        "item": "F1",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        "patient": {"name": "王建国", "id_number": "310106195001011238"},
        "payload": {"total": "30.00"},
        **extra,
    }


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of the test's own on the shared broker, deleted afterwards."""
    name = f"jingan.test.visit-events.{uuid.uuid4().hex[:10]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().queue_delete(queue=name)
    finally:
        connection.close()


def queued(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        declared = connection.channel().queue_declare(queue=queue, durable=True, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_published_events_reach_the_journal_and_a_malformed_message_is_kept_and_acked(
    queue: str,
) -> None:
    sent = amqp.publish([canonical(1), canonical(2, "paid")], AMQP_URL, queue=queue)
    sent += amqp.publish(
        [canonical(3, "refunded", source="pay-app"), canonical(1)],
        AMQP_URL,
        queue=queue,
        as_batch=True,
    )
    amqp.publish_body('{"event_id": "TP9", "institution": ', AMQP_URL, queue=queue)
    amqp.publish_body(json.dumps(canonical(4, "settled")), AMQP_URL, queue=queue)

    stats = amqp.AmqpConsumer(AMQP_URL, queue).drain(idle_seconds=1.0, timeout=30)

    assert sent == 3
    assert (stats.taken, stats.rejected, stats.requeued) == (3, 2, 0)
    assert (stats.events, stats.duplicates) == (3, 1)
    assert sorted(VisitEvent.objects.unscoped().values_list("source", "source_event_id")) == [
        ("amqp", "TP0001"),
        ("amqp", "TP0002"),
        ("pay-app", "TP0003"),
    ]
    kept = sorted(RejectedMessage.objects.unscoped().values_list("channel", "code", "reason"))
    assert kept == [
        ("amqp", "malformed_json", kept[0][2]),
        ("amqp", "unknown_status", "事件的节点 payment 没有状态 settled"),
    ]
    assert kept[0][2].startswith("不是合法的 JSON：")
    # Every message was acknowledged: nothing comes back.
    assert queued(queue) == 0


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_a_database_error_returns_the_message_to_the_queue_and_it_is_taken_later(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_take = journal.take
    calls: list[str] = []

    def flaky_take(**kwargs: Any) -> Any:
        calls.append(kwargs["raw"])
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real_take(**kwargs)

    monkeypatch.setattr(journal, "take", flaky_take)
    amqp.publish([canonical(1)], AMQP_URL, queue=queue)

    stats = amqp.AmqpConsumer(AMQP_URL, queue).drain(idle_seconds=1.5, timeout=30)

    assert (stats.requeued, stats.taken, stats.events) == (1, 1, 1)
    assert len(calls) == 2
    assert calls[0] == calls[1]
    assert VisitEvent.objects.unscoped().get().source_event_id == "TP0001"
    assert RejectedMessage.objects.unscoped().count() == 0
    assert queued(queue) == 0


@pytest.mark.req("VA-3")
def test_the_consumer_reconnects_when_the_broker_is_away_and_runs_until_stopped(
    transactional_db: None, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connection = pika.BlockingConnection
    attempts: list[float] = []

    def unreliable_broker(parameters: Any) -> Any:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise pika.exceptions.AMQPConnectionError("broker restarting")
        return real_connection(parameters)

    amqp.publish([canonical(1), canonical(2, "paid")], AMQP_URL, queue=queue)
    monkeypatch.setattr(amqp.pika, "BlockingConnection", unreliable_broker)
    consumer = amqp.AmqpConsumer(AMQP_URL, queue)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while VisitEvent.objects.unscoped().count() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert sorted(VisitEvent.objects.unscoped().values_list("source_event_id", flat=True)) == [
        "TP0001",
        "TP0002",
    ]
    # Two refused connections, then one that worked; the pauses grow (1 s, then 2 s ± 20 %).
    assert len(attempts) == 3
    assert consumer.stats.connections == 1
    assert 0.8 <= attempts[1] - attempts[0] <= 1.3
    assert 1.6 <= attempts[2] - attempts[1] <= 2.5


def test_the_consumer_is_a_background_component_only_when_amqp_is_configured() -> None:
    assert [component.name for component in amqp.COMPONENTS] == ["amqp-consumer"]
