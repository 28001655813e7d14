"""The e-prescription centre's message envelope (医保电子处方中心 报文), both directions.

Every request and answer is one JSON object::

    {appId, encType, signType, timestamp, version, encData, signData}   (+ code, message,
                                                                        success in answers)

- ``encData``: the business JSON, SM4-ECB with PKCS#7 padding, upper-case hex. The
  SM4 data key is derived from the institution's credentials: the first 16 characters of
  upper-hex(SM4-ECB-PKCS7(key = first 16 bytes of ``appId`` in UTF-8, data =
  ``appSecret`` in UTF-8)), used as 16 UTF-8 bytes.
- ``signData``: SM3withSM2 over the *plaintext* sign text, SM2 user ID = the
  ``appSecret`` bytes, Base64 of the 64-byte ``r || s`` signature. The sign text takes
  ``{appId, encType, signType, timestamp, version, data: <business object>}`` (plus
  ``code``/``message`` in answers), drops ``signData``, ``encData`` and ``extra`` and
  every null or empty value (empty strings, objects and arrays, recursively), sorts
  keys in ASCII order, writes nested objects and arrays as compact key-sorted JSON and
  numbers/booleans as text, joins ``key=value`` pairs with ``&`` and appends
  ``&key=<appSecret>``.
- The institution signs requests with its own SM2 key; the centre signs answers and
  notifications with the centre key; each side verifies with the other's public key.

Keys travel as hex (``04 || X || Y`` public, 32-byte private scalar); the centre's
published keys are often Base64, which :func:`key_hex_from_base64` converts. The SM2
arithmetic is a back-end passed in by the caller (``Sm2Backend``): the platform passes
its Tongsuo (C) back-end, a vendor's tool may pass the pure-Python one.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENVELOPE_FIELDS = ("appId", "encType", "signType", "timestamp", "version")
ANSWER_FIELDS = ("code", "message")
UNSIGNED_FIELDS = frozenset({"signData", "encData", "extra"})
DEFAULT_ENC_TYPE = "SM4"
DEFAULT_SIGN_TYPE = "SM2"
# A request or notification older or newer than this (milliseconds) is refused.
ALLOWED_SKEW_MS = 5 * 60 * 1000


class Sm2Backend(Protocol):
    """SM2 with hex keys and DER signatures (``jingan.core.crypto.sm2`` back-ends fit)."""

    def sign(self, private_hex: str, message: bytes, user_id: bytes) -> bytes: ...

    def verify(self, public_hex: str, message: bytes, signature: bytes, user_id: bytes) -> bool: ...


class EnvelopeError(Exception):
    """An envelope that cannot be opened: ``field`` names what is wrong, for the answer."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class AppCredentials:
    """What one institution holds for the centre: its app, secret and SM2 key pair."""

    app_id: str
    app_secret: str
    private_key_hex: str = ""
    public_key_hex: str = ""

    def __repr__(self) -> str:  # never print the secret or the private key
        return f"AppCredentials(app_id={self.app_id!r})"


def key_hex_from_base64(value: str) -> str:
    """A Base64 SM2 key (private scalar or ``04||X||Y``) as lower-case hex."""
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError) as error:
        raise EnvelopeError(f"密钥不是有效的 Base64：{error}") from None


