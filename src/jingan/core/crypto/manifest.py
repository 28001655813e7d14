"""The SM2-signed release manifest (CR-4): SM3 digests of every file of the installed package.

``jingan release sign`` writes ``RELEASE-MANIFEST.json`` into the package directory;
``jingan serve`` and ``jingan web`` refuse to start when it is missing, its signature
does not verify against the keyring's "release" public key, or any file differs from it.
The manifest covers every file under the package except ``__pycache__`` directories,
compiled ``*.pyc``/``*.pyo`` files and the manifest itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jingan
from jingan.core.crypto import sm2
from jingan.core.crypto.errors import CryptoError
from jingan.core.crypto.keyring import get_keyring
from jingan.core.crypto.primitives import sm3_hex

PURPOSE = "release"
MANIFEST_NAME = "RELEASE-MANIFEST.json"
FORMAT = "jingan-release-manifest/1"
DEV_CHECKOUT_VARIABLE = "JINGAN_DEV_CHECKOUT"
STARTUP_REFUSED_EXIT_CODE = 3


@dataclass(frozen=True)
class Manifest:
    """The package's files and their SM3 digests, sorted by relative POSIX path."""

    package: str
    version: str
    files: dict[str, str]

    def signed_bytes(self) -> bytes:
        """Canonical JSON of what the signature covers."""
        body = {"format": FORMAT, "package": self.package, "version": self.version}
        body["files"] = dict(sorted(self.files.items()))  # type: ignore[assignment]
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )


@dataclass(frozen=True)
class SignedManifest:
    """A manifest with the SM2 signature of the keyring's "release" key."""

    manifest: Manifest
    key_version: int
    public_key_hex: str
    signature: str  # base64 of the DER signature over ``manifest.signed_bytes()``
    signed_at: str

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "package": self.manifest.package,
            "version": self.manifest.version,
            "signed_at": self.signed_at,
            "key_version": self.key_version,
            "public_key": self.public_key_hex,
            "signature": self.signature,
            "files": dict(sorted(self.manifest.files.items())),
        }
        return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


@dataclass(frozen=True)
class ManifestReport:
    """What ``verify_release`` found; ``ok`` only when signed, verified and unchanged."""

    package_root: Path
    manifest_found: bool
    signature_valid: bool
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problem: str = ""
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.manifest_found
            and self.signature_valid
            and not (self.changed or self.added or self.missing)
        )

    def summary(self) -> str:
        """One paragraph in Chinese, naming every file that differs."""
        if self.ok:
            return f"发布清单校验通过：{self.package_root}"
        if not self.manifest_found:
            return (
                f"未找到发布清单 {self.package_root / MANIFEST_NAME}："
                "请先运行 `jingan release sign` 生成并签名发布清单"
            )
        if not self.signature_valid:
            return f"发布清单签名无效：{self.problem}"
        lines = ["安装的程序文件与签名的发布清单不一致："]
        lines += [f"  已修改：{name}" for name in self.changed]
        lines += [f"  新增：{name}" for name in self.added]
        lines += [f"  缺失：{name}" for name in self.missing]
        return "\n".join(lines)


class ReleaseVerificationError(Exception):
    """The installed release failed verification; the message names what is wrong."""

    def __init__(self, report: ManifestReport) -> None:
        self.report = report
        super().__init__(report.summary())


def installed_package_root() -> Path:
    """The directory of the installed ``jingan`` package."""
    return Path(jingan.__file__).resolve().parent


def _package_files(package_root: Path) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(package_root):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in files:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory) / name
            relative = path.relative_to(package_root).as_posix()
            if relative == MANIFEST_NAME:
                continue
            yield path


def _digest_file(path: Path) -> str:
    return sm3_hex(path.read_bytes())


def build_manifest(package_root: Path) -> Manifest:
    """Digest every file of the package at ``package_root``."""
    root = Path(package_root).resolve()
    files = {path.relative_to(root).as_posix(): _digest_file(path) for path in _package_files(root)}
    return Manifest(
        package=root.name, version=jingan.__version__, files=dict(sorted(files.items()))
    )


