"""Staff accounts. Residents log in through WeChat and are modelled separately."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A staff member of the district, an institution or the operator."""

    display_name = models.CharField("显示名", max_length=64, blank=True)

    class Meta:
        verbose_name = "工作人员"
        verbose_name_plural = "工作人员"

    def __str__(self) -> str:
        return self.display_name or self.username
