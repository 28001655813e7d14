"""Huey tasks of the message centre; they take ids and re-read (see ``delivery``)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from jingan.core.messaging import delivery


@db_task(name="messaging.deliver_outbox_entry")
def deliver_outbox_entry_task(entry_id: int) -> str:
    return delivery.deliver_outbox_entry(entry_id)


def enqueue_delivery(entry_id: int) -> None:
    """Queue one delivery attempt now (called after commit, and by the sweeper)."""
    deliver_outbox_entry_task(entry_id)


def schedule_delivery(entry_id: int, *, delay_seconds: int) -> None:
    """Queue the next attempt of a failed delivery after its back-off."""
    deliver_outbox_entry_task.schedule(args=(entry_id,), delay=delay_seconds)
