"""SM2 signatures over important business records (CR-7)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jingan.core.crypto import sm2
from jingan.core.crypto.keyring import Keyring, get_keyring, use_keyring
from jingan.core.crypto.models import RecordSignatureRow
from jingan.core.crypto.primitives import sm3_hex
from jingan.core.crypto.records import (
    RecordAlreadySignedError,
    canonical_json,
    record_envelope,
    sign_record,
    store_record_signature,
    stored_record_signature,
    verify_record,
    verify_stored_record,
)

pytestmark = pytest.mark.req("CR-7")

PRESCRIPTION: dict[str, Any] = {
    "patient": "张三",
    "items": [{"drug": "阿莫西林胶囊", "quantity": 2, "price": Decimal("12.50")}],
    "issued_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    "doctor_id": 42,
}


def test_canonical_json_is_sorted_compact_and_keeps_chinese() -> None:
    assert canonical_json({"b": 1, "a": ["静安", None, True]}) == (
        '{"a":["静安",null,true],"b":1}'.encode()
    )
    with pytest.raises(TypeError, match="naive datetimes"):
        canonical_json({"at": datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(TypeError, match="set has no canonical JSON order"):
        canonical_json({"s": {1, 2}})


def test_a_signed_record_verifies_and_any_change_fails(db: None) -> None:
    signature = sign_record(kind="prescription", record_id="RX-1", payload=PRESCRIPTION)
    assert signature.kind == "prescription"
    assert signature.record_id == "RX-1"
    assert signature.key_version == get_keyring().signing_version("record-signing")
    envelope = record_envelope(
        kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signed_at=signature.signed_at
    )
    assert signature.digest == sm3_hex(envelope)
    assert verify_record(
        kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signature=signature
    )

    changed_quantity = {**PRESCRIPTION, "items": [{**PRESCRIPTION["items"][0], "quantity": 3}]}
    extra_field = {**PRESCRIPTION, "note": ""}
    for payload in (changed_quantity, extra_field, {**PRESCRIPTION, "doctor_id": 43}):
        assert not verify_record(
            kind="prescription", record_id="RX-1", payload=payload, signature=signature
        )
    # The same content cannot be passed off as another record or kind.
    assert not verify_record(
        kind="prescription", record_id="RX-2", payload=PRESCRIPTION, signature=signature
    )
    moved = dataclasses.replace(signature, record_id="RX-2")
    assert not verify_record(
        kind="prescription", record_id="RX-2", payload=PRESCRIPTION, signature=moved
    )
    assert not verify_record(
        kind="review-decision", record_id="RX-1", payload=PRESCRIPTION, signature=signature
    )
    # Nor can the signing time be moved.
    later = dataclasses.replace(signature, signed_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert not verify_record(
        kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signature=later
    )


def test_a_signature_from_another_key_fails(db: None, tmp_path: Path) -> None:
    with use_keyring(Keyring(tmp_path / "other-keyring.json", may_create=True)):
        foreign = sign_record(kind="prescription", record_id="RX-1", payload=PRESCRIPTION)
    assert not verify_record(
        kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signature=foreign
    )
    # A signature whose digest was recomputed for the forged content still fails.
    mine = sign_record(kind="prescription", record_id="RX-1", payload=PRESCRIPTION)
    spliced = dataclasses.replace(mine, signature=foreign.signature)
    assert not verify_record(
        kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signature=spliced
    )


def test_offline_verification_needs_only_the_public_key(db: None) -> None:
    signature = sign_record(kind="review-decision", record_id="17", payload={"decision": "通过"})
    public_key = get_keyring().public_keys("record-signing")[signature.key_version]
    assert verify_record(
        kind="review-decision",
        record_id="17",
        payload={"decision": "通过"},
        signature=signature,
        public_key_hex=public_key,
    )
    # A verifier outside the platform rebuilds the envelope and checks it with SM2 alone.
    envelope = (
        '{"kind":"review-decision","payload":{"decision":"通过"},"record_id":"17",'
        f'"signed_at":"{signature.signed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"}}'
    ).encode()
    der = base64.b64decode(signature.signature)
    assert sm2.verify(public_key, envelope, der)
    assert not sm2.verify(public_key, envelope.replace("通过".encode(), "驳回".encode()), der)
    assert not verify_record(
        kind="review-decision",
        record_id="17",
        payload={"decision": "通过"},
        signature=signature,
        public_key_hex=sm2.generate_keypair().public_hex,
    )


def test_stored_signatures_verify_against_the_current_record(db: None) -> None:
    stored = store_record_signature(kind="prescription", record_id="RX-9", payload=PRESCRIPTION)
    row = RecordSignatureRow.objects.get(kind="prescription", record_id="RX-9")
    assert (row.digest, row.signature, row.key_version) == (
        stored.digest,
        stored.signature,
        stored.key_version,
    )
    assert stored_record_signature("prescription", "RX-9") == stored
    assert verify_stored_record("prescription", "RX-9", PRESCRIPTION)
    assert not verify_stored_record("prescription", "RX-9", {**PRESCRIPTION, "doctor_id": 1})
    assert not verify_stored_record("prescription", "RX-unsigned", PRESCRIPTION)

    with pytest.raises(RecordAlreadySignedError):
        store_record_signature(kind="prescription", record_id="RX-9", payload=PRESCRIPTION)
    corrected = {**PRESCRIPTION, "doctor_id": 1}
    store_record_signature(kind="prescription", record_id="RX-9", payload=corrected, replace=True)
    assert verify_stored_record("prescription", "RX-9", corrected)
    assert not verify_stored_record("prescription", "RX-9", PRESCRIPTION)
    assert RecordSignatureRow.objects.count() == 1


def test_a_signature_edited_in_the_database_fails(db: None) -> None:
    store_record_signature(kind="prescription", record_id="RX-5", payload=PRESCRIPTION)
    table = RecordSignatureRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET digest = %s", ["0" * 64])
    assert not verify_stored_record("prescription", "RX-5", PRESCRIPTION)


def test_old_signatures_still_verify_after_the_signing_key_rotates(
    db: None, tmp_path: Path
) -> None:
    with use_keyring(Keyring(tmp_path / "keyring.json", may_create=True)) as keyring:
        old = sign_record(kind="prescription", record_id="RX-1", payload=PRESCRIPTION)
        keyring.rotate_signing_key("record-signing")
        new = sign_record(kind="prescription", record_id="RX-2", payload=PRESCRIPTION)
        assert new.key_version == old.key_version + 1
        assert verify_record(
            kind="prescription", record_id="RX-1", payload=PRESCRIPTION, signature=old
        )
        assert verify_record(
            kind="prescription", record_id="RX-2", payload=PRESCRIPTION, signature=new
        )
