"""Versioned keys per purpose, kept in a JSON keyring file readable by the platform only.

Where the file lives: ``JINGAN_KEYRING`` if set, else ``<data dir>/keyring.json`` in the
embedded mode, created on first use with mode 0600. With a production database the file
must be provisioned beforehand (``jingan init-keyring`` or a KMS export): the platform
refuses to invent keys there, because silently new keys would make existing data unreadable.
Keys are random (``secrets``), never derived from the Django secret key.

File layout::

    {"format": "jingan-keyring/1",
     "symmetric": {"field": [{"version": 1, "key_id": "…", "key": "<hex>",
                              "created": "…", "retired": null}, …], …},
     "signing": {"release": [{"version": 1, "key_id": "…", "private": "<hex>",
                              "public": "04…", "created": "…", "retired": null}, …], …}}

A retired version keeps its entry (so errors can say it was retired, and when) but loses
its material. Every process caches the file and re-reads it when it changes, so a
rotation made by ``jingan rotate-keys`` in another process is picked up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jingan.core.crypto.errors import KeyNotFoundError, KeyRetiredError, KeyringError

if TYPE_CHECKING:
    from jingan.core.crypto.sm2 import Sm2KeyPair

logger = logging.getLogger("jingan.crypto")

FORMAT = "jingan-keyring/1"
# SM4 keys are 16 bytes; HMAC-SM3 keys get 32 (the SM3 output size, RFC 2104's advice).
SM4_PURPOSES = frozenset({"field", "export", "backup"})
SYMMETRIC_KEY_BYTES = 32
SIGNING_PURPOSES = frozenset({"audit-checkpoint", "record-signing", "release"})
# Every process looks at the file's stat at most this often (a miss forces a look).
RELOAD_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Key:
    """One version of a symmetric key."""

    purpose: str
    version: int
    key_id: str
    material: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"Key(purpose={self.purpose!r}, version={self.version}, key_id={self.key_id!r})"


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key version: never its material."""

    purpose: str
    version: int
    key_id: str
    created: str
    retired: str | None
    kind: str  # "symmetric" or "signing"
    public_hex: str = ""


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _new_key_id() -> str:
    return secrets.token_hex(8)


def key_size(purpose: str) -> int:
    """Bytes of key material for a symmetric purpose."""
    return 16 if purpose in SM4_PURPOSES else SYMMETRIC_KEY_BYTES