def sign_manifest(manifest: Manifest) -> SignedManifest:
    """Sign ``manifest`` with the current "release" SM2 key of the keyring."""
    keyring = get_keyring()
    version = keyring.signing_version(PURPOSE)
    pair = keyring.signing_key(PURPOSE, version)
    signature = sm2.sign(pair.private_hex, manifest.signed_bytes())
    return SignedManifest(
        manifest=manifest,
        key_version=version,
        public_key_hex=pair.public_hex,
        signature=base64.b64encode(signature).decode("ascii"),
        signed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def sign_release(package_root: Path | None = None) -> tuple[Path, SignedManifest]:
    """Build, sign and write ``RELEASE-MANIFEST.json`` into the package directory."""
    root = Path(package_root or installed_package_root()).resolve()
    signed = sign_manifest(build_manifest(root))
    target = root / MANIFEST_NAME
    temporary = target.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    temporary.write_text(signed.to_json(), encoding="utf-8")
    os.replace(temporary, target)
    return target, signed


def _read_signed_manifest(path: Path) -> SignedManifest:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"未知的清单格式 {document.get('format')!r}")
    files = document["files"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ValueError("清单的 files 字段格式不正确")
    return SignedManifest(
        manifest=Manifest(
            package=str(document["package"]), version=str(document["version"]), files=files
        ),
        key_version=int(document["key_version"]),
        public_key_hex=str(document["public_key"]),
        signature=str(document["signature"]),
        signed_at=str(document["signed_at"]),
    )


def _release_public_key(key_version: int) -> str | None:
    return get_keyring().public_keys(PURPOSE).get(key_version)


def verify_release(package_root: Path, *, public_key_hex: str | None = None) -> ManifestReport:
    """Check the manifest's signature, then every file of the package against it.

    The signature is checked with ``public_key_hex`` when given, else with the keyring's
    "release" public key of the manifest's key version; never with the key the manifest
    itself carries, which anyone re-signing a tampered package could replace.
    """
    root = Path(package_root).resolve()
    path = root / MANIFEST_NAME
    if not path.is_file():
        return ManifestReport(root, manifest_found=False, signature_valid=False)
    try:
        signed = _read_signed_manifest(path)
    except (ValueError, KeyError, TypeError) as error:
        return ManifestReport(
            root, manifest_found=True, signature_valid=False, problem=f"清单无法解析（{error}）"
        )
    trusted = public_key_hex or _release_public_key(signed.key_version)
    if trusted is None:
        return ManifestReport(
            root,
            manifest_found=True,
            signature_valid=False,
            problem=f"密钥环中没有第 {signed.key_version} 版发布签名公钥",
        )
    try:
        der = base64.b64decode(signed.signature, validate=True)
        valid = sm2.verify(trusted, signed.manifest.signed_bytes(), der)
    except (binascii.Error, ValueError, CryptoError):
        valid = False
    if not valid:
        return ManifestReport(
            root,
            manifest_found=True,
            signature_valid=False,
            problem="签名与清单内容不符，或清单不是用本平台的发布密钥签名的",
        )
    recorded = signed.manifest.files
    present = {path.relative_to(root).as_posix(): path for path in _package_files(root)}
    changed = sorted(
        name
        for name in recorded.keys() & present.keys()
        if _digest_file(present[name]) != recorded[name]
    )
    return ManifestReport(
        root,
        manifest_found=True,
        signature_valid=True,
        changed=changed,
        added=sorted(present.keys() - recorded.keys()),
        missing=sorted(recorded.keys() - present.keys()),
        files_checked=len(present),
    )


def verify_installed_release() -> ManifestReport:
    """Verify the installed ``jingan`` package against its signed manifest."""
    return verify_release(installed_package_root())


def dev_checkout_requested(flag: bool = False) -> bool:
    """Whether start-up may skip a missing manifest (``--dev-checkout`` or the variable)."""
    return flag or os.environ.get(DEV_CHECKOUT_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def check_release_at_startup(*, dev_checkout: bool = False) -> str:
    """Verify the installed release before serving; returns a line to print.

    Raises ``ReleaseVerificationError`` when the release must not start. In a development
    checkout (``--dev-checkout`` or ``JINGAN_DEV_CHECKOUT=1``), where files change all the
    time, a failed verification prints a warning instead: the same report, not silence.
    """
    report = verify_installed_release()
    if report.ok:
        return f"发布清单校验通过：{report.files_checked} 个文件与签名清单一致"
    if dev_checkout_requested(dev_checkout):
        return "警告：开发检出模式，发布清单未通过校验，仍然启动。" + report.summary()
    raise ReleaseVerificationError(report)
