from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jingan.core.crypto import sm2
from jingan.core.crypto.errors import CryptoError, DecryptionError, SignatureFormatError

pytestmark = pytest.mark.req("SEC-1")

# GB/T 32918 example key pair on the recommended curve.
PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
PUBLIC = (
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
# "message digest" signed with the default ID and k = 59276E27…BC21.
KNOWN_SIGNATURE = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)
# "encryption standard" encrypted to PUBLIC with k = 59276E27…BC21 (C1 || C3 || C2).
# Its C1 x-coordinate starts with 04: the py-gmssl lstrip("04") trap, for free.
KNOWN_CIPHERTEXT = bytes.fromhex(
    "04"
    "04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73"
    "e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"
    "59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"
    "21886ca989ca9c7d58087307ca93092d651efa"
)
PARTNER_ID = b"e-prescription-appSecret-7f3a"

BACKENDS = ["tongsuopy", "snowland"]
PAIRS = [(a, b) for a in BACKENDS for b in BACKENDS]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> sm2.Sm2Backend:
    return sm2.get_backend(request.param)


def test_default_backend_is_tongsuopy() -> None:
    assert sm2.get_backend().name == "tongsuopy"
    with pytest.raises(CryptoError, match="unknown SM2 back-end"):
        sm2.get_backend("gmssl")


def test_public_key_of_the_standard_private_key(backend: sm2.Sm2Backend) -> None:
    assert backend.public_key(PRIVATE) == PUBLIC
    assert backend.public_key(PRIVATE.upper()) == PUBLIC


def test_z_digest_with_the_default_id_matches_the_published_value() -> None:
    assert (
        sm2.z_digest(PUBLIC).hex()
        == "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
    )
    assert sm2.z_digest(PUBLIC, b"ALICE123@YAHOO.COM") != sm2.z_digest(PUBLIC)


def test_known_signature_verifies_in_both_backends(backend: sm2.Sm2Backend) -> None:
    der = sm2.raw_to_der(KNOWN_SIGNATURE)
    assert backend.verify(PUBLIC, b"message digest", der, sm2.DEFAULT_USER_ID)
    assert not backend.verify(PUBLIC, b"message digesT", der, sm2.DEFAULT_USER_ID)
    assert not backend.verify(PUBLIC, b"message digest", der, PARTNER_ID)


def test_known_signature_is_reproduced_with_the_published_k() -> None:
    from pysmx import SM2 as snowland

    digest = sm2.sm3(sm2.z_digest(PUBLIC) + b"message digest")
    k = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
    assert snowland.Sign(digest.hex(), PRIVATE, k, 64, Hexstr=1) == KNOWN_SIGNATURE


def test_known_ciphertext_decrypts_in_both_backends(backend: sm2.Sm2Backend) -> None:
    assert backend.decrypt(PRIVATE, KNOWN_CIPHERTEXT) == b"encryption standard"
    reordered = sm2.c1c3c2_to_c1c2c3(KNOWN_CIPHERTEXT)
    assert reordered[-32:] == KNOWN_CIPHERTEXT[65:97]
    assert sm2.c1c2c3_to_c1c3c2(reordered) == KNOWN_CIPHERTEXT
    # Fed in the wrong order, the check value does not match: it fails, never garbles.
    with pytest.raises(DecryptionError):
        backend.decrypt(PRIVATE, reordered)


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@pytest.mark.parametrize("user_id", [sm2.DEFAULT_USER_ID, PARTNER_ID, b"ALICE123@YAHOO.COM"])
def test_signatures_cross_verify_with_default_and_custom_ids(
    signer: str, verifier: str, user_id: bytes
) -> None:
    signed = sm2.get_backend(signer).sign(PRIVATE, "处方 12345".encode(), user_id)
    check = sm2.get_backend(verifier)
    assert check.verify(PUBLIC, "处方 12345".encode(), signed, user_id)
    assert not check.verify(PUBLIC, "处方 12346".encode(), signed, user_id)
    other_id = sm2.DEFAULT_USER_ID if user_id != sm2.DEFAULT_USER_ID else PARTNER_ID
    assert not check.verify(PUBLIC, "处方 12345".encode(), signed, other_id)


