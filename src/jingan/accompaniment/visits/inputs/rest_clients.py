"""The signing clients of the dialect-B HIS systems, and the simulator's copy of their keys.

Each dialect-B institution's HIS signs its pushes with its own SM2 key, registered as an
API client of that institution (``his-b-<code>``). On a demo or test machine the HIS
simulator holds the private keys: they are written once, when the client is registered,
to ``<DATA_DIR>/visits/his-push-credentials.json`` (mode 0600), the simulated hospitals'
key store, and read by ``rest.simulator.credentials_from_file``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings

from jingan.core.public import create_api_client
from jingan.integrations.his.port import Dialect

__all__ = ["credentials_path", "ensure_push_clients"]


def credentials_path() -> Path:
    return Path(settings.DATA_DIR) / "visits" / "his-push-credentials.json"


def _stored(path: Path) -> dict[str, Any]:
    try:
        stored = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _write(path: Path, stored: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    temporary.write_text(json.dumps(stored, indent=2, sort_keys=True), "utf-8")
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def ensure_push_clients(
    *, codes: Iterable[str] | None = None, path: Path | None = None
) -> dict[str, tuple[str, str]]:
    """A registered push client for every active dialect-B institution (or ``codes``).

    Returns ``{code: (app_id, private_key_hex)}`` as stored for the simulator. A client
    whose key is not in the store (a new data directory) is replaced by a fresh one with
    a numbered app id, so the simulator can always sign.
    """
    path = path or credentials_path()
    institution_model = apps.get_model("institutions", "Institution")
    client_model = apps.get_model("crypto", "ApiClient")
    institutions = institution_model.objects.unscoped().filter(is_active=True)
    if codes is None:
        institutions = institutions.filter(his_dialect=Dialect.REST_PUSH)
    else:
        institutions = institutions.filter(code__in=set(codes))
    stored = _stored(path)
    changed = False
    for institution in institutions.order_by("code"):
        entry = stored.get(institution.code)
        known = (
            isinstance(entry, dict)
            and client_model.objects.filter(
                app_id=entry.get("app_id"), institution_id=institution.pk, is_active=True
            ).exists()
        )
        if known:
            continue
        base = f"his-b-{institution.code}"
        taken = client_model.objects.filter(app_id__startswith=base).count()
        app_id = base if taken == 0 else f"{base}-{taken + 1}"
        _, private_key_hex = create_api_client(
            actor=None,
            app_id=app_id,
            name=f"{institution.name} HIS（B 类推送）",
            institution_id=institution.pk,
        )
        stored[institution.code] = {"app_id": app_id, "private_key_hex": private_key_hex}
        changed = True
    if changed:
        _write(path, stored)
    wanted = set(institutions.values_list("code", flat=True))
    return {
        code: (str(entry["app_id"]), str(entry["private_key_hex"]))
        for code, entry in stored.items()
        if code in wanted and isinstance(entry, dict)
    }
