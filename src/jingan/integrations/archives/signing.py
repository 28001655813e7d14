"""How a simulated hospital signs its pushes: the platform's published SM2 request scheme.

Written from the published description (see the platform's API documentation:
``METHOD\\nPATH\\nCANONICAL_QUERY\\nTIMESTAMP\\nNONCE\\nSM3_HEX(BODY)``, signed with SM2 and
user ID ``1234567812345678``, DER signature in base64), independently of the platform's
own code, as an institution's vendor would, so a push from the simulator proves the
scheme can be implemented from its description.
"""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import parse_qsl, quote, unquote

from cryptography.hazmat.primitives import hashes

USER_ID = b"1234567812345678"
_A = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
_B = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
_GX = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
_GY = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(32, "big").lstrip(b"\x00") or b"\x00"
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + bytes([len(body)]) + body


def sm2_sign(private_hex: str, message: bytes) -> bytes:
    """DER SM2 signature of ``message`` (digest SM3(Z || M) with the default user ID)."""
    from pysmx import SM2

    public_hex = SM2.kG(int(private_hex, 16), SM2.sm2_G, 64)
    z = sm3(
        (len(USER_ID) * 8).to_bytes(2, "big")
        + USER_ID
        + bytes.fromhex(_A + _B + _GX + _GY + public_hex)
    )
    digest = sm3(z + message).hex()
    while True:
        k = f"{secrets.randbelow(_N - 1) + 1:064x}"
        raw = SM2.Sign(digest, private_hex, k, 64, Hexstr=1)
        if raw is not None:
            raw = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            body = _der_integer(r) + _der_integer(s)
            return b"\x30" + bytes([len(body)]) + body


def _encode(part: str) -> str:
    return quote(part, safe="-_.~", encoding="utf-8")


def signature_headers(
    *, app_id: str, private_key_hex: str, method: str, path: str, query: str, body: bytes
) -> dict[str, str]:
    """The four ``X-Jingan-*`` headers for one request."""
    pairs = sorted((_encode(k), _encode(v)) for k, v in parse_qsl(query, keep_blank_values=True))
    stamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    text = "\n".join(
        [
            method.upper(),
            unquote(path),
            "&".join(f"{k}={v}" for k, v in pairs),
            stamp,
            nonce,
            sm3(body).hex(),
        ]
    )
    signature = sm2_sign(private_key_hex, text.encode("utf-8"))
    return {
        "X-Jingan-App-Id": app_id,
        "X-Jingan-Timestamp": stamp,
        "X-Jingan-Nonce": nonce,
        "X-Jingan-Signature": base64.b64encode(signature).decode("ascii"),
    }