class Keyring:
    """Versioned keys of every purpose, backed by one JSON file; safe across threads."""

    def __init__(self, path: Path, *, may_create: bool) -> None:
        self.path = Path(path)
        self.may_create = may_create
        self._lock = threading.RLock()
        self._data: dict[str, Any] | None = None
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        # Parsed keys of the loaded file; emptied whenever the file is (re)loaded.
        self._keys: dict[tuple[str, int | None], Key] = {}

    def __repr__(self) -> str:
        return f"Keyring({str(self.path)!r})"

    # -- reading ---------------------------------------------------------------

    def _stat_signature(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _read_file(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except OSError as error:
            raise KeyringError(f"cannot read keyring {self.path}: {error.strerror}") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise KeyringError(
                f"keyring {self.path} is not valid JSON (line {error.lineno})"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeyringError(f"keyring {self.path} is not a {FORMAT} file")
        data.setdefault("symmetric", {})
        data.setdefault("signing", {})
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            logger.warning(
                "keyring %s is accessible to group/others (mode %o); chmod 600 it",
                self.path,
                mode,
            )
        return data

    def _state(self, *, force: bool = False) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if (
                self._data is not None
                and not force
                and now - self._checked_at < RELOAD_INTERVAL_SECONDS
            ):
                return self._data
            self._checked_at = now
            signature = self._stat_signature()
            if signature is None:
                if not self.may_create:
                    raise KeyringError(
                        f"no keyring at {self.path}: with a production database the keyring "
                        "must be provisioned beforehand (run `jingan init-keyring` on the "
                        "key host, or set JINGAN_KEYRING to the provisioned file)"
                    )
                self._create_empty()
                signature = self._stat_signature()
            if self._data is None or signature != self._signature:
                self._data = self._read_file()
                self._signature = signature
                self._keys = {}
            return self._data

    def _entries(self, kind: str, purpose: str, *, force: bool = False) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self._state(force=force)[kind].get(purpose, [])
        return entries

    @staticmethod
    def _key_from(purpose: str, entry: dict[str, Any]) -> Key:
        if entry.get("retired") or not entry.get("key"):
            raise KeyRetiredError(
                f"key {purpose} v{entry['version']} was retired on {entry.get('retired')}"
            )
        return Key(
            purpose=purpose,
            version=int(entry["version"]),
            key_id=str(entry["key_id"]),
            material=bytes.fromhex(entry["key"]),
        )

    def current(self, purpose: str) -> Key:
        """The newest kept version of ``purpose`` (created on first use)."""
        entries = self._entries("symmetric", purpose)
        cached = self._keys.get((purpose, None))
        if cached is not None:
            return cached
        live = [e for e in entries if not e.get("retired")]
        if not live:
            return self.rotate(purpose, only_if_missing=True)
        key = self._key_from(purpose, max(live, key=lambda e: int(e["version"])))
        self._keys[(purpose, None)] = key
        return key

    def get(self, purpose: str, version: int) -> Key:
        """One version of ``purpose``; KeyNotFoundError / KeyRetiredError when not kept."""
        for force in (False, True):
            entries = self._entries("symmetric", purpose, force=force)
            cached = self._keys.get((purpose, version))
            if cached is not None:
                return cached
            for entry in entries:
                if int(entry["version"]) == version:
                    key = self._key_from(purpose, entry)
                    self._keys[(purpose, version)] = key
                    return key
        raise KeyNotFoundError(f"keyring {self.path} holds no key {purpose} v{version}")

    def kept(self, purpose: str) -> list[Key]:
        """Every non-retired version of ``purpose``, newest first."""
        entries = sorted(
            self._entries("symmetric", purpose), key=lambda e: int(e["version"]), reverse=True
        )
        return [self._key_from(purpose, e) for e in entries if not e.get("retired")]

    def describe(self) -> list[KeyInfo]:
        """Every key version of every purpose, without material (for listings and audits)."""
        state = self._state(force=True)
        infos = []
        for kind in ("symmetric", "signing"):
            for purpose, entries in sorted(state[kind].items()):
                for entry in entries:
                    infos.append(
                        KeyInfo(
                            purpose=purpose,
                            version=int(entry["version"]),
                            key_id=str(entry["key_id"]),
                            created=str(entry.get("created", "")),
                            retired=entry.get("retired"),
                            kind=kind,
                            public_hex=str(entry.get("public", "")),
                        )
                    )
        return infos

    # -- signing keys --------------------------------------------------------------

    def signing_key(self, purpose: str, version: int | None = None) -> Sm2KeyPair:
        """The SM2 key pair of ``purpose``: the newest, or the given version."""
        from jingan.core.crypto.sm2 import Sm2KeyPair

        entries = self._entries("signing", purpose)
        if version is None:
            live = [e for e in entries if not e.get("retired")]
            if not live:
                self.rotate_signing_key(purpose, only_if_missing=True)
                live = [e for e in self._entries("signing", purpose) if not e.get("retired")]
            entry = max(live, key=lambda e: int(e["version"]))
        else:
            matches = [
                e for e in self._entries("signing", purpose, force=True) if e["version"] == version
            ]
            if not matches:
                raise KeyNotFoundError(f"keyring holds no signing key {purpose} v{version}")
            entry = matches[0]
        if entry.get("retired") or not entry.get("private"):
            raise KeyRetiredError(
                f"signing key {purpose} v{entry['version']} was retired on {entry.get('retired')}"
            )
        return Sm2KeyPair(private_hex=entry["private"], public_hex=entry["public"])

    def signing_version(self, purpose: str) -> int:
        """Version number of the newest signing key of ``purpose`` (created on first use)."""
        self.signing_key(purpose)
        live = [e for e in self._entries("signing", purpose) if not e.get("retired")]
        return max(int(e["version"]) for e in live)

    def public_keys(self, purpose: str) -> dict[int, str]:
        """Public keys of every version of ``purpose`` (retired ones too: old signatures verify)."""
        return {
            int(e["version"]): str(e["public"])
            for e in self._entries("signing", purpose, force=True)
        }

    # -- changing the file -----------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[dict[str, Any]]:
        """Lock the keyring against other threads and processes, yield fresh data, write it."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                data = self._state(force=True)
                fresh = json.loads(json.dumps(data))
                yield fresh
                self._write(fresh)
                self._data = fresh
                self._signature = self._stat_signature()
                self._keys = {}
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)

    def _temporary_path(self) -> Path:
        # Unique per call: threads of one process must not share a temporary file.
        return self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")

    def _create_empty(self) -> None:
        """Create an empty keyring unless another process just did (link is atomic)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._temporary_path()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"format": FORMAT, "symmetric": {}, "signing": {}}, handle)
        try:
            os.link(temporary, self.path)
            logger.info("keyring: created %s", self.path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()

    def _write(self, data: dict[str, Any]) -> None:
        """Replace the file atomically; the new file is created 0600 from the start."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._temporary_path()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise

    def rotate(self, purpose: str, *, only_if_missing: bool = False) -> Key:
        """Add a new version of ``purpose`` and make it current; older versions stay readable."""
        with self._exclusive() as data:
            entries = data["symmetric"].setdefault(purpose, [])
            live = [e for e in entries if not e.get("retired")]
            if only_if_missing and live:
                newest = max(live, key=lambda e: int(e["version"]))
                return self._key_from(purpose, newest)
            version = max((int(e["version"]) for e in entries), default=0) + 1
            entry = {
                "version": version,
                "key_id": _new_key_id(),
                "key": secrets.token_bytes(key_size(purpose)).hex(),
                "created": _now(),
                "retired": None,
            }
            entries.append(entry)
        logger.info("keyring: created key %s v%d", purpose, version)
        return self._key_from(purpose, entry)

    def retire(self, purpose: str, version: int) -> None:
        """Destroy the material of an old version; the current version cannot be retired."""
        with self._exclusive() as data:
            entries = data["symmetric"].get(purpose, [])
            live = [int(e["version"]) for e in entries if not e.get("retired")]
            if version not in live:
                raise KeyNotFoundError(f"no kept key {purpose} v{version} to retire")
            if version == max(live):
                raise KeyringError(f"{purpose} v{version} is the current key; rotate first")
            for entry in entries:
                if int(entry["version"]) == version:
                    entry["key"] = ""
                    entry["retired"] = _now()
        logger.warning("keyring: retired key %s v%d", purpose, version)

    def rotate_signing_key(self, purpose: str, *, only_if_missing: bool = False) -> int:
        """Add a new SM2 key pair for ``purpose``; returns its version."""
        from jingan.core.crypto.sm2 import generate_keypair

        with self._exclusive() as data:
            entries = data["signing"].setdefault(purpose, [])
            live = [e for e in entries if not e.get("retired")]
            if only_if_missing and live:
                return max(int(e["version"]) for e in live)
            pair = generate_keypair()
            version = max((int(e["version"]) for e in entries), default=0) + 1
            entries.append(
                {
                    "version": version,
                    "key_id": _new_key_id(),
                    "private": pair.private_hex,
                    "public": pair.public_hex,
                    "created": _now(),
                    "retired": None,
                }
            )
        logger.info("keyring: created signing key %s v%d", purpose, version)
        return version


# -- the process-wide keyring ------------------------------------------------------------

_keyring: Keyring | None = None
_override: Keyring | None = None
_module_lock = threading.Lock()


def keyring_location() -> tuple[Path, bool]:
    """Where the keyring file is and whether this deployment may create it."""
    from django.conf import settings

    env = settings.ENV
    if env.keyring is not None:
        return Path(env.keyring), not env.is_production
    # The test suite runs against production databases too, with a throw-away keyring.
    test_keyring = getattr(settings, "TEST_KEYRING_PATH", None)
    if test_keyring is not None:
        return Path(test_keyring), True
    if env.is_production:
        raise KeyringError(
            "JINGAN_KEYRING is not set: with a production database the keyring must be a "
            "provisioned file (run `jingan init-keyring --path …` on the key host) or a KMS"
        )
    return Path(settings.DATA_DIR) / "keyring.json", True


def get_keyring() -> Keyring:
    """The keyring of this process (a test may swap it with :func:`use_keyring`)."""
    global _keyring
    if _override is not None:
        return _override
    if _keyring is None:
        with _module_lock:
            if _keyring is None:
                path, may_create = keyring_location()
                _keyring = Keyring(path, may_create=may_create)
    return _keyring


@contextlib.contextmanager
def use_keyring(keyring: Keyring) -> Iterator[Keyring]:
    """Use ``keyring`` instead of the configured one inside the block (tests, drills)."""
    global _override
    previous = _override
    _override = keyring
    try:
        yield keyring
    finally:
        _override = previous