def key_base64_from_hex(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


# --- SM4 -----------------------------------------------------------------------------


def _sm4_ecb(key: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.SM4(key), modes.ECB())
    if encrypt:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = cipher.encryptor()
        return encryptor.update(padded) + encryptor.finalize()
    decryptor = cipher.decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def derive_data_key(app_id: str, app_secret: str) -> bytes:
    """The 16-byte SM4 data key of an app (see the module docstring)."""
    seed = app_id.encode("utf-8")[:16]
    if len(seed) != 16:
        raise EnvelopeError("appId 至少 16 个字节才能派生数据密钥", field="appId")
    derived = _sm4_ecb(seed, app_secret.encode("utf-8"), encrypt=True).hex().upper()
    return derived[:16].encode("utf-8")


def encrypt_data(data_key: bytes, data: Mapping[str, Any]) -> str:
    """``encData``: the business object as compact JSON, SM4-ECB-PKCS7, upper-case hex."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return _sm4_ecb(data_key, text.encode("utf-8"), encrypt=True).hex().upper()


def decrypt_data(data_key: bytes, enc_data: str) -> dict[str, Any]:
    """The business object inside ``encData``; EnvelopeError if it does not decrypt."""
    try:
        raw = bytes.fromhex(enc_data)
        if not raw or len(raw) % 16:
            raise ValueError("length is not a multiple of the SM4 block")
        plain = _sm4_ecb(data_key, raw, encrypt=False)
        data = json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise EnvelopeError(f"encData 无法解密：{error}", field="encData") from None
    if not isinstance(data, dict):
        raise EnvelopeError("encData 解密后不是 JSON 对象", field="encData")
    return data


# --- sign text and signature ---------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _pruned(value: Any) -> Any:
    """``value`` without null or empty members, recursively (empty after pruning too)."""
    if isinstance(value, Mapping):
        kept = {str(k): _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not _is_empty(v)}
    if isinstance(value, list | tuple):
        items = [_pruned(item) for item in value]
        return [item for item in items if not _is_empty(item)]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def sign_text(fields: Mapping[str, Any], data: Mapping[str, Any], app_secret: str) -> str:
    """The exact text that is signed: envelope fields + ``data``, pruned, sorted, keyed."""
    signed = {k: v for k, v in fields.items() if k not in UNSIGNED_FIELDS}
    signed["data"] = data
    pruned = _pruned(signed)
    body = "&".join(f"{key}={_text(pruned[key])}" for key in sorted(pruned))
    return f"{body}&key={app_secret}"


def sign(backend: Sm2Backend, private_key_hex: str, text: str, app_secret: str) -> str:
    """``signData``: Base64 of the raw ``r || s`` SM2 signature of ``text``."""
    der = backend.sign(private_key_hex, text.encode("utf-8"), app_secret.encode("utf-8"))
    r, s = decode_dss_signature(der)
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode("ascii")


def verify(
    backend: Sm2Backend, public_key_hex: str, text: str, app_secret: str, sign_data: str
) -> bool:
    """True if ``sign_data`` (Base64 raw ``r||s``, or DER as some vendors send) signs ``text``."""
    try:
        raw = base64.b64decode(sign_data, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) == 64:
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    else:
        der = raw
    try:
        return backend.verify(public_key_hex, text.encode("utf-8"), der, app_secret.encode("utf-8"))
    except Exception:  # a malformed key or signature is a failed check, not a crash
        return False


# --- whole envelopes -----------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def seal(
    data: Mapping[str, Any],
    *,
    credentials: AppCredentials,
    signing_key_hex: str,
    backend: Sm2Backend,
    version: str,
    enc_type: str = DEFAULT_ENC_TYPE,
    sign_type: str = DEFAULT_SIGN_TYPE,
    timestamp: int | None = None,
    answer: Mapping[str, Any] | None = None,
    extra_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One envelope around ``data``, signed with ``signing_key_hex``.

    A request is signed with the institution's private key, an answer or notification
    with the centre's; ``answer`` adds ``code``/``message`` (signed) and ``success``.
    ``extra_fields`` (e.g. ``transType``) are sent and signed as they are.
    """
    fields: dict[str, Any] = {
        "appId": credentials.app_id,
        "encType": enc_type,
        "signType": sign_type,
        "timestamp": timestamp if timestamp is not None else now_ms(),
        "version": version,
    }
    fields.update(extra_fields or {})
    if answer is not None:
        fields["code"] = answer["code"]
        fields["message"] = answer.get("message", "")
    text = sign_text(fields, data, credentials.app_secret)
    envelope = dict(fields)
    key = derive_data_key(credentials.app_id, credentials.app_secret)
    envelope["encData"] = encrypt_data(key, data) if data else ""
    envelope["signData"] = sign(backend, signing_key_hex, text, credentials.app_secret)
    if answer is not None:
        envelope["success"] = answer["code"] == 0
    return envelope


@dataclass(frozen=True)
class Opened:
    """An envelope whose signature checked out, with its business object."""

    fields: dict[str, Any]
    data: dict[str, Any]

    @property
    def app_id(self) -> str:
        return str(self.fields.get("appId", ""))

    @property
    def code(self) -> int | None:
        code = self.fields.get("code")
        return int(code) if code is not None else None

    @property
    def message(self) -> str:
        return str(self.fields.get("message", ""))


def read_envelope(body: bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The envelope as a dict; EnvelopeError naming the first missing field."""
    if isinstance(body, bytes | bytearray):
        try:
            envelope = json.loads(body)
        except ValueError:
            raise EnvelopeError("报文不是有效的 JSON", field="body") from None
    else:
        envelope = dict(body)
    if not isinstance(envelope, dict):
        raise EnvelopeError("报文不是 JSON 对象", field="body")
    for name in (*ENVELOPE_FIELDS, "signData"):
        if _is_empty(envelope.get(name)):
            raise EnvelopeError(f"缺少必填字段 {name}", field=name)
    return envelope


def open_envelope(
    envelope: Mapping[str, Any],
    *,
    credentials: AppCredentials,
    verifying_key_hex: str,
    backend: Sm2Backend,
    check_time: bool = True,
    now: int | None = None,
) -> Opened:
    """Decrypt and verify one envelope (request, answer or notification).

    Raises EnvelopeError for a wrong app, a stale ``timestamp``, ciphertext that does not
    decrypt, or a signature that does not verify.
    """
    fields = {k: v for k, v in envelope.items() if k not in ("encData", "signData", "success")}
    if str(envelope.get("appId")) != credentials.app_id:
        raise EnvelopeError(f"appId {envelope.get('appId')!r} 与本机构不符", field="appId")
    if check_time:
        try:
            stamp = int(envelope["timestamp"])
        except (KeyError, TypeError, ValueError):
            raise EnvelopeError("timestamp 应为毫秒时间戳", field="timestamp") from None
        if abs((now if now is not None else now_ms()) - stamp) > ALLOWED_SKEW_MS:
            raise EnvelopeError("timestamp 已过期或超前（允许 ±5 分钟）", field="timestamp")
    enc_data = str(envelope.get("encData") or "")
    key = derive_data_key(credentials.app_id, credentials.app_secret)
    data = decrypt_data(key, enc_data) if enc_data else {}
    text = sign_text(fields, data, credentials.app_secret)
    if not verify(
        backend, verifying_key_hex, text, credentials.app_secret, str(envelope.get("signData"))
    ):
        raise EnvelopeError("signData 验签失败", field="signData")
    return Opened(fields=fields, data=data)
