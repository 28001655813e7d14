"""A sub-centre: a worker that holds journal partitions by lease and folds their events.

Any number of sub-centres, in any processes on any hosts sharing the database, split the
partitions between them: each heartbeats in ``SubCentreMember``, takes free or expired
leases up to its fair share (partitions / live members) and gives back what it holds
beyond it. A sub-centre that dies stops renewing; its leases expire after
``lease_seconds`` and the others take the partitions over from the stored offsets. Every
batch checks the lease token inside its transaction, so a sub-centre that lost a lease
(paused too long, partitioned away) cannot commit for it: each event has exactly one
effect.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from jingan.accompaniment.visits.centre import wakeup
from jingan.accompaniment.visits.centre.processor import BatchResult, ensure_leases, process_batch
from jingan.accompaniment.visits.models import PartitionLease, SubCentreMember

logger = logging.getLogger(__name__)

__all__ = ["SubCentre", "parse_partitions"]


def parse_partitions(text: str, count: int | None = None) -> frozenset[int]:
    """``"0-3,6"`` -> {0, 1, 2, 3, 6}; ``"all"`` or empty -> every partition."""
    total = count or int(settings.VISITS["partitions"])
    if not text or text.strip().lower() == "all":
        return frozenset(range(total))
    chosen: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"分区写法不正确：{part!r}（例如 0-7 或 0,2,4）") from None
        if first > last or first < 0 or last >= total:
            raise ValueError(f"分区 {part} 超出范围 0-{total - 1}")
        chosen.update(range(first, last + 1))
    return frozenset(chosen)


class SubCentre:
    """One sub-centre; ``run(stop)`` until stopped, or ``tick()`` step by step (tests)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        allowed: Iterable[int] | None = None,
        lease_seconds: float | None = None,
        batch_size: int | None = None,
        idle_wait: float = 0.05,
    ) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.allowed = frozenset(allowed) if allowed is not None else parse_partitions("all")
        self.lease_seconds = float(lease_seconds or settings.VISITS["lease_seconds"])
        self.batch_size = batch_size or int(settings.VISITS["batch_size"])
        self.idle_wait = idle_wait
        self.owned: dict[int, uuid.UUID] = {}
        self.processed = 0
        self.batches: list[BatchResult] = []
        self.keep_batches = False
        self._last_maintained = 0.0
        self._short = True

    # -- leases -------------------------------------------------------------------------

    def heartbeat(self) -> int:
        """Record that we are alive; return how many live members share our partitions."""
        now = timezone.now()
        SubCentreMember.objects.update_or_create(
            name=self.name[:100],
            defaults={
                "host": socket.gethostname()[:100],
                "pid": os.getpid(),
                "allowed": _describe(self.allowed)[:200],
                "heartbeat_at": now,
            },
            create_defaults={
                "host": socket.gethostname()[:100],
                "pid": os.getpid(),
                "allowed": _describe(self.allowed)[:200],
                "started_at": now,
                "heartbeat_at": now,
            },
        )
        horizon = now - timedelta(seconds=self.lease_seconds)
        SubCentreMember.objects.filter(
            heartbeat_at__lt=now - timedelta(seconds=self.lease_seconds * 10)
        ).delete()
        return max(SubCentreMember.objects.filter(heartbeat_at__gte=horizon).count(), 1)

    def maintain(self) -> None:
        """Renew what we hold, give back beyond our share, take free or expired leases."""
        ensure_leases()
        members = self.heartbeat()
        now = timezone.now()
        expires = now + timedelta(seconds=self.lease_seconds)
        for partition, token in list(self.owned.items()):
            renewed = PartitionLease.objects.filter(partition=partition, token=token).update(
                expires_at=expires
            )
            if not renewed:
                logger.warning("sub-centre %s lost partition %s", self.name, partition)
                del self.owned[partition]
        share = math.ceil(len(self.allowed) / members)
        self._short = len(self.owned) < share
        while len(self.owned) > share:
            partition = max(self.owned)
            token = self.owned.pop(partition)
            PartitionLease.objects.filter(partition=partition, token=token).update(
                owner="", token=None, expires_at=None
            )
        if len(self.owned) >= share:
            return
        candidates = PartitionLease.objects.filter(
            partition__in=sorted(self.allowed - set(self.owned))
        ).filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        for lease in candidates.order_by("partition"):
            if len(self.owned) >= share:
                break
            token = uuid.uuid4()
            takeover = bool(lease.owner) and lease.owner != self.name
            # Conditional on what we read: two sub-centres racing for it, one wins.
            won = PartitionLease.objects.filter(
                pk=lease.pk, token=lease.token, expires_at=lease.expires_at
            ).update(
                owner=self.name[:100],
                token=token,
                expires_at=expires,
                takeovers=F("takeovers") + (1 if takeover else 0),
            )
            if won:
                self.owned[lease.partition] = token
                if takeover:
                    logger.info(
                        "sub-centre %s took over partition %s from %s",
                        self.name,
                        lease.partition,
                        lease.owner,
                    )

    def release(self) -> None:
        for partition, token in self.owned.items():
            PartitionLease.objects.filter(partition=partition, token=token).update(
                owner="", token=None, expires_at=None
            )
        self.owned.clear()
        SubCentreMember.objects.filter(name=self.name[:100]).delete()

    # -- work ---------------------------------------------------------------------------

    def tick(self) -> int:
        """Maintain leases when due, then fold one batch; the number of events folded."""
        # Renew well before expiry; look for free partitions more often while short of a
        # fair share (another sub-centre is giving some back).
        pace = min(self.lease_seconds / 3, 0.5) if self._short else self.lease_seconds / 3
        if time.monotonic() - self._last_maintained > pace:
            self.maintain()
            self._last_maintained = time.monotonic()
        if not self.owned:
            return 0
        result = process_batch(self.owned, limit=self.batch_size)
        self.processed += result.processed
        if self.keep_batches and result.processed:
            self.batches.append(result)
        return result.processed

    def run(self, stop: threading.Event) -> None:
        logger.info("sub-centre %s started for partitions %s", self.name, _describe(self.allowed))
        waiter = wakeup.Waiter(self.idle_wait)
        try:
            while not stop.is_set():
                try:
                    done = self.tick()
                except Exception:
                    # The batch rolled back; its events stay for the next try.
                    logger.exception("sub-centre %s: batch failed", self.name)
                    close_old_connections()
                    stop.wait(1.0)
                    continue
                if not done:
                    waiter.wait()
        finally:
            waiter.close()
            try:
                self.release()
            finally:
                close_old_connections()
            logger.info("sub-centre %s stopped after %s events", self.name, self.processed)


def _describe(partitions: Iterable[int]) -> str:
    values = sorted(partitions)
    if not values:
        return "-"
    ranges: list[str] = []
    start = previous = values[0]
    for value in values[1:]:
        if value != previous + 1:
            ranges.append(f"{start}-{previous}" if start != previous else str(start))
            start = value
        previous = value
    ranges.append(f"{start}-{previous}" if start != previous else str(start))
    return ",".join(ranges)
