"""SM4-GCM encryption of whole files kept under the data directory (uploads, copies).

Stored form: ``JAF1`` magic, key version (2 bytes, big-endian), key id length (1 byte),
key id (ASCII), then ``nonce || ciphertext || tag``. The AAD binds the blob to its
``context`` (say ``medical_records.material:<uuid>``), so a file moved to another record
fails to decrypt instead of being served as the other record's document. Files use the
"field" key purpose: they are personal data of the same rows, rotated with them.
"""

from __future__ import annotations

import logging

from jingan.core.crypto.errors import DecryptionError, KeyNotFoundError
from jingan.core.crypto.fields import FIELD_PURPOSE
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.primitives import sm4_gcm_decrypt, sm4_gcm_encrypt

logger = logging.getLogger("jingan.crypto")

MAGIC = b"JAF1"


def _aad(context: str, version: int) -> bytes:
    return f"file|{context}|v{version}".encode()


def encrypt_file_bytes(data: bytes, *, context: str) -> bytes:
    """Encrypt a file's bytes under the current "field" key, bound to ``context``."""
    if not context:
        raise ValueError("a file needs a context to be bound to")
    key = get_keyring().current(FIELD_PURPOSE)
    key_id = key.key_id.encode("ascii")
    header = MAGIC + key.version.to_bytes(2, "big") + len(key_id).to_bytes(1, "big") + key_id
    return header + sm4_gcm_encrypt(key.material, data, _aad(context, key.version))


def decrypt_file_bytes(blob: bytes, *, context: str) -> bytes:
    """Decrypt what ``encrypt_file_bytes`` wrote for ``context``; DecryptionError otherwise."""
    try:
        if len(blob) < 7 or blob[:4] != MAGIC:
            raise DecryptionError("not an encrypted platform file")
        version = int.from_bytes(blob[4:6], "big")
        id_length = blob[6]
        key_id = blob[7 : 7 + id_length].decode("ascii")
        key = get_keyring().get(FIELD_PURPOSE, version)
        if key.key_id != key_id:
            raise DecryptionError(
                f"written under key id {key_id}, but this keyring's field v{version} "
                f"is {key.key_id} (another keyring?)"
            )
        return sm4_gcm_decrypt(key.material, blob[7 + id_length :], _aad(context, version))
    except (DecryptionError, KeyNotFoundError, UnicodeDecodeError) as error:
        logger.error("file decryption failed for %s: %s", context, error)
        if isinstance(error, DecryptionError):
            raise
        raise DecryptionError(str(error)) from error
