from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from jingan.core.crypto.errors import KeyNotFoundError, KeyRetiredError, KeyringError
from jingan.core.crypto.keyring import Keyring, keyring_location
from jingan.core.crypto.macs import mac_hex, verify_mac

pytestmark = pytest.mark.req("CR-6")


def test_keyring_file_is_created_on_first_use_readable_by_owner_only(keyring: Keyring) -> None:
    key = keyring.current("field")
    assert (key.version, len(key.material)) == (1, 16)
    assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600
    stored = json.loads(keyring.path.read_text())
    assert stored["format"] == "jingan-keyring/1"
    assert stored["symmetric"]["field"][0]["key"] == key.material.hex()
    assert keyring.current("access-mac").material != key.material
    assert len(keyring.current("access-mac").material) == 32


def test_key_repr_never_shows_material(keyring: Keyring) -> None:
    key = keyring.current("audit-chain")
    assert key.material.hex() not in repr(key)


def test_keys_are_random_not_derived_from_the_secret_key(tmp_path: Path) -> None:
    first = Keyring(tmp_path / "a.json", may_create=True).current("field")
    second = Keyring(tmp_path / "b.json", may_create=True).current("field")
    assert first.material != second.material
    assert first.key_id != second.key_id


def test_rotate_adds_a_version_and_keeps_the_old_one(keyring: Keyring) -> None:
    first = keyring.current("field")
    second = keyring.rotate("field")
    assert (second.version, keyring.current("field").version) == (2, 2)
    assert keyring.get("field", 1) == first
    assert [k.version for k in keyring.kept("field")] == [2, 1]


def test_retire_destroys_material_but_not_the_current_version(keyring: Keyring) -> None:
    keyring.current("field")
    keyring.rotate("field")
    with pytest.raises(KeyringError, match="current key"):
        keyring.retire("field", 2)
    keyring.retire("field", 1)
    with pytest.raises(KeyRetiredError, match="retired on"):
        keyring.get("field", 1)
    assert '"key": ""' in keyring.path.read_text()
    with pytest.raises(KeyNotFoundError, match="v9"):
        keyring.get("field", 9)


def test_another_process_rotation_is_seen_without_restart(keyring: Keyring) -> None:
    keyring.current("field")
    other = Keyring(keyring.path, may_create=False)  # as `jingan rotate-keys` would open it
    other.rotate("field")
    # A version this process has not seen yet forces a re-read.
    assert keyring.get("field", 2).version == 2


def test_concurrent_first_use_creates_one_key(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    rings = [Keyring(path, may_create=True) for _ in range(8)]
    seen: list[bytes] = []
    threads = [
        threading.Thread(target=lambda r=ring: seen.append(r.current("field").material))
        for ring in rings
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len(set(seen)) == 1
    assert len(json.loads(path.read_text())["symmetric"]["field"]) == 1


def test_missing_file_is_refused_where_creation_is_not_allowed(tmp_path: Path) -> None:
    ring = Keyring(tmp_path / "absent.json", may_create=False)
    with pytest.raises(KeyringError, match="must be provisioned"):
        ring.current("field")
    assert not (tmp_path / "absent.json").exists()


def test_production_without_a_keyring_setting_fails_clearly(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jingan.config.environment import load_environment

    production = load_environment(
        {
            "JINGAN_DATABASE_URL": "postgresql://u:p@db/jingan",
            "JINGAN_SECRET_KEY": "x" * 40,
        }
    )
    monkeypatch.setattr(settings, "ENV", production)
    monkeypatch.setattr(settings, "TEST_KEYRING_PATH", None)
    with pytest.raises(KeyringError, match="JINGAN_KEYRING is not set"):
        keyring_location()
    provisioned = load_environment(
        {
            "JINGAN_DATABASE_URL": "postgresql://u:p@db/jingan",
            "JINGAN_SECRET_KEY": "x" * 40,
            "JINGAN_KEYRING": "/run/secrets/keyring.json",
        }
    )
    monkeypatch.setattr(settings, "ENV", provisioned)
    assert keyring_location() == (Path("/run/secrets/keyring.json"), False)


def test_corrupt_keyring_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(KeyringError, match="not valid JSON"):
        Keyring(path, may_create=True).current("field")
    assert path.read_text() == "{not json"


def test_signing_keys_are_versioned_sm2_pairs(keyring: Keyring) -> None:
    pair = keyring.signing_key("audit-checkpoint")
    assert pair.public_hex.startswith("04")
    assert len(pair.public_hex) == 130
    assert len(pair.private_hex) == 64
    assert keyring.signing_key("audit-checkpoint") == pair
    assert keyring.rotate_signing_key("audit-checkpoint") == 2
    assert keyring.signing_key("audit-checkpoint", 1) == pair
    assert sorted(keyring.public_keys("audit-checkpoint")) == [1, 2]
    assert keyring.signing_version("audit-checkpoint") == 2


def test_mac_is_versioned_and_verifies_under_any_kept_version(keyring: Keyring) -> None:
    tag = mac_hex("access-mac", b"role:1|perm:2")
    assert tag.startswith("1:")
    assert len(tag) == 2 + 64
    keyring.rotate("access-mac")
    assert mac_hex("access-mac", b"role:1|perm:2").startswith("2:")
    assert verify_mac("access-mac", b"role:1|perm:2", tag)
    assert not verify_mac("access-mac", b"role:1|perm:3", tag)
    assert not verify_mac("audit-chain", b"role:1|perm:2", tag)
    assert not verify_mac("access-mac", b"role:1|perm:2", "9:" + tag[2:])
    assert not verify_mac("access-mac", b"role:1|perm:2", "garbage")
    keyring.retire("access-mac", 1)
    assert not verify_mac("access-mac", b"role:1|perm:2", tag)


def test_system_check_refuses_production_without_a_provisioned_keyring(
    settings: Any, tmp_path: Path
) -> None:
    from jingan.config.environment import load_environment
    from jingan.core.crypto.checks import keyring_is_provisioned

    base = {"JINGAN_DATABASE_URL": "postgresql://u:p@db/jingan", "JINGAN_SECRET_KEY": "x" * 40}
    settings.TEST_KEYRING_PATH = None
    settings.ENV = load_environment(base)
    assert [m.id for m in keyring_is_provisioned()] == ["crypto.E010"]
    settings.ENV = load_environment({**base, "JINGAN_KEYRING": str(tmp_path / "absent.json")})
    assert [m.id for m in keyring_is_provisioned()] == ["crypto.E011"]
    Keyring(tmp_path / "present.json", may_create=True).current("field")
    settings.ENV = load_environment({**base, "JINGAN_KEYRING": str(tmp_path / "present.json")})
    assert keyring_is_provisioned() == []
