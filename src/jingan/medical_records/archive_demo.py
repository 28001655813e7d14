"""Demo data of the archive sync: the 18 institutions' sources and a first sync.

The first sync runs in process against the archive simulator started on a free loopback
port, so ``make run`` shows archives at once; later syncs go through the configured
``archive_api_url`` like production. Both steps are idempotent: sources that exist are
kept, and a second pull finds nothing newer than what it already has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings

from jingan.core.public import create_api_client
from jingan.integrations.archives.adapter import ArchiveSourceConfig, HttpArchiveAdapter
from jingan.integrations.archives.simulator import ArchiveSimulator
from jingan.lib.demo import Scale
from jingan.medical_records.archive_models import ArchiveMode, ArchiveSource
from jingan.medical_records.archive_services import (
    configure_archive_source,
    fetch_pending_documents,
    poll_institution,
)

DOCUMENTS_PER_INSTITUTION: dict[str, int] = {"tiny": 10, "small": 60, "district": 10_000}
# One malformed archive, so the console's rejected list has something to show and fix.
MALFORMED_AT = "310106004"


def _inpatient_institutions() -> list[Any]:
    model = apps.get_model("institutions", "Institution")
    return list(model.objects.unscoped().filter(has_inpatient=True).order_by("code"))


def _credentials_path() -> Path:
    return Path(str(settings.ARCHIVES["simulator_credentials"]))


def _save_credential(code: str, app_id: str, private_key_hex: str) -> None:
    path = _credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        stored = {}
    stored[code] = {"app_id": app_id, "private_key_hex": private_key_hex}
    temporary = path.with_suffix(".part")
    temporary.write_text(json.dumps(stored, indent=2), "utf-8")
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def _push_client(code: str, institution_id: int) -> str:
    """The simulated hospital's signing client; its private key goes to the simulator."""
    app_id = f"archive-{code}"
    if not _credential_known(code):
        client_model = apps.get_model("crypto", "ApiClient")
        if client_model.objects.filter(app_id=app_id).exists():
            # The key was lost with an older data directory: register a fresh client.
            app_id = (
                f"archive-{code}-{client_model.objects.filter(app_id__startswith=app_id).count()}"
            )
        _, private_key_hex = create_api_client(
            actor=None,
            app_id=app_id,
            name=f"病案归档系统 {code}",
            institution_id=institution_id,
        )
        _save_credential(code, app_id, private_key_hex)
    return str(json.loads(_credentials_path().read_text("utf-8"))[code]["app_id"])


def _credential_known(code: str) -> bool:
    try:
        return code in json.loads(_credentials_path().read_text("utf-8"))
    except (OSError, ValueError):
        return False


def load_sources(scale: Scale, advance: Callable[[int], None]) -> None:
    for position, institution in enumerate(_inpatient_institutions()):
        if ArchiveSource.objects.unscoped().filter(institution=institution).exists():
            advance(1)
            continue
        # A mix, as in the district: the larger hospitals push, the others are pulled.
        push = position % 3 == 0
        configure_archive_source(
            actor=None,
            institution_id=institution.pk,
            mode=ArchiveMode.PUSH if push else ArchiveMode.POLL,
            base_url=str(settings.ARCHIVES["api_base_url"]),
            api_app_id=_push_client(institution.code, institution.pk) if push else "",
            poll_interval_minutes=5,
            is_enabled=True,
        )
        advance(1)


@contextmanager
def archive_simulator() -> Iterator[tuple[ArchiveSimulator, Callable[[ArchiveSource], Any]]]:
    """The archive simulator on a free loopback port, and adapters that talk to it."""
    simulator = ArchiveSimulator()
    url = simulator.start()

    def adapter(source: ArchiveSource) -> HttpArchiveAdapter:
        return HttpArchiveAdapter(
            ArchiveSourceConfig(base_url=url, institution_code=source.institution.code)
        )

    try:
        yield simulator, adapter
    finally:
        simulator.stop()


def initial_sync(scale: Scale, advance: Callable[[int], None]) -> None:
    with archive_simulator() as (simulator, adapter):
        if MALFORMED_AT in simulator.institutions:
            broken = simulator.admissions(MALFORMED_AT)[0]
            broken["admission_no"] = broken["admission_no"] + "X"
            broken["diagnoses"] = [{"code": "高血压", "name": "原发性高血压"}]
            broken["discharged_on"] = "2025-02-30"
            simulator.put_raw(MALFORMED_AT, broken)
        for institution in _inpatient_institutions():
            if not ArchiveSource.objects.unscoped().filter(institution=institution).exists():
                advance(1)
                continue
            poll_institution(institution_id=institution.pk, adapter_factory=adapter)
            fetch_pending_documents(
                institution_id=institution.pk,
                limit=DOCUMENTS_PER_INSTITUTION[scale],
                adapter_factory=adapter,
            )
            advance(1)
