"""Settings come from the environment, typed, and fail fast with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from jingan.config.environment import ConfigurationError, load_environment

SECRET = "s" * 40


def test_empty_environment_is_embedded_with_safe_defaults() -> None:
    env = load_environment({})
    assert env.database_engine == "sqlite"
    assert env.mode == "embedded"
    assert env.is_production is False
    assert env.debug is False
    assert env.redis_url is None
    assert env.data_dir.name == "var"
    assert env.host_list() == ["127.0.0.1", "localhost", "[::1]", "testserver"]


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgresql://u@127.0.0.1:5432/jingan", "postgresql"),
        ("postgres://u@db/jingan", "postgresql"),
        ("mysql://root:@127.0.0.1:3306/jingan", "mysql"),
        ("mariadb://root:@127.0.0.1:3306/jingan", "mysql"),
    ],
)
def test_production_database_urls_select_the_engine(url: str, engine: str) -> None:
    env = load_environment({"JINGAN_DATABASE_URL": url, "JINGAN_SECRET_KEY": SECRET})
    assert env.database_engine == engine
    assert env.is_production is True
    assert env.mode == "services"


def test_debug_is_refused_with_a_production_database() -> None:
    with pytest.raises(ConfigurationError, match="JINGAN_DEBUG is refused"):
        load_environment(
            {
                "JINGAN_DATABASE_URL": "postgresql://u@db/jingan",
                "JINGAN_SECRET_KEY": SECRET,
                "JINGAN_DEBUG": "1",
            }
        )


def test_production_requires_an_explicit_secret_key() -> None:
    with pytest.raises(ConfigurationError, match="JINGAN_SECRET_KEY"):
        load_environment({"JINGAN_DATABASE_URL": "postgresql://u@db/jingan"})


def test_each_bad_value_is_named_and_secrets_are_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_environment(
            {
                "JINGAN_DATABASE_URL": "oracle://scott:tiger-secret@db/orcl",
                "JINGAN_REDIS_URL": "http://cache:6379",
                "JINGAN_HUEY_WORKERS": "many",
                "JINGAN_LOG_LEVEL": "LOUD",
                "JINGAN_SECRET_KEY": "short-secret",
            }
        )
    message = str(caught.value)
    assert "JINGAN_DATABASE_URL: unsupported database scheme 'oracle'" in message
    assert "JINGAN_REDIS_URL: must start with redis://, rediss:// or unix://" in message
    assert "JINGAN_HUEY_WORKERS:" in message
    assert "JINGAN_LOG_LEVEL:" in message
    assert "JINGAN_SECRET_KEY: must be at least 32 characters long" in message
    assert "tiger-secret" not in message
    assert "short-secret" not in message


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    env = load_environment(
        {"JINGAN_DATABASE_URL": "postgresql://u@db/j", "JINGAN_SECRET_KEY_FILE": str(secret_file)}
    )
    assert env.secret_key is not None
    assert env.secret_key.get_secret_value() == SECRET


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigurationError, match=f"JINGAN_SECRET_KEY_FILE: cannot read {missing}"):
        load_environment({"JINGAN_SECRET_KEY_FILE": str(missing)})


def test_redis_url_switches_to_services_mode() -> None:
    env = load_environment({"JINGAN_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert env.mode == "services"
    assert env.database_engine == "sqlite"
