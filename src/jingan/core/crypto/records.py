"""SM2 signatures over important business records (CR-7): review decisions, prescriptions.

What is signed is the UTF-8 bytes of a canonical JSON envelope (sorted keys, no spaces,
non-ASCII kept as is)::

    {"kind": ..., "payload": {...}, "record_id": ..., "signed_at": "YYYY-MM-DDTHH:MM:SS.ffffffZ"}

with the keyring's "record-signing" SM2 key (default user ID). ``digest`` is the SM3 hex
of those bytes. Anyone holding only the public key can check a record offline with
``verify_record(..., public_key_hex=...)`` or by rebuilding ``record_envelope`` themselves.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from jingan.core.crypto import sm2
from jingan.core.crypto.errors import CryptoError
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.models import RecordSignatureRow
from jingan.core.crypto.primitives import sm3_hex

PURPOSE = "record-signing"


@dataclass(frozen=True)
class RecordSignature:
    """An SM2 signature over one record, with what a verifier needs besides the public key."""

    kind: str
    record_id: str
    key_version: int
    digest: str
    signature: str  # base64 of the DER signature
    signed_at: datetime


class RecordAlreadySignedError(Exception):
    """The record already carries a stored signature; re-signing must be asked for explicitly."""


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes cannot be signed unambiguously; make them aware")
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        raise TypeError(f"{type(value).__name__} has no canonical JSON order; use a list")
    raise TypeError(f"{type(value).__name__} cannot be signed; convert it to JSON types first")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: object) -> bytes:
    """Sorted keys, no spaces, non-ASCII as is, UTF-8: one byte string per value."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    ).encode("utf-8")


def record_envelope(
    *, kind: str, record_id: str, payload: Mapping[str, object], signed_at: datetime
) -> bytes:
    """The exact bytes that are digested and signed for one record."""
    return canonical_json(
        {
            "kind": kind,
            "record_id": str(record_id),
            "payload": dict(payload),
            "signed_at": _timestamp(signed_at),
        }
    )


def sign_record(*, kind: str, record_id: str, payload: Mapping[str, object]) -> RecordSignature:
    """Sign a record with the current "record-signing" key; nothing is stored."""
    if not kind or not str(record_id):
        raise ValueError("kind and record_id are required")
    keyring = get_keyring()
    version = keyring.signing_version(PURPOSE)
    pair = keyring.signing_key(PURPOSE, version)
    # Database columns keep microseconds on every supported back-end, so the stored
    # moment reproduces the signed envelope exactly.
    signed_at = timezone.now().astimezone(UTC)
    envelope = record_envelope(kind=kind, record_id=record_id, payload=payload, signed_at=signed_at)
    signature = sm2.sign(pair.private_hex, envelope)
    return RecordSignature(
        kind=kind,
        record_id=str(record_id),
        key_version=version,
        digest=sm3_hex(envelope),
        signature=base64.b64encode(signature).decode("ascii"),
        signed_at=signed_at,
    )


def verify_record(
    *,
    kind: str,
    record_id: str,
    payload: Mapping[str, object],
    signature: RecordSignature,
    public_key_hex: str | None = None,
) -> bool:
    """Whether ``signature`` covers exactly this record; offline with ``public_key_hex``."""
    if signature.kind != kind or signature.record_id != str(record_id):
        return False
    try:
        envelope = record_envelope(
            kind=kind, record_id=record_id, payload=payload, signed_at=signature.signed_at
        )
    except (TypeError, ValueError):
        return False
    if not hmac.compare_digest(sm3_hex(envelope), signature.digest):
        return False
    if public_key_hex is None:
        public_key_hex = get_keyring().public_keys(PURPOSE).get(signature.key_version)
        if public_key_hex is None:
            return False
    try:
        der = base64.b64decode(signature.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        return sm2.verify(public_key_hex, envelope, der)
    except CryptoError:
        return False


def store_record_signature(
    *, kind: str, record_id: str, payload: Mapping[str, object], replace: bool = False
) -> RecordSignature:
    """Sign a record and keep the signature, inside the caller's transaction.

    A record is signed once; ``replace=True`` re-signs deliberately (e.g. after a
    correction that the caller's own service audits).
    """
    signed = sign_record(kind=kind, record_id=record_id, payload=payload)
    fields = {
        "digest": signed.digest,
        "signature": signed.signature,
        "key_version": signed.key_version,
        "signed_at": signed.signed_at,
    }
    with transaction.atomic():
        existing = (
            RecordSignatureRow.objects.select_for_update()
            .filter(kind=kind, record_id=signed.record_id)
            .first()
        )
        if existing is None:
            RecordSignatureRow.objects.create(kind=kind, record_id=signed.record_id, **fields)
        elif replace:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.save(update_fields=list(fields))
        else:
            raise RecordAlreadySignedError(f"{kind}:{record_id} 已签名")
    return signed


def stored_record_signature(kind: str, record_id: str) -> RecordSignature | None:
    """The stored signature of one record, if any."""
    row = RecordSignatureRow.objects.filter(kind=kind, record_id=str(record_id)).first()
    if row is None:
        return None
    return RecordSignature(
        kind=row.kind,
        record_id=row.record_id,
        key_version=row.key_version,
        digest=row.digest,
        signature=row.signature,
        signed_at=row.signed_at,
    )


def verify_stored_record(kind: str, record_id: str, payload: Mapping[str, Any]) -> bool:
    """Whether the record's current content matches its stored signature (False if unsigned)."""
    signature = stored_record_signature(kind, record_id)
    if signature is None:
        return False
    return verify_record(kind=kind, record_id=record_id, payload=payload, signature=signature)
