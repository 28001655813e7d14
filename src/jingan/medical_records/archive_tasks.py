"""Huey tasks of the archive sync; they take ids and re-read (safe to run twice)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from jingan.medical_records import archive_services


@db_task(name="medical_records.fetch_archive_documents_for")
def fetch_documents_task(institution_id: int) -> dict[str, int]:
    """Fetch the documents of archives just pushed, without waiting for the periodic job."""
    return archive_services.fetch_pending_documents(institution_id=institution_id, limit=500)


@db_task(name="medical_records.poll_archive_source")
def poll_source_task(institution_id: int) -> None:
    archive_services.poll_institution(institution_id=institution_id)
