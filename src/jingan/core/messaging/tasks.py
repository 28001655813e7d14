"""Huey tasks of the message centre; they take ids and re-read (see ``delivery``)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from jingan.core.messaging import delivery


@db_task(name="messaging.deliver_outbox_entry")
def deliver_outbox_entry_task(entry_id: int) -> str:
    return delivery.deliver_outbox_entry(entry_id)


@db_task(name="messaging.deliver_outbox_entries")
def deliver_outbox_entries_task(entry_ids: list[int]) -> list[str]:
    return [delivery.deliver_outbox_entry(entry_id) for entry_id in entry_ids]


def enqueue_deliveries(entry_ids: list[int]) -> None:
    """Queue the delivery of many entries as one task (bulk notifications)."""
    if entry_ids:
        deliver_outbox_entries_task(list(entry_ids))


def enqueue_delivery(entry_id: int) -> None:
    """Queue one delivery attempt now (called after commit, and by the sweeper)."""
    deliver_outbox_entry_task(entry_id)


def schedule_delivery(entry_id: int, *, delay_seconds: int) -> None:
    """Queue the next attempt of a failed delivery after its back-off."""
    deliver_outbox_entry_task.schedule(args=(entry_id,), delay=delay_seconds)
