"""SM2 (GB/T 32918) signatures and encryption behind one API, with two back-ends.

* ``tongsuopy``: Tongsuo (OpenSSL 1.1.1 fork) in C, fast; used when importable.
* ``snowland``: snowland-smx (``pysmx``), pure Python, slow but portable.

Formats are pinned, because that is where SM2 implementations disagree:

* private keys: 64 hex characters; public keys: ``"04" + x + y`` (130 hex characters).
  A 128-character key is accepted and given its ``04`` by length, never by stripping
  characters (py-gmssl's ``lstrip("04")`` corrupts keys whose x starts with 0 or 4).
* signatures: DER ``SEQUENCE {r INTEGER, s INTEGER}``; :func:`der_to_raw` /
  :func:`raw_to_der` convert to and from the 64-byte ``r || s`` others use.
* the digest is ``SM3(Z || M)``, ``Z`` computed with the user ID, by default
  ``1234567812345678``; partners that sign with another ID (the e-prescription
  centre uses its appSecret) pass ``user_id=``.
* ciphertexts: ``C1 || C3 || C2`` with C1 uncompressed (``04 || x || y``), the current
  standard's order; :func:`c1c3c2_to_c1c2c3` and back for systems on the 2010 draft
  order, :func:`ciphertext_to_der` / :func:`der_to_ciphertext` for the ASN.1 form
  (GM/T 0009) OpenSSL-style libraries speak.
"""

from __future__ import annotations

import ctypes
import functools
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from jingan.core.crypto.errors import CryptoError, DecryptionError, SignatureFormatError
from jingan.core.crypto.primitives import sm3

DEFAULT_USER_ID = b"1234567812345678"

# The recommended 256-bit curve (GB/T 32918.5).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

C1_BYTES = 65
C3_BYTES = 32


@dataclass(frozen=True)
class Sm2KeyPair:
    """An SM2 key pair as hex: private 64 characters, public ``04`` + x + y."""

    private_hex: str
    public_hex: str

    def __repr__(self) -> str:  # never print the private key
        return f"Sm2KeyPair(public_hex={self.public_hex!r})"


# -- key and format helpers ----------------------------------------------------------------


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def normalize_public_key(public_hex: str) -> str:
    """``04 || x || y`` in lower-case hex, checked to lie on the curve."""
    text = public_hex.strip().lower()
    if len(text) == 128:
        text = "04" + text
    if len(text) != 130 or not text.startswith("04"):
        raise CryptoError("SM2 public keys are 04 + 128 hex characters (uncompressed point)")
    try:
        x, y = int(text[2:66], 16), int(text[66:], 16)
    except ValueError:
        raise CryptoError("SM2 public key is not hexadecimal") from None
    if not _on_curve(x, y):
        raise CryptoError("SM2 public key is not a point on the SM2 curve")
    return text


def normalize_private_key(private_hex: str) -> str:
    """64 lower-case hex characters of a scalar in [1, n-2]."""
    text = private_hex.strip().lower()
    if len(text) != 64:
        raise CryptoError("SM2 private keys are 64 hex characters")
    try:
        value = int(text, 16)
    except ValueError:
        raise CryptoError("SM2 private key is not hexadecimal") from None
    if not 1 <= value <= N - 2:
        raise CryptoError("SM2 private key is out of range")
    return text


def z_digest(public_hex: str, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) of GB/T 32918.2."""
    if len(user_id) * 8 >= 1 << 16:
        raise CryptoError("SM2 user ID is too long")
    public = bytes.fromhex(normalize_public_key(public_hex))[1:]
    return sm3(
        (len(user_id) * 8).to_bytes(2, "big")
        + user_id
        + b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
        + public
    )


# -- DER ---------------------------------------------------------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _der_tlv(0x02, body)


def _der_read(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """Read one TLV of ``tag`` at ``offset``, strictly (minimal lengths only)."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise SignatureFormatError(f"expected DER tag 0x{tag:02x}")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise SignatureFormatError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        if length < 0x80 or data[offset] == 0:
            raise SignatureFormatError("non-minimal DER length")
        offset += count
    if offset + length > len(data):
        raise SignatureFormatError("truncated DER value")
    return data[offset : offset + length], offset + length


