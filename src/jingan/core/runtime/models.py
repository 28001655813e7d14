"""What the running processes report about themselves."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of one process of one component (worker, event centre, ...)."""

    component = models.CharField(max_length=64)
    instance = models.CharField(max_length=128, help_text="host:pid of the process")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["component", "instance"], name="heartbeat_unique_instance"
            )
        ]
        indexes = [models.Index(fields=["component", "-seen_at"])]
        permissions = [("view_platform_status", "查看平台运行状态")]

    def __str__(self) -> str:
        return f"{self.component}@{self.instance}"
