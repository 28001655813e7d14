"""Huey discovers ``<app>.tasks``: every task module of the context is imported here."""

from __future__ import annotations

from jingan.medical_records.archive_tasks import fetch_documents_task, poll_source_task
from jingan.medical_records.copy_tasks import prepare_copy_task

__all__ = ["fetch_documents_task", "poll_source_task", "prepare_copy_task"]
