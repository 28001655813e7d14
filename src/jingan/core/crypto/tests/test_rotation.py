from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import connection

from jingan.core.crypto.errors import KeyringError
from jingan.core.crypto.fields import blind_index
from jingan.core.crypto.keyring import Keyring
from jingan.core.crypto.keys_cli import init_keyring, rotate_keys
from jingan.core.crypto.models import RotationCursor
from jingan.core.crypto.rotation import (
    retire_old_keys,
    rotate_encryption_keys,
    rows_using_version,
)
from jingan.core.crypto.tests.vault import vault_model

pytestmark = pytest.mark.req("CR-6")

NAMES = ["张一", "李二", "王三", "赵四", "钱五"]


@pytest.fixture
def vault(transactional_db: None) -> Iterator[Any]:
    with vault_model() as model:
        yield model


@pytest.fixture
def rows(vault: Any) -> list[Any]:
    return [
        vault.objects.create(name=name, id_number=f"31010619900307{index:04d}")
        for index, name in enumerate(NAMES)
    ]


def headers(column: str = "name") -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM crypto_test_vault ORDER BY id")
        values = [value for (value,) in cursor.fetchall()]
    # Ciphertexts: "sm4gcm1:<version>:…"; blind indexes: "<version>:<hex>".
    position = 0 if column.endswith("_index") else 1
    return [value.split(":")[position] if value else value for value in values]


def names(vault: Any) -> list[str]:
    return [row.name for row in vault.objects.order_by("pk")]


def test_rotation_re_encrypts_every_row_under_the_new_version(
    vault: Any, rows: list[Any], keyring: Keyring
) -> None:
    assert headers() == ["1"] * 5
    index_before = headers("id_number_index")
    report = rotate_encryption_keys(model_list=[vault], batch_size=2)
    assert (report.target_version, report.resumed) == (2, False)
    assert [(m.model_label, m.rows_done, m.rows_rewritten) for m in report.models] == [
        ("crypto.Vault", 5, 5)
    ]
    assert headers() == ["2"] * 5
    assert headers("id_number") == ["2"] * 5
    assert headers("id_number_index") == index_before  # the field key does not touch indexes
    assert names(vault) == NAMES
    assert [k.version for k in keyring.kept("field")] == [2, 1]
    cursor = RotationCursor.objects.get(purpose="field", target_version=2)
    assert (cursor.rows_done, cursor.last_pk, cursor.finished_at is not None) == (
        5,
        str(rows[-1].pk),
        True,
    )


def test_interrupted_rotation_resumes_without_a_new_version(
    vault: Any, rows: list[Any], keyring: Keyring
) -> None:
    def stop_after_first_batch(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_encryption_keys(model_list=[vault], batch_size=2, advance=stop_after_first_batch)
    # Half done: both versions in the table, every row still readable.
    assert headers() == ["2", "2", "1", "1", "1"]
    assert names(vault) == NAMES
    assert rows_using_version("field", 1, [vault]) == {"crypto.Vault": 3}
    with pytest.raises(KeyringError, match="unfinished"):
        retire_old_keys(model_list=[vault])

    # The application keeps writing meanwhile, under the new version.
    rows[3].name = "孙六"
    rows[3].save()

    report = rotate_encryption_keys(model_list=[vault], batch_size=2)
    assert (report.target_version, report.resumed) == (2, True)
    assert [(m.rows_done, m.rows_rewritten) for m in report.models] == [(3, 2)]
    assert [k.version for k in keyring.kept("field")] == [2, 1]
    assert headers() == ["2"] * 5
    assert names(vault) == ["张一", "李二", "王三", "孙六", "钱五"]


def test_retire_refuses_while_rows_use_the_old_version_then_destroys_it(
    vault: Any, rows: list[Any], keyring: Keyring
) -> None:
    keyring.rotate("field")  # rotated, but nothing re-encrypted
    with pytest.raises(KeyringError, match=r"field v1 is still used \(crypto.Vault: 5\)"):
        retire_old_keys(model_list=[vault])
    assert keyring.get("field", 1).material  # nothing destroyed
    rotate_encryption_keys(model_list=[vault])  # v3, and every row moves to it
    assert retire_old_keys(model_list=[vault]) == [1, 2]
    assert [k.version for k in keyring.kept("field")] == [3]
    assert names(vault) == NAMES


def test_blind_index_rotation_rebuilds_every_index(
    vault: Any, rows: list[Any], keyring: Keyring
) -> None:
    report = rotate_encryption_keys(purpose="blind-index", model_list=[vault], batch_size=3)
    assert report.target_version == 2
    assert headers("id_number_index") == ["2"] * 5
    found = vault.objects.get(
        id_number_index=blind_index(vault, "id_number_index", "310106199003070002")
    )
    assert found.name == "王三"
    assert headers("mobile_index") == [None] * 5  # nothing to index stays NULL
    assert retire_old_keys(purpose="blind-index", model_list=[vault]) == [1]


def test_rotate_keys_command_reports_progress_and_status(transactional_db: None) -> None:
    runner = CliRunner()
    result = runner.invoke(rotate_keys, [])
    assert result.exit_code == 0, result.output
    assert "field: now v1; 0 rows rewritten." in result.output
    result = runner.invoke(rotate_keys, [])
    assert "field: now v2; 0 rows rewritten." in result.output
    status = runner.invoke(rotate_keys, ["--status"])
    assert "field          v2" in status.output
    retired = runner.invoke(rotate_keys, ["--retire", "--yes"])
    assert retired.exit_code == 0, retired.output
    assert "field: retired v1" in retired.output
    refused = runner.invoke(rotate_keys, ["--retire"], input="n\n")
    assert refused.exit_code == 1


def test_rotation_writes_audit_entries(transactional_db: None) -> None:
    from jingan.core.audit.models import AuditEntry

    rotate_encryption_keys(model_list=[])
    actions = list(
        AuditEntry.objects.filter(object_type="crypto.key")
        .order_by("pk")
        .values_list("action", "object_id")
    )
    assert actions == [("crypto.key.rotate", "field:v1"), ("crypto.key.reencrypt", "field:v1")]


def test_init_keyring_provisions_every_key_and_never_overwrites(tmp_path: Any) -> None:
    target = tmp_path / "provisioned.json"
    runner = CliRunner()
    assert runner.invoke(init_keyring, ["--path", str(target)]).exit_code == 0
    ring = Keyring(target, may_create=False)
    assert sorted({info.purpose for info in ring.describe()}) == [
        "access-mac",
        "audit-chain",
        "audit-checkpoint",
        "blind-index",
        "field",
        "record-signing",
        "release",
    ]
    again = runner.invoke(init_keyring, ["--path", str(target)])
    assert again.exit_code == 1
    assert "never overwritten" in again.output
