from __future__ import annotations

import pytest

from jingan.core.crypto.errors import DecryptionError
from jingan.core.crypto.files import decrypt_file_bytes, encrypt_file_bytes
from jingan.core.crypto.keyring import Keyring


def test_a_file_round_trips_and_its_bytes_are_not_visible() -> None:
    data = b"%PDF-1.7 \xe7\x8e\x8b\xe7\xa7\x80\xe8\x8b\xb1 310106194503121002"
    blob = encrypt_file_bytes(data, context="medical_records.material:1")
    assert blob[:4] == b"JAF1"
    assert b"310106194503121002" not in blob
    assert decrypt_file_bytes(blob, context="medical_records.material:1") == data


def test_a_file_moved_to_another_context_does_not_decrypt() -> None:
    blob = encrypt_file_bytes(b"photo", context="medical_records.material:1")
    with pytest.raises(DecryptionError):
        decrypt_file_bytes(blob, context="medical_records.material:2")


def test_an_altered_file_does_not_decrypt() -> None:
    blob = bytearray(encrypt_file_bytes(b"photo", context="c"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_file_bytes(bytes(blob), context="c")
    with pytest.raises(DecryptionError):
        decrypt_file_bytes(b"plain bytes", context="c")


def test_files_written_before_a_rotation_still_decrypt(keyring: Keyring) -> None:
    old = encrypt_file_bytes(b"before", context="c")
    keyring.rotate("field")
    new = encrypt_file_bytes(b"after", context="c")
    assert old[4:6] == (1).to_bytes(2, "big")
    assert new[4:6] == (2).to_bytes(2, "big")
    assert decrypt_file_bytes(old, context="c") == b"before"
    assert decrypt_file_bytes(new, context="c") == b"after"
