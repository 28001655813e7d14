from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from jingan.core.crypto.errors import CryptoError, DecryptionError
from jingan.core.crypto.primitives import (
    hmac_sm3,
    sm3,
    sm3_hex,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

pytestmark = pytest.mark.req("SEC-1")


def test_sm3_matches_the_gbt32905_example_for_abc() -> None:
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_matches_the_gbt32905_example_for_a_64_byte_message() -> None:
    assert (
        sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert sm3(b"abcd" * 16) == bytes.fromhex(sm3_hex(b"abcd" * 16))


def test_sm4_block_cipher_matches_the_gbt32907_example() -> None:
    # ECB is used here only to reach the bare block function of the standard's example.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (
        encryptor.update(key) + encryptor.finalize()
    ).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_decrypts_the_rfc8998_example() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    ciphertext = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    assert sm4_gcm_decrypt(key, nonce + ciphertext + tag, aad) == plaintext


def test_hmac_sm3_agrees_with_the_standard_library_construction() -> None:
    key = bytes(range(32))
    assert hmac_sm3(key, b"jingan") == hmac.new(key, b"jingan", "sm3").digest()
    assert hmac_sm3(key, b"jingan") != hmac_sm3(key[:-1] + b"\x00", b"jingan")


def test_hmac_sm3_agrees_with_rfc2104_over_pure_python_sm3() -> None:
    from pysmx.SM3 import digest as pure_sm3

    key = b"k" * 20
    inner = pure_sm3(bytes(b ^ 0x36 for b in key.ljust(64, b"\0")) + b"message")
    outer = pure_sm3(bytes(b ^ 0x5C for b in key.ljust(64, b"\0")) + inner)
    assert hmac_sm3(key, b"message") == outer


def test_hmac_sm3_refuses_an_empty_key() -> None:
    with pytest.raises(CryptoError, match="non-empty key"):
        hmac_sm3(b"", b"data")


def test_sm4_gcm_uses_a_fresh_nonce_per_message() -> None:
    key = bytes(16)
    first = sm4_gcm_encrypt(key, b"same", b"aad")
    second = sm4_gcm_encrypt(key, b"same", b"aad")
    assert first != second
    assert len(first) == 12 + 4 + 16


@pytest.mark.parametrize(
    ("mutate", "aad"),
    [
        (lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]), b"aad"),  # tag
        (lambda blob: blob[:12] + bytes([blob[12] ^ 1]) + blob[13:], b"aad"),  # body
        (lambda blob: bytes([blob[0] ^ 1]) + blob[1:], b"aad"),  # nonce
        (lambda blob: blob, b"other"),  # context
        (lambda blob: blob[:20], b"aad"),  # truncated
    ],
)
def test_sm4_gcm_rejects_any_alteration(mutate: object, aad: bytes) -> None:
    key = bytes(range(16))
    blob = sm4_gcm_encrypt(key, b"310101199001011234", b"aad")
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(key, mutate(blob), aad)  # type: ignore[operator]


def test_sm4_gcm_rejects_a_wrong_key_and_wrong_key_sizes() -> None:
    blob = sm4_gcm_encrypt(bytes(16), b"secret", b"")
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(bytes(15) + b"\x01", blob, b"")
    with pytest.raises(CryptoError, match="16 bytes"):
        sm4_gcm_encrypt(bytes(32), b"x", b"")


@given(key=st.binary(min_size=16, max_size=16), plaintext=st.binary(), aad=st.binary())
def test_sm4_gcm_round_trips(key: bytes, plaintext: bytes, aad: bytes) -> None:
    assert sm4_gcm_decrypt(key, sm4_gcm_encrypt(key, plaintext, aad), aad) == plaintext


@given(st.binary())
def test_sm3_agrees_with_hashlib(data: bytes) -> None:
    assert sm3(data) == hashlib.new("sm3", data).digest()
