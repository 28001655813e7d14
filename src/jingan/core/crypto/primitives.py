"""SM3, HMAC-SM3 and SM4-GCM through ``cryptography`` (OpenSSL 3).

SM4-GCM blobs are ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; the nonce is
random per message, so one key must not encrypt more than about 2**32 messages (the
"field" key is rotated long before that).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from jingan.core.crypto.errors import CryptoError, DecryptionError

SM4_KEY_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16


def sm3(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905), 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm3_hex(data: bytes) -> str:
    """SM3 digest as 64 lower-case hex characters."""
    return sm3(data).hex()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) over SM3, 32 bytes."""
    if not key:
        raise CryptoError("HMAC-SM3 needs a non-empty key")
    mac = _hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def _check_sm4_key(key: bytes) -> None:
    if len(key) != SM4_KEY_BYTES:
        raise CryptoError(f"SM4 keys are {SM4_KEY_BYTES} bytes, not {len(key)}")


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` (and ``aad``) with SM4-GCM under a random nonce."""
    _check_sm4_key(key)
    nonce = os.urandom(GCM_NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Check and decrypt a blob from :func:`sm4_gcm_encrypt`; raise DecryptionError if altered."""
    _check_sm4_key(key)
    if len(blob) < GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise DecryptionError("SM4-GCM blob is too short to hold a nonce and a tag")
    nonce = blob[:GCM_NONCE_BYTES]
    tag = blob[-GCM_TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(blob[GCM_NONCE_BYTES:-GCM_TAG_BYTES]) + decryptor.finalize()
    except InvalidTag:
        raise DecryptionError(
            "SM4-GCM authentication failed: wrong key, altered ciphertext or wrong context"
        ) from None