@pytest.mark.parametrize(("encrypter", "decrypter"), PAIRS)
def test_ciphertexts_cross_decrypt(encrypter: str, decrypter: str) -> None:
    ciphertext = sm2.get_backend(encrypter).encrypt(PUBLIC, "身份证号 310106199003071234".encode())
    assert ciphertext[0] == 0x04
    assert len(ciphertext) == 65 + 32 + len("身份证号 310106199003071234".encode())
    plaintext = sm2.get_backend(decrypter).decrypt(PRIVATE, ciphertext)
    assert plaintext == "身份证号 310106199003071234".encode()


@pytest.mark.parametrize(("generator", "user"), PAIRS)
def test_generated_keys_work_across_backends(generator: str, user: str) -> None:
    pair = sm2.get_backend(generator).generate_keypair()
    assert len(pair.private_hex) == 64
    assert len(pair.public_hex) == 130
    assert pair.public_hex.startswith("04")
    other = sm2.get_backend(user)
    assert other.public_key(pair.private_hex) == pair.public_hex
    assert other.verify(
        pair.public_hex, b"m", other.sign(pair.private_hex, b"m", PARTNER_ID), PARTNER_ID
    )
    assert pair.private_hex not in repr(pair)


def test_keys_with_leading_04_are_never_stripped() -> None:
    tongsuo = sm2.get_backend("tongsuopy")
    # Find a key whose x-coordinate starts with 04 (expected within ~256 tries).
    for _ in range(5000):
        pair = tongsuo.generate_keypair()
        if pair.public_hex[2:4] == "04":
            break
    else:  # pragma: no cover
        pytest.fail("no key with x starting 04 found")
    bare = pair.public_hex[2:]  # x || y without the prefix: accepted by length
    assert sm2.normalize_public_key(bare) == pair.public_hex
    signed = tongsuo.sign(pair.private_hex, b"m", sm2.DEFAULT_USER_ID)
    for backend in BACKENDS:
        assert sm2.get_backend(backend).verify(bare, b"m", signed, sm2.DEFAULT_USER_ID)
        # Not a 1-byte plaintext: Tongsuo lacks the all-zero KDF retry (GB/T 32918.4 A5),
        # so for 1 byte in 256 encryptions snowland would rightly refuse the ciphertext.
        plaintext = b"leading 04 key, 32 bytes long..."
        assert (
            sm2.get_backend(backend).decrypt(
                pair.private_hex, sm2.get_backend("tongsuopy").encrypt(bare, plaintext)
            )
            == plaintext
        )


def test_der_and_raw_signature_forms_convert_both_ways() -> None:
    der = sm2.raw_to_der(KNOWN_SIGNATURE)
    # r and s both have the high bit set, so each INTEGER needs a leading zero byte.
    assert der[:4] == bytes.fromhex("30460221")
    assert der[4] == 0x00
    assert sm2.der_to_raw(der) == KNOWN_SIGNATURE
    small = (1).to_bytes(32, "big") + (0x7F).to_bytes(32, "big")
    assert sm2.raw_to_der(small) == bytes.fromhex("300602010102017f")
    assert sm2.der_to_raw(bytes.fromhex("300602010102017f")) == small


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "3006020101020100",  # s = 0
        "300702020001020101",  # redundant leading zero
        "3006020181020101",  # negative r
        "3006020101020101ff",  # trailing byte
        "3106020101020101",  # not a SEQUENCE
        "30060201010201",  # truncated
    ],
)
def test_malformed_der_signatures_are_rejected_not_crashing(
    bad: str, backend: sm2.Sm2Backend
) -> None:
    with pytest.raises(SignatureFormatError):
        sm2.der_to_raw(bytes.fromhex(bad))
    assert not backend.verify(PUBLIC, b"m", bytes.fromhex(bad), sm2.DEFAULT_USER_ID)


