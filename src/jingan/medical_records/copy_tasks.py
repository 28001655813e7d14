"""Huey tasks of the copy document; they take ids and re-read (safe to run twice)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from jingan.medical_records import copy_services


@db_task(name="medical_records.prepare_copy")
def prepare_copy_task(application_id: int) -> int | None:
    """Build the copy of an application just approved; returns the document id if READY."""
    document = copy_services.prepare_copy(application_id)
    return document.pk if document is not None else None