def _der_read_integer(data: bytes, offset: int) -> tuple[int, int]:
    body, offset = _der_read(data, offset, 0x02)
    if not body or body[0] & 0x80:
        raise SignatureFormatError("DER INTEGER is empty or negative")
    if len(body) > 1 and body[0] == 0 and not body[1] & 0x80:
        raise SignatureFormatError("DER INTEGER has a redundant leading zero")
    return int.from_bytes(body, "big"), offset


def der_to_raw(signature: bytes) -> bytes:
    """DER ``SEQUENCE {r, s}`` to the 64-byte ``r || s`` form."""
    body, end = _der_read(signature, 0, 0x30)
    if end != len(signature):
        raise SignatureFormatError("trailing bytes after the DER signature")
    r, offset = _der_read_integer(body, 0)
    s, offset = _der_read_integer(body, offset)
    if offset != len(body):
        raise SignatureFormatError("extra fields in the DER signature")
    if not (1 <= r < N and 1 <= s < N):
        raise SignatureFormatError("signature values out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(raw: bytes) -> bytes:
    """64-byte ``r || s`` to DER ``SEQUENCE {r, s}``."""
    if len(raw) != 64:
        raise SignatureFormatError("raw SM2 signatures are 64 bytes (r || s)")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        raise SignatureFormatError("signature values out of range")
    return _der_tlv(0x30, _der_integer(r) + _der_integer(s))


def _split_c1c3c2(ciphertext: bytes) -> tuple[bytes, bytes, bytes]:
    if len(ciphertext) <= C1_BYTES + C3_BYTES or ciphertext[0] != 0x04:
        raise SignatureFormatError("SM2 ciphertexts start with an uncompressed C1 (04 || x || y)")
    return (
        ciphertext[:C1_BYTES],
        ciphertext[C1_BYTES : C1_BYTES + C3_BYTES],
        ciphertext[C1_BYTES + C3_BYTES :],
    )


def c1c3c2_to_c1c2c3(ciphertext: bytes) -> bytes:
    """Reorder a ``C1 || C3 || C2`` ciphertext to the 2010 draft's ``C1 || C2 || C3``."""
    c1, c3, c2 = _split_c1c3c2(ciphertext)
    return c1 + c2 + c3


def c1c2c3_to_c1c3c2(ciphertext: bytes) -> bytes:
    """Reorder a ``C1 || C2 || C3`` ciphertext to the standard ``C1 || C3 || C2``."""
    if len(ciphertext) <= C1_BYTES + C3_BYTES or ciphertext[0] != 0x04:
        raise SignatureFormatError("SM2 ciphertexts start with an uncompressed C1 (04 || x || y)")
    return ciphertext[:C1_BYTES] + ciphertext[-C3_BYTES:] + ciphertext[C1_BYTES:-C3_BYTES]


def ciphertext_to_der(ciphertext: bytes) -> bytes:
    """``C1 || C3 || C2`` to the GM/T 0009 ASN.1 form ``SEQUENCE {x, y, hash, ciphertext}``."""
    c1, c3, c2 = _split_c1c3c2(ciphertext)
    x, y = int.from_bytes(c1[1:33], "big"), int.from_bytes(c1[33:], "big")
    return _der_tlv(
        0x30, _der_integer(x) + _der_integer(y) + _der_tlv(0x04, c3) + _der_tlv(0x04, c2)
    )


def der_to_ciphertext(der: bytes) -> bytes:
    """The GM/T 0009 ASN.1 form to ``C1 || C3 || C2``."""
    body, end = _der_read(der, 0, 0x30)
    if end != len(der):
        raise SignatureFormatError("trailing bytes after the DER ciphertext")
    x, offset = _der_read_integer(body, 0)
    y, offset = _der_read_integer(body, offset)
    c3, offset = _der_read(body, offset, 0x04)
    c2, offset = _der_read(body, offset, 0x04)
    if offset != len(body) or len(c3) != C3_BYTES or x >= P or y >= P:
        raise SignatureFormatError("malformed SM2 ASN.1 ciphertext")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2


# -- back-ends -------------------------------------------------------------------------------


class Sm2Backend(Protocol):
    """One implementation of SM2; all take and return the pinned formats above."""

    name: str

    def generate_keypair(self) -> Sm2KeyPair: ...

    def public_key(self, private_hex: str) -> str: ...

    def sign(self, private_hex: str, message: bytes, user_id: bytes) -> bytes: ...

    def verify(self, public_hex: str, message: bytes, signature: bytes, user_id: bytes) -> bool: ...

    def encrypt(self, public_hex: str, plaintext: bytes) -> bytes: ...

    def decrypt(self, private_hex: str, ciphertext: bytes) -> bytes: ...


class SnowlandBackend:
    """Pure Python (snowland-smx); the library does not range-check, so this wrapper does."""

    name = "snowland"

    def __init__(self) -> None:
        from pysmx import SM2 as snowland

        self._sm2 = snowland

    def generate_keypair(self) -> Sm2KeyPair:
        private_hex = f"{secrets.randbelow(N - 2) + 1:064x}"
        return Sm2KeyPair(private_hex=private_hex, public_hex=self.public_key(private_hex))

    def public_key(self, private_hex: str) -> str:
        private_hex = normalize_private_key(private_hex)
        return "04" + self._sm2.kG(int(private_hex, 16), self._sm2.sm2_G, 64)

    def sign(self, private_hex: str, message: bytes, user_id: bytes) -> bytes:
        private_hex = normalize_private_key(private_hex)
        digest = sm3(z_digest(self.public_key(private_hex), user_id) + message)
        while True:
            k = f"{secrets.randbelow(N - 1) + 1:064x}"
            raw = self._sm2.Sign(digest.hex(), private_hex, k, 64, Hexstr=1)
            if raw is not None:
                return raw_to_der(raw)

    def verify(self, public_hex: str, message: bytes, signature: bytes, user_id: bytes) -> bool:
        public_hex = normalize_public_key(public_hex)
        try:
            raw = der_to_raw(signature)
        except SignatureFormatError:
            return False
        digest = sm3(z_digest(public_hex, user_id) + message)
        return bool(self._sm2.Verify(raw.hex(), digest.hex(), public_hex[2:], 64, Hexstr=1))

    def encrypt(self, public_hex: str, plaintext: bytes) -> bytes:
        public_hex = normalize_public_key(public_hex)
        if not plaintext:
            raise CryptoError("SM2 encryption needs a non-empty plaintext")
        while True:
            body = self._sm2.Encrypt(plaintext, public_hex[2:], 64, mode="C1C3C2")
            if body is not None:
                return b"\x04" + body

    def decrypt(self, private_hex: str, ciphertext: bytes) -> bytes:
        private_hex = normalize_private_key(private_hex)
        try:
            c1, _, _ = _split_c1c3c2(ciphertext)
        except SignatureFormatError as error:
            raise DecryptionError(str(error)) from None
        x, y = int.from_bytes(c1[1:33], "big"), int.from_bytes(c1[33:], "big")
        if not _on_curve(x, y):
            raise DecryptionError("SM2 ciphertext C1 is not on the curve")
        plaintext = self._sm2.Decrypt(ciphertext[1:], private_hex, 64, mode="C1C3C2")
        if plaintext is None:
            raise DecryptionError("SM2 decryption failed: C3 does not match")
        return bytes(plaintext)


class TongsuoBackend:
    """Tongsuo through its C functions (the Python wrapper hides the SM2 user ID)."""

    name = "tongsuopy"
    # OpenSSL 1.1.1 / Tongsuo ec.h: EVP_PKEY_CTX_set1_id(ctx, id, len) is the macro
    # EVP_PKEY_CTX_ctrl(ctx, -1, -1, EVP_PKEY_CTRL_SET1_ID, len, id), with
    # EVP_PKEY_CTRL_SET1_ID = EVP_PKEY_ALG_CTRL + 11 (OpenSSL 3 renumbered it to 15).
    EVP_PKEY_CTRL_SET1_ID = 0x1000 + 11
    POINT_CONVERSION_UNCOMPRESSED = 4

    def __init__(self) -> None:
        from tongsuopy.backends import _tongsuo

        lib = ctypes.CDLL(_tongsuo.__file__)
        ptr, num, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        signatures = {
            "OBJ_sn2nid": (num, [ctypes.c_char_p]),
            "EC_KEY_new_by_curve_name": (ptr, [num]),
            "EC_KEY_free": (None, [ptr]),
            "EC_KEY_generate_key": (num, [ptr]),
            "EC_KEY_get0_group": (ptr, [ptr]),
            "EC_KEY_get0_private_key": (ptr, [ptr]),
            "EC_KEY_get0_public_key": (ptr, [ptr]),
            "EC_KEY_set_private_key": (num, [ptr, ptr]),
            "EC_KEY_set_public_key": (num, [ptr, ptr]),
            "EC_KEY_oct2key": (num, [ptr, ctypes.c_char_p, size, ptr]),
            "EC_POINT_new": (ptr, [ptr]),
            "EC_POINT_free": (None, [ptr]),
            "EC_POINT_mul": (num, [ptr, ptr, ptr, ptr, ptr, ptr]),
            "EC_POINT_point2oct": (size, [ptr, ptr, num, ctypes.c_char_p, size, ptr]),
            "BN_bin2bn": (ptr, [ctypes.c_char_p, num, ptr]),
            "BN_bn2binpad": (num, [ptr, ctypes.c_char_p, num]),
            "BN_clear_free": (None, [ptr]),
            "EVP_PKEY_new": (ptr, []),
            "EVP_PKEY_free": (None, [ptr]),
            "EVP_PKEY_up_ref": (num, [ptr]),
            "EVP_PKEY_set1_EC_KEY": (num, [ptr, ptr]),
            "EVP_PKEY_set_alias_type": (num, [ptr, num]),
            "EVP_PKEY_CTX_new": (ptr, [ptr, ptr]),
            "EVP_PKEY_CTX_free": (None, [ptr]),
            "EVP_PKEY_CTX_ctrl": (num, [ptr, num, num, num, num, ptr]),
            "EVP_PKEY_encrypt_init": (num, [ptr]),
            "EVP_PKEY_encrypt": (
                num,
                [ptr, ctypes.c_char_p, ctypes.POINTER(size), ctypes.c_char_p, size],
            ),
            "EVP_PKEY_decrypt_init": (num, [ptr]),
            "EVP_PKEY_decrypt": (
                num,
                [ptr, ctypes.c_char_p, ctypes.POINTER(size), ctypes.c_char_p, size],
            ),
            "EVP_MD_CTX_new": (ptr, []),
            "EVP_MD_CTX_free": (None, [ptr]),
            "EVP_MD_CTX_set_pkey_ctx": (None, [ptr, ptr]),
            "EVP_sm3": (ptr, []),
            "EVP_DigestSignInit": (num, [ptr, ptr, ptr, ptr, ptr]),
            "EVP_DigestSign": (
                num,
                [ptr, ctypes.c_char_p, ctypes.POINTER(size), ctypes.c_char_p, size],
            ),
            "EVP_DigestVerifyInit": (num, [ptr, ptr, ptr, ptr, ptr]),
            "EVP_DigestVerify": (num, [ptr, ctypes.c_char_p, size, ctypes.c_char_p, size]),
            "ERR_clear_error": (None, []),
        }
        for function, (restype, argtypes) in signatures.items():
            handle = getattr(lib, function)
            handle.restype = restype
            handle.argtypes = argtypes
        self._lib = lib
        # Building a key from its hex costs a scalar multiplication (half of a signature),
        # so the few keys in use (one per purpose) are kept as ready EVP_PKEYs.
        self._pkeys: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._pkeys_lock = threading.Lock()
        self._nid = lib.OBJ_sn2nid(b"SM2")
        if self._nid <= 0:
            raise CryptoError("this Tongsuo build has no SM2 curve")

    # -- keys ----------------------------------------------------------------------------

    def _check(self, result: int, what: str) -> None:
        if result != 1:
            self._lib.ERR_clear_error()
            raise CryptoError(f"Tongsuo: {what} failed")

    def _wrap(self, ec_key: int) -> int:
        """An SM2 EVP_PKEY holding ``ec_key`` (which the caller still frees)."""
        lib = self._lib
        pkey = lib.EVP_PKEY_new()
        try:
            self._check(lib.EVP_PKEY_set1_EC_KEY(pkey, ec_key), "EVP_PKEY_set1_EC_KEY")
            self._check(lib.EVP_PKEY_set_alias_type(pkey, self._nid), "EVP_PKEY_set_alias_type")
        except CryptoError:
            lib.EVP_PKEY_free(pkey)
            raise
        return int(pkey)

    def _build_private_pkey(self, private_hex: str) -> int:
        lib = self._lib
        scalar = bytes.fromhex(normalize_private_key(private_hex))
        ec_key = lib.EC_KEY_new_by_curve_name(self._nid)
        bn = lib.BN_bin2bn(scalar, 32, None)
        group = lib.EC_KEY_get0_group(ec_key)
        point = lib.EC_POINT_new(group)
        try:
            self._check(lib.EC_KEY_set_private_key(ec_key, bn), "EC_KEY_set_private_key")
            self._check(lib.EC_POINT_mul(group, point, bn, None, None, None), "EC_POINT_mul")
            self._check(lib.EC_KEY_set_public_key(ec_key, point), "EC_KEY_set_public_key")
            return self._wrap(ec_key)
        finally:
            lib.EC_POINT_free(point)
            lib.BN_clear_free(bn)
            lib.EC_KEY_free(ec_key)

    def _build_public_pkey(self, public_hex: str) -> int:
        lib = self._lib
        point = bytes.fromhex(normalize_public_key(public_hex))
        ec_key = lib.EC_KEY_new_by_curve_name(self._nid)
        try:
            self._check(lib.EC_KEY_oct2key(ec_key, point, len(point), None), "EC_KEY_oct2key")
            return self._wrap(ec_key)
        finally:
            lib.EC_KEY_free(ec_key)

    CACHED_KEYS = 32

    def _pkey(self, kind: str, key_hex: str) -> int:
        """A new reference to the EVP_PKEY of a key (the caller frees it with EVP_PKEY_free)."""
        cache_key = (kind, key_hex)
        with self._pkeys_lock:
            pkey = self._pkeys.get(cache_key)
            if pkey is not None:
                self._pkeys.move_to_end(cache_key)
                self._lib.EVP_PKEY_up_ref(pkey)
                return pkey
        build = self._build_private_pkey if kind == "private" else self._build_public_pkey
        pkey = build(key_hex)
        with self._pkeys_lock:
            if cache_key not in self._pkeys:
                self._lib.EVP_PKEY_up_ref(pkey)  # the cache's own reference
                self._pkeys[cache_key] = pkey
                while len(self._pkeys) > self.CACHED_KEYS:
                    _, evicted = self._pkeys.popitem(last=False)
                    self._lib.EVP_PKEY_free(evicted)
        return pkey

    def _private_pkey(self, private_hex: str) -> int:
        return self._pkey("private", private_hex)

    def _public_pkey(self, public_hex: str) -> int:
        return self._pkey("public", public_hex)

    def _point_hex(self, ec_key: int) -> str:
        lib = self._lib
        buffer = ctypes.create_string_buffer(65)
        written = lib.EC_POINT_point2oct(
            lib.EC_KEY_get0_group(ec_key),
            lib.EC_KEY_get0_public_key(ec_key),
            self.POINT_CONVERSION_UNCOMPRESSED,
            buffer,
            65,
            None,
        )
        if written != 65:
            raise CryptoError("Tongsuo: EC_POINT_point2oct failed")
        return buffer.raw.hex()

    def generate_keypair(self) -> Sm2KeyPair:
        lib = self._lib
        while True:
            ec_key = lib.EC_KEY_new_by_curve_name(self._nid)
            try:
                self._check(lib.EC_KEY_generate_key(ec_key), "EC_KEY_generate_key")
                buffer = ctypes.create_string_buffer(32)
                lib.BN_bn2binpad(lib.EC_KEY_get0_private_key(ec_key), buffer, 32)
                private = int.from_bytes(buffer.raw, "big")
                # SM2 signing needs (1 + d) invertible: d = n - 1 is excluded.
                if 1 <= private <= N - 2:
                    return Sm2KeyPair(
                        private_hex=buffer.raw.hex(), public_hex=self._point_hex(ec_key)
                    )
            finally:
                lib.EC_KEY_free(ec_key)

    def public_key(self, private_hex: str) -> str:
        lib = self._lib
        scalar = bytes.fromhex(normalize_private_key(private_hex))
        ec_key = lib.EC_KEY_new_by_curve_name(self._nid)
        bn = lib.BN_bin2bn(scalar, 32, None)
        group = lib.EC_KEY_get0_group(ec_key)
        point = lib.EC_POINT_new(group)
        try:
            self._check(lib.EC_POINT_mul(group, point, bn, None, None, None), "EC_POINT_mul")
            self._check(lib.EC_KEY_set_public_key(ec_key, point), "EC_KEY_set_public_key")
            return self._point_hex(ec_key)
        finally:
            lib.EC_POINT_free(point)
            lib.BN_clear_free(bn)
            lib.EC_KEY_free(ec_key)

    # -- signatures ------------------------------------------------------------------------

    def _digest_context(self, pkey: int, user_id: bytes, *, signing: bool) -> tuple[int, int]:
        lib = self._lib
        md_ctx = lib.EVP_MD_CTX_new()
        pkey_ctx = lib.EVP_PKEY_CTX_new(pkey, None)
        identifier = ctypes.create_string_buffer(user_id, len(user_id))
        try:
            self._check(
                lib.EVP_PKEY_CTX_ctrl(
                    pkey_ctx, -1, -1, self.EVP_PKEY_CTRL_SET1_ID, len(user_id), identifier
                ),
                "EVP_PKEY_CTX_set1_id",
            )
            lib.EVP_MD_CTX_set_pkey_ctx(md_ctx, pkey_ctx)
            init = lib.EVP_DigestSignInit if signing else lib.EVP_DigestVerifyInit
            self._check(init(md_ctx, None, lib.EVP_sm3(), None, pkey), "EVP_Digest*Init")
        except CryptoError:
            lib.EVP_MD_CTX_free(md_ctx)
            lib.EVP_PKEY_CTX_free(pkey_ctx)
            raise
        return int(md_ctx), int(pkey_ctx)

    def sign(self, private_hex: str, message: bytes, user_id: bytes) -> bytes:
        lib = self._lib
        pkey = self._private_pkey(private_hex)
        md_ctx, pkey_ctx = self._digest_context(pkey, user_id, signing=True)
        try:
            length = ctypes.c_size_t(0)
            self._check(
                lib.EVP_DigestSign(md_ctx, None, ctypes.byref(length), message, len(message)),
                "EVP_DigestSign",
            )
            buffer = ctypes.create_string_buffer(length.value)
            self._check(
                lib.EVP_DigestSign(md_ctx, buffer, ctypes.byref(length), message, len(message)),
                "EVP_DigestSign",
            )
            return buffer.raw[: length.value]
        finally:
            # The MD context does not own a PKEY context given by EVP_MD_CTX_set_pkey_ctx.
            lib.EVP_MD_CTX_free(md_ctx)
            lib.EVP_PKEY_CTX_free(pkey_ctx)
            lib.EVP_PKEY_free(pkey)

    def verify(self, public_hex: str, message: bytes, signature: bytes, user_id: bytes) -> bool:
        lib = self._lib
        try:
            # Canonical DER only: the library would also accept some BER variants.
            der_to_raw(signature)
        except SignatureFormatError:
            return False
        pkey = self._public_pkey(public_hex)
        md_ctx, pkey_ctx = self._digest_context(pkey, user_id, signing=False)
        try:
            result = lib.EVP_DigestVerify(md_ctx, signature, len(signature), message, len(message))
            if result != 1:
                lib.ERR_clear_error()
            return bool(result == 1)
        finally:
            lib.EVP_MD_CTX_free(md_ctx)
            lib.EVP_PKEY_CTX_free(pkey_ctx)
            lib.EVP_PKEY_free(pkey)

    # -- encryption ----------------------------------------------------------------------------

    def _cipher(self, pkey: int, data: bytes, *, encrypting: bool) -> bytes:
        lib = self._lib
        pkey_ctx = lib.EVP_PKEY_CTX_new(pkey, None)
        init, run = (
            (lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt)
            if encrypting
            else (lib.EVP_PKEY_decrypt_init, lib.EVP_PKEY_decrypt)
        )
        try:
            self._check(init(pkey_ctx), "EVP_PKEY_*crypt_init")
            length = ctypes.c_size_t(0)
            self._check(run(pkey_ctx, None, ctypes.byref(length), data, len(data)), "size query")
            buffer = ctypes.create_string_buffer(length.value)
            self._check(run(pkey_ctx, buffer, ctypes.byref(length), data, len(data)), "SM2 cipher")
            return buffer.raw[: length.value]
        finally:
            lib.EVP_PKEY_CTX_free(pkey_ctx)

    def encrypt(self, public_hex: str, plaintext: bytes) -> bytes:
        # Tongsuo skips GB/T 32918.4 step A5 (new k when the KDF output is all zero): a
        # strict decryptor refuses 256**-len(plaintext) of these ciphertexts, which only
        # matters for a plaintext of a few bytes (none here: SM4 carries the data).
        if not plaintext:
            raise CryptoError("SM2 encryption needs a non-empty plaintext")
        pkey = self._public_pkey(public_hex)
        try:
            return der_to_ciphertext(self._cipher(pkey, plaintext, encrypting=True))
        finally:
            self._lib.EVP_PKEY_free(pkey)

    def decrypt(self, private_hex: str, ciphertext: bytes) -> bytes:
        try:
            der = ciphertext_to_der(ciphertext)
        except SignatureFormatError as error:
            raise DecryptionError(str(error)) from None
        pkey = self._private_pkey(private_hex)
        try:
            return self._cipher(pkey, der, encrypting=False)
        except CryptoError:
            raise DecryptionError(
                "SM2 decryption failed: wrong key or altered ciphertext"
            ) from None
        finally:
            self._lib.EVP_PKEY_free(pkey)


BACKENDS = ("tongsuopy", "snowland")


@functools.cache
def get_backend(name: str | None = None) -> Sm2Backend:
    """The named back-end, or the fastest one available (tongsuopy, else snowland)."""
    if name is None:
        try:
            return get_backend("tongsuopy")
        except ImportError:
            return get_backend("snowland")
    if name == "tongsuopy":
        return TongsuoBackend()
    if name == "snowland":
        return SnowlandBackend()
    raise CryptoError(f"unknown SM2 back-end {name!r}; choose one of {', '.join(BACKENDS)}")


# -- the API ------------------------------------------------------------------------------------


def generate_keypair() -> Sm2KeyPair:
    """A new random SM2 key pair."""
    return get_backend().generate_keypair()


def public_key_of(private_hex: str) -> str:
    """The public key (``04`` + x + y) of a private key."""
    return get_backend().public_key(private_hex)


def sign(private_hex: str, message: bytes, *, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """SM2 signature (DER) over ``SM3(Z || message)``, Z computed with ``user_id``."""
    return get_backend().sign(private_hex, message, user_id)


def verify(
    public_hex: str, message: bytes, signature_der: bytes, *, user_id: bytes = DEFAULT_USER_ID
) -> bool:
    """True if ``signature_der`` is a valid signature; malformed signatures are False."""
    return get_backend().verify(public_hex, message, signature_der, user_id)


def encrypt(public_hex: str, plaintext: bytes) -> bytes:
    """SM2 public-key encryption; returns ``C1 || C3 || C2`` with C1 = 04 || x || y."""
    return get_backend().encrypt(public_hex, plaintext)


def decrypt(private_hex: str, ciphertext: bytes) -> bytes:
    """Decrypt a ``C1 || C3 || C2`` ciphertext; DecryptionError if it does not check out."""
    return get_backend().decrypt(private_hex, ciphertext)
