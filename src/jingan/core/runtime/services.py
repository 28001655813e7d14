"""Writes of the runtime app: heartbeats of running processes."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jingan.core.runtime.models import Heartbeat

PROCESS_STARTED_AT = timezone.now()
# Rows of processes silent for this long are dead; keep the table small.
FORGET_AFTER = timedelta(days=1)


def this_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_heartbeat(*, component: str, instance: str | None = None) -> Heartbeat:
    """Mark ``component`` in this process alive now."""
    now = timezone.now()
    instance = instance or this_instance()
    with transaction.atomic():
        beat, created = Heartbeat.objects.get_or_create(
            component=component,
            instance=instance,
            defaults={"started_at": PROCESS_STARTED_AT, "seen_at": now, "beats": 1},
        )
        if not created:
            Heartbeat.objects.filter(pk=beat.pk).update(seen_at=now, beats=F("beats") + 1)
            beat.refresh_from_db()
        Heartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    return beat
