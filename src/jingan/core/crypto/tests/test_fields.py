from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import FieldError, ValidationError
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingan.core.crypto.errors import DecryptionError
from jingan.core.crypto.fields import (
    Sealed,
    blind_index,
    decrypt_value,
    encrypt_value,
    normalize_id_number,
    normalize_mobile,
)
from jingan.core.crypto.keyring import Keyring
from jingan.core.crypto.tests.vault import vault_model

ID_NUMBER = "31010619900307123X"
MOBILE = "13812345678"


@pytest.fixture
def vault(transactional_db: None) -> Iterator[Any]:
    with vault_model() as model:
        yield model


def raw(column: str, pk: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM crypto_test_vault WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def write_raw(column: str, pk: int, value: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE crypto_test_vault SET {column} = %s WHERE id = %s", [value, pk])


@pytest.mark.req("CR-6", "SEC-1")
def test_stored_values_are_ciphertext_and_read_back_as_text(vault: Any) -> None:
    row = vault.objects.create(name="张三", id_number=ID_NUMBER, mobile=MOBILE)
    for column, plaintext in (("name", "张三"), ("id_number", ID_NUMBER), ("mobile", MOBILE)):
        stored = raw(column, row.pk)
        assert stored.startswith("sm4gcm1:1:")
        assert plaintext not in stored
    again = vault.objects.get(pk=row.pk)
    assert (again.name, again.id_number, again.mobile) == ("张三", ID_NUMBER, MOBILE)


@pytest.mark.req("CR-6")
def test_header_carries_version_and_key_id_and_is_bound_into_the_aad(
    vault: Any, keyring: Keyring
) -> None:
    row = vault.objects.create(name="李四")
    key = keyring.current("field")
    _, version, key_id, _ = raw("name", row.pk).split(":", 3)
    assert (int(version), key_id) == (key.version, key.key_id)


@pytest.mark.req("CR-6")
def test_ciphertext_moved_to_another_row_or_column_fails_loudly(
    vault: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = vault.objects.create(name="张三", id_number=ID_NUMBER)
    second = vault.objects.create(name="李四", id_number="310106199003071234")
    write_raw("name", second.pk, raw("name", first.pk))  # other row
    write_raw("id_number", first.pk, raw("name", first.pk))  # other column
    with caplog.at_level(logging.ERROR, logger="jingan.crypto"):
        with pytest.raises(DecryptionError, match="crypto.Vault.name"):
            _ = vault.objects.get(pk=second.pk).name
        with pytest.raises(DecryptionError, match="crypto.Vault.id_number"):
            _ = vault.objects.get(pk=first.pk).id_number
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == ["ERROR", "ERROR"]
    assert "张三" not in caplog.text
    assert ID_NUMBER not in caplog.text
    assert vault.objects.get(pk=first.pk).name == "张三"  # the untouched cell still reads


@pytest.mark.req("CR-6")
def test_tampered_header_or_body_fails_and_never_returns_ciphertext(vault: Any) -> None:
    row = vault.objects.create(name="王五")
    stored = raw("name", row.pk)
    prefix, version, key_id, body = stored.split(":", 3)
    relabelled = f"{prefix}:{int(version) + 1}:{key_id}:{body}"
    flipped = f"{prefix}:{version}:{key_id}:{'A' if body[0] != 'A' else 'B'}{body[1:]}"
    for bad in (relabelled, flipped, "plain text", f"{prefix}:{version}:{key_id}:%%%"):
        write_raw("name", row.pk, bad)
        loaded = vault.objects.get(pk=row.pk)
        with pytest.raises(DecryptionError):
            _ = loaded.name


@pytest.mark.req("CR-6")
def test_a_different_keyring_fails_with_a_key_id_mismatch(vault: Any, tmp_path: Any) -> None:
    from jingan.core.crypto.keyring import use_keyring

    row = vault.objects.create(name="赵六")
    with use_keyring(Keyring(tmp_path / "other.json", may_create=True)) as other:
        other.current("field")
        with pytest.raises(DecryptionError, match="another keyring"):
            _ = vault.objects.get(pk=row.pk).name


@pytest.mark.req("CR-6")
def test_retired_key_fails_loudly(vault: Any, keyring: Keyring) -> None:
    row = vault.objects.create(name="孙七")
    keyring.rotate("field")
    keyring.retire("field", 1)
    with pytest.raises(DecryptionError, match="retired"):
        _ = vault.objects.get(pk=row.pk).name


def test_empty_and_null_are_stored_as_such(vault: Any) -> None:
    row = vault.objects.create(name="", mobile=None)
    assert (raw("name", row.pk), raw("mobile", row.pk)) == ("", None)
    again = vault.objects.get(pk=row.pk)
    assert (again.name, again.mobile, again.mobile_index, again.id_number_index) == (
        "",
        None,
        None,
        None,
    )
    assert vault.objects.filter(mobile__isnull=True).count() == 1
    assert vault.objects.filter(name="").count() == 1


def test_plaintext_cannot_bypass_encryption_through_querysets(vault: Any) -> None:
    row = vault.objects.create(name="周八")
    with pytest.raises(ValueError, match="is encrypted"):
        vault.objects.filter(pk=row.pk).update(name="明文")
    with pytest.raises(ValueError, match="is encrypted"):
        list(vault.objects.filter(name="周八"))
    with pytest.raises(FieldError):
        list(vault.objects.filter(name__icontains="周"))
    row.name = "明文"
    with pytest.raises(ValueError, match="is encrypted"):
        vault.objects.bulk_update([row], ["name"])
    assert raw("name", row.pk).startswith("sm4gcm1:")


def test_untouched_values_are_not_re_encrypted_on_save(vault: Any) -> None:
    row = vault.objects.create(name="吴九", id_number=ID_NUMBER)
    before = raw("name", row.pk), raw("id_number_index", row.pk)
    loaded = vault.objects.get(pk=row.pk)
    loaded.note = "changed"
    loaded.save()
    assert (raw("name", row.pk), raw("id_number_index", row.pk)) == before
    _ = loaded.name  # read but unchanged: still the same ciphertext
    loaded.save()
    assert raw("name", row.pk) == before[0]
    loaded.name = "郑十"
    loaded.save()
    assert raw("name", row.pk) != before[0]
    assert vault.objects.get(pk=row.pk).name == "郑十"


def test_deferred_and_refreshed_fields_decrypt(vault: Any) -> None:
    row = vault.objects.create(name="钱一", id_number=ID_NUMBER)
    deferred = vault.objects.only("id").get(pk=row.pk)
    assert deferred.name == "钱一"
    deferred.refresh_from_db()
    assert deferred.id_number == ID_NUMBER


def test_values_list_gives_sealed_values_that_refuse_str(vault: Any) -> None:
    row = vault.objects.create(name="冯二")
    row_key, sealed = vault.objects.values_list("row_key", "name").get(pk=row.pk)
    assert isinstance(sealed, Sealed)
    with pytest.raises(DecryptionError, match="without its model instance"):
        str(sealed)
    assert decrypt_value("crypto.Vault", row_key, "name", sealed) == "冯二"


@pytest.mark.req("CR-6")
def test_blind_index_finds_rows_by_normalised_value(vault: Any) -> None:
    row = vault.objects.create(id_number="31010619900307123x", mobile="+86 138-1234-5678")
    vault.objects.create(id_number="310106199003071234", mobile="13900000000")
    assert raw("id_number_index", row.pk).startswith("1:")
    for query in (ID_NUMBER, " 3101 0619 9003 0712 3x ", "３１０１０６１９９００３０７１２３Ｘ"):
        found = vault.objects.filter(id_number_index=blind_index(vault, "id_number_index", query))
        assert list(found) == [row]
    for query in (MOBILE, "0086 138 1234 5678", "+8613812345678"):
        found = vault.objects.filter(mobile_index=blind_index(vault, "mobile_index", query))
        assert list(found) == [row]
    assert blind_index(vault, "mobile_index", " ") == ""
    # Same digits, different source field: different index (no linking across columns).
    assert blind_index(vault, "mobile_index", "1") != blind_index(vault, "id_number_index", "1")


def test_blind_index_follows_changes_even_with_update_fields(vault: Any) -> None:
    row = vault.objects.create(id_number=ID_NUMBER)
    row.id_number = "310106199003071234"
    row.save(update_fields=["id_number"])
    assert raw("id_number_index", row.pk) == blind_index(
        vault, "id_number_index", "310106199003071234"
    )


def test_max_length_is_validated_on_the_plaintext(vault: Any) -> None:
    row = vault(name="长" * 51)
    with pytest.raises(ValidationError) as error:
        row.full_clean()
    assert "name" in error.value.message_dict


def test_model_without_encrypted_model_base_fails_the_system_check() -> None:
    from django.db import models
    from django.test.utils import isolate_apps

    from jingan.core.crypto.fields import EncryptedTextField

    with isolate_apps("jingan.core.crypto"):

        class Loose(models.Model):
            secret = EncryptedTextField(unique=True)

            class Meta:
                app_label = "crypto"

            def __str__(self) -> str:
                return "loose"

        ids = [message.id for message in Loose._meta.get_field("secret").check()]
    assert ids == ["crypto.E001", "crypto.E002"]


def test_normalisers() -> None:
    assert normalize_id_number(" 3101061990 0307123x\t") == ID_NUMBER
    assert normalize_mobile("+86 138 1234 5678") == MOBILE
    assert normalize_mobile("008613812345678") == MOBILE
    assert normalize_mobile("138-1234-5678") == MOBILE


@pytest.mark.req("CR-6")
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1))
def test_encrypt_value_round_trips_any_text(text: str) -> None:
    row_key = uuid.uuid4()
    stored = encrypt_value("app.Model", row_key, "column", text)
    assert decrypt_value("app.Model", row_key, "column", stored) == text
    with pytest.raises(DecryptionError):
        decrypt_value("app.Model", uuid.uuid4(), "column", stored)
