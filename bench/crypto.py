"""Throughput of the national cryptography core: SM2 per back-end, and field encryption.

Figures and same-run baselines:

* SM2 sign/s and verify/s with Tongsuo (C) against snowland-smx (pure Python) on the
  same key and message; the ratio says what the C back-end buys.
* Field encryptions/s and decryptions/s of ``encrypt_value``/``decrypt_value`` (keyring
  lookup, AAD, SM4-GCM, base64 header) against the bare SM4-GCM primitive on the same
  18-byte plaintext (an ID number); the ratio is the field layer's own overhead.
  snowland-smx has no GCM mode, so a pure-Python SM4-GCM baseline would be our own
  code, not a library's; the bare primitive is the honest floor.
* Blind indexes/s (HMAC-SM3 under the versioned key) for scale.

    .venv/bin/python bench/crypto.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per CPU second, running ``operation`` for about ``seconds`` (at least 3 times).

    CPU time of this (single-threaded) process rather than wall time, so that other load
    on the machine does not distort the figures; the ratios are unaffected either way.
    """
    operation()  # warm up (imports, tables, cached keys)
    count = 0
    started = time.process_time()
    while True:
        operation()
        count += 1
        elapsed = time.process_time() - started
        if elapsed >= seconds and count >= 3:
            return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    seconds = parser.parse_args().seconds

    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            {"JINGAN_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "jingan.config.settings"}
        )
        import django

        django.setup()

        from jingan.core.crypto import sm2
        from jingan.core.crypto.fields import decrypt_value, encrypt_value
        from jingan.core.crypto.keyring import Keyring, use_keyring
        from jingan.core.crypto.macs import mac_hex
        from jingan.core.crypto.primitives import sm4_gcm_decrypt, sm4_gcm_encrypt

        message = "处方 RX-2026-000123 | 阿莫西林胶囊 0.25g x 24".encode()
        private_hex = sm2.get_backend("tongsuopy").generate_keypair().private_hex
        results: dict[str, tuple[float, float]] = {}
        for name in sm2.BACKENDS:
            backend = sm2.get_backend(name)
            public_hex = backend.public_key(private_hex)
            signature = backend.sign(private_hex, message, sm2.DEFAULT_USER_ID)
            signs = rate(
                functools.partial(backend.sign, private_hex, message, sm2.DEFAULT_USER_ID),
                seconds,
            )
            verifies = rate(
                functools.partial(
                    backend.verify, public_hex, message, signature, sm2.DEFAULT_USER_ID
                ),
                seconds,
            )
            results[name] = (signs, verifies)
            print(f"SM2 {name:<9}: {signs:9.0f} sign/s  {verifies:9.0f} verify/s")
        fast, slow = results["tongsuopy"], results["snowland"]
        print(
            f"ratio tongsuopy/snowland: sign {fast[0] / slow[0]:.1f}x, "
            f"verify {fast[1] / slow[1]:.1f}x"
        )

        with use_keyring(Keyring(Path(data_dir) / "bench-keyring.json", may_create=True)) as ring:
            plaintext = "31010619900307123X"
            row_key = uuid.uuid4()
            stored = encrypt_value("residents.Resident", row_key, "id_number", plaintext)
            key = ring.current("field").material
            aad = b"residents.Resident|" + str(row_key).encode() + b"|id_number|v1"
            blob = sm4_gcm_encrypt(key, plaintext.encode(), aad)

            field_encrypt = rate(
                lambda: encrypt_value("residents.Resident", row_key, "id_number", plaintext),
                seconds,
            )
            field_decrypt = rate(
                lambda: decrypt_value("residents.Resident", row_key, "id_number", stored),
                seconds,
            )
            bare_encrypt = rate(lambda: sm4_gcm_encrypt(key, plaintext.encode(), aad), seconds)
            bare_decrypt = rate(lambda: sm4_gcm_decrypt(key, blob, aad), seconds)
            indexes = rate(lambda: mac_hex("blind-index", plaintext.encode()), seconds)

        print(f"field encryption : {field_encrypt:9.0f} /s   decryption {field_decrypt:9.0f} /s")
        print(f"bare SM4-GCM     : {bare_encrypt:9.0f} /s   decryption {bare_decrypt:9.0f} /s")
        print(
            f"ratio field/bare : encryption {field_encrypt / bare_encrypt:.2f}, "
            f"decryption {field_decrypt / bare_decrypt:.2f}"
        )
        print(f"blind index (HMAC-SM3, versioned key): {indexes:9.0f} /s")


if __name__ == "__main__":
    main()