def test_raw_signature_with_a_value_out_of_range_is_rejected() -> None:
    with pytest.raises(SignatureFormatError):
        sm2.raw_to_der(sm2.N.to_bytes(32, "big") + (1).to_bytes(32, "big"))
    with pytest.raises(SignatureFormatError):
        sm2.raw_to_der(b"\x01" * 63)


def test_ciphertext_der_form_round_trips() -> None:
    der = sm2.ciphertext_to_der(KNOWN_CIPHERTEXT)
    assert der[0] == 0x30
    assert sm2.der_to_ciphertext(der) == KNOWN_CIPHERTEXT


def test_invalid_public_keys_are_refused(backend: sm2.Sm2Backend) -> None:
    off_curve = PUBLIC[:-1] + ("0" if PUBLIC[-1] != "0" else "1")
    for bad, message in (
        (off_curve, "not a point"),
        ("02" + PUBLIC[2:66], "uncompressed"),
        ("04" + "zz" * 64, "not hexadecimal"),
    ):
        with pytest.raises(CryptoError, match=message):
            backend.verify(bad, b"m", sm2.raw_to_der(KNOWN_SIGNATURE), sm2.DEFAULT_USER_ID)


def test_altered_ciphertexts_fail_to_decrypt(backend: sm2.Sm2Backend) -> None:
    ciphertext = sm2.encrypt(PUBLIC, b"secret")
    for index in (len(ciphertext) - 1, 70, 10):
        altered = bytearray(ciphertext)
        altered[index] ^= 1
        with pytest.raises(DecryptionError):
            backend.decrypt(PRIVATE, bytes(altered))
    with pytest.raises(DecryptionError):
        backend.decrypt(PRIVATE, ciphertext[:90])
    other = backend.generate_keypair()
    with pytest.raises(DecryptionError):
        backend.decrypt(other.private_hex, ciphertext)


def test_empty_plaintext_is_refused(backend: sm2.Sm2Backend) -> None:
    with pytest.raises(CryptoError, match="non-empty"):
        backend.encrypt(PUBLIC, b"")


def test_module_api_uses_the_default_backend() -> None:
    pair = sm2.generate_keypair()
    signature = sm2.sign(pair.private_hex, b"x", user_id=PARTNER_ID)
    assert sm2.verify(pair.public_hex, b"x", signature, user_id=PARTNER_ID)
    assert not sm2.verify(pair.public_hex, b"x", signature)
    assert sm2.decrypt(pair.private_hex, sm2.encrypt(pair.public_hex, b"x")) == b"x"
    assert sm2.public_key_of(pair.private_hex) == pair.public_hex


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=300), user_id=st.binary(min_size=1, max_size=40))
def test_sign_verify_round_trips_across_backends(message: bytes, user_id: bytes) -> None:
    signed = sm2.get_backend("tongsuopy").sign(PRIVATE, message, user_id)
    assert sm2.get_backend("snowland").verify(PUBLIC, message, signed, user_id)
    signed = sm2.get_backend("snowland").sign(PRIVATE, message, user_id)
    assert sm2.get_backend("tongsuopy").verify(PUBLIC, message, signed, user_id)


# At least 16 bytes: Tongsuo does not draw a new k when the KDF output is all zero
# (GB/T 32918.4 step A5), and snowland, rightly, refuses such a ciphertext. For a one-byte
# plaintext that is one encryption in 256; for 16 bytes, one in 2**128.
@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(min_size=16, max_size=300))
def test_encrypt_decrypt_round_trips_across_backends(plaintext: bytes) -> None:
    ciphertext = sm2.get_backend("tongsuopy").encrypt(PUBLIC, plaintext)
    assert sm2.get_backend("snowland").decrypt(PRIVATE, ciphertext) == plaintext
    assert sm2.c1c2c3_to_c1c3c2(sm2.c1c3c2_to_c1c2c3(ciphertext)) == ciphertext


@given(
    r=st.integers(min_value=1, max_value=sm2.N - 1), s=st.integers(min_value=1, max_value=sm2.N - 1)
)
def test_der_raw_round_trips(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert sm2.der_to_raw(sm2.raw_to_der(raw)) == raw
