"""The SM2-signed release manifest (CR-4), always on a copy of the package, never the source."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jingan.core.crypto import manifest as manifest_module
from jingan.core.crypto.keyring import Keyring, get_keyring, use_keyring
from jingan.core.crypto.manifest import (
    MANIFEST_NAME,
    ReleaseVerificationError,
    build_manifest,
    check_release_at_startup,
    installed_package_root,
    sign_release,
    verify_release,
)
from jingan.core.crypto.primitives import sm3_hex
from jingan.core.crypto.signing_cli import release

pytestmark = pytest.mark.req("CR-4")

JINGAN = Path(sys.executable).parent / "jingan"


def _copy_package(target: Path) -> Path:
    package = target / "jingan"
    shutil.copytree(
        installed_package_root(),
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", MANIFEST_NAME),
    )
    return package


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return _copy_package(tmp_path / "site")


def test_the_manifest_lists_every_file_but_caches_and_itself(package: Path) -> None:
    (package / "web" / "__pycache__").mkdir(exist_ok=True)
    (package / "web" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\x00")
    (package / "stray.pyc").write_bytes(b"\x00")
    (package / MANIFEST_NAME).write_text("{}", encoding="utf-8")
    built = build_manifest(package)
    assert built.package == "jingan"
    assert "__init__.py" in built.files
    assert "config/cli.py" in built.files
    assert built.files["config/cli.py"] == sm3_hex((package / "config" / "cli.py").read_bytes())
    assert list(built.files) == sorted(built.files)
    assert not [name for name in built.files if "__pycache__" in name or name.endswith(".pyc")]
    assert MANIFEST_NAME not in built.files
    expected = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.name != MANIFEST_NAME
    }
    assert set(built.files) == expected


def test_a_signed_release_verifies(db: None, package: Path) -> None:
    target, signed = sign_release(package)
    assert target == package / MANIFEST_NAME
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["format"] == "jingan-release-manifest/1"
    assert document["key_version"] == get_keyring().signing_version("release")
    assert document["public_key"] == get_keyring().public_keys("release")[signed.key_version]
    report = verify_release(package)
    assert report.ok
    assert report.files_checked == len(document["files"])
    assert report.summary() == f"发布清单校验通过：{package}"


def test_changed_added_and_missing_files_are_named(db: None, package: Path) -> None:
    sign_release(package)
    with (package / "core" / "crypto" / "records.py").open("a", encoding="utf-8") as handle:
        handle.write("\n# injected\n")
    (package / "backdoor.py").write_text("print('hi')\n", encoding="utf-8")
    (package / "lib" / "navigation.py").unlink()
    report = verify_release(package)
    assert not report.ok
    assert report.signature_valid
    assert report.changed == ["core/crypto/records.py"]
    assert report.added == ["backdoor.py"]
    assert report.missing == ["lib/navigation.py"]
    assert report.summary() == (
        "安装的程序文件与签名的发布清单不一致：\n"
        "  已修改：core/crypto/records.py\n"
        "  新增：backdoor.py\n"
        "  缺失：lib/navigation.py"
    )


def test_a_manifest_edited_to_match_a_tampered_file_fails_its_signature(
    db: None, package: Path
) -> None:
    target, _ = sign_release(package)
    tampered = package / "config" / "urls.py"
    tampered.write_text(tampered.read_text(encoding="utf-8") + "\n# evil\n", encoding="utf-8")
    document = json.loads(target.read_text(encoding="utf-8"))
    document["files"]["config/urls.py"] = sm3_hex(tampered.read_bytes())
    target.write_text(json.dumps(document), encoding="utf-8")
    report = verify_release(package)
    assert not report.ok
    assert not report.signature_valid
    assert report.summary() == (
        "发布清单签名无效：签名与清单内容不符，或清单不是用本平台的发布密钥签名的"
    )


def test_a_manifest_signed_with_a_foreign_key_fails(
    db: None, package: Path, tmp_path: Path
) -> None:
    # An attacker re-signs the whole tampered package with their own key (and puts their
    # public key in the manifest): the keyring's release key is what counts.
    with use_keyring(Keyring(tmp_path / "attacker.json", may_create=True)):
        sign_release(package)
    get_keyring().signing_version("release")
    report = verify_release(package)
    assert not report.signature_valid


def test_a_missing_or_unreadable_manifest_fails(db: None, package: Path) -> None:
    report = verify_release(package)
    assert (report.ok, report.manifest_found) == (False, False)
    assert report.summary() == (
        f"未找到发布清单 {package / MANIFEST_NAME}：请先运行 `jingan release sign` 生成并签名发布清单"
    )
    (package / MANIFEST_NAME).write_text("not json", encoding="utf-8")
    broken = verify_release(package)
    assert (broken.manifest_found, broken.signature_valid) == (True, False)
    assert broken.summary().startswith("发布清单签名无效：清单无法解析")


def test_release_cli_signs_and_verifies(db: None, package: Path) -> None:
    runner = CliRunner()
    signed = runner.invoke(release, ["sign", "--package-root", str(package)])
    assert signed.exit_code == 0, signed.output
    assert signed.output.startswith("已签名发布清单：")
    verified = runner.invoke(release, ["verify", "--package-root", str(package)])
    assert verified.exit_code == 0, verified.output
    (package / "core" / "public.py").write_text("# replaced\n", encoding="utf-8")
    failed = runner.invoke(release, ["verify", "--package-root", str(package)])
    assert failed.exit_code == 1
    assert "已修改：core/public.py" in failed.output


def test_startup_check_refuses_unless_a_dev_checkout_is_declared(
    db: None, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "installed_package_root", lambda: package)
    monkeypatch.delenv("JINGAN_DEV_CHECKOUT", raising=False)
    with pytest.raises(ReleaseVerificationError, match="未找到发布清单"):
        check_release_at_startup()
    assert check_release_at_startup(dev_checkout=True).startswith(
        "警告：开发检出模式，发布清单未通过校验，仍然启动。未找到发布清单"
    )
    monkeypatch.setenv("JINGAN_DEV_CHECKOUT", "1")
    assert check_release_at_startup().startswith("警告：开发检出模式")
    monkeypatch.delenv("JINGAN_DEV_CHECKOUT")
    sign_release(package)
    count = len(build_manifest(package).files)
    assert check_release_at_startup() == f"发布清单校验通过：{count} 个文件与签名清单一致"


def _env_for_copy(site: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JINGAN_", "DJANGO_"))}
    # The copy shadows the editable install, so the `jingan` script runs the copied package.
    return {**env, "JINGAN_DATA_DIR": str(data_dir), "PYTHONPATH": str(site)}


def test_serve_refuses_to_start_on_a_changed_file_or_without_a_manifest(tmp_path: Path) -> None:
    site = tmp_path / "site"
    package = _copy_package(site)
    env = _env_for_copy(site, tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(JINGAN), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    missing = run("serve", "--port", "9")
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "拒绝启动：未找到发布清单" in missing.stderr
    assert str(package / MANIFEST_NAME) in missing.stderr

    signed = run("release", "sign")
    assert signed.returncode == 0, signed.stderr
    assert f"→ {package / MANIFEST_NAME}" in signed.stdout

    views = package / "web" / "views.py"
    views.write_text(views.read_text(encoding="utf-8") + "\n# patched\n", encoding="utf-8")
    for command in ("serve", "web"):
        refused = run(command, "--port", "9")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "拒绝启动：安装的程序文件与签名的发布清单不一致：" in refused.stderr
        assert "已修改：web/views.py" in refused.stderr
        assert "running at" not in refused.stdout
