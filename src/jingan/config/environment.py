"""The platform's environment, read once, typed, and checked before Django starts.

Every setting comes from a ``JINGAN_*`` variable; a secret may instead come from a
file named by ``JINGAN_<NAME>_FILE`` (Docker/Kubernetes secrets). A bad value stops
start-up with one message that names the variable and says what is wrong, and never
prints a secret.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]

PREFIX = "JINGAN_"
DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "pgsql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
REDIS_SCHEMES = {"redis", "rediss", "unix"}
AMQP_SCHEMES = {"amqp", "amqps"}
SECRET_FIELDS = ("secret_key", "database_url", "redis_url", "amqp_url", "wechat_app_secret")


class ConfigurationError(Exception):
    """The environment cannot run the platform; the message says which variable and why."""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


class Environment(BaseModel):
    """Typed view of the ``JINGAN_*`` environment variables."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)

    data_dir: Path = Field(default=PROJECT_ROOT / "var")
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    amqp_url: SecretStr | None = None
    keyring: Path | None = None
    secret_key: SecretStr | None = None
    debug: bool = False
    allowed_hosts: str = "127.0.0.1,localhost,[::1],testserver"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    huey_workers: int = Field(default=2, ge=1, le=64)
    # WeChat official account and the regional platform; the defaults are the local
    # simulators that `jingan serve` starts in embedded mode (`jingan simulate` alone).
    wechat_app_id: str = Field(default="wxjingan0demo00001", min_length=1)
    wechat_app_secret: SecretStr = SecretStr("jingan-wechat-simulator-secret")
    wechat_api_url: str = "http://127.0.0.1:8101"
    wechat_oauth_url: str = ""  # empty: same as wechat_api_url (the simulator serves both)
    regional_api_url: str = "http://127.0.0.1:8102"
    # Where the archive simulator serves the inpatient institutions' record archives; each
    # institution's own archive URL is configured in the console (ArchiveSource.base_url).
    archive_api_url: str = "http://127.0.0.1:8103"
    # The medical-insurance e-prescription centre (医保电子处方中心) and the `version` it
    # expects; paths and dictionaries are in settings.ERX_CENTRE (they differ by region).
    erx_centre_url: str = "http://127.0.0.1:8104"
    erx_centre_version: str = Field(default="1.0.0", min_length=1, max_length=20)
    # The supervision platform's data sources (public account, internet hospital and the
    # regional platform's daily files); default: the local feed simulator.
    supervision_feeds_url: str = "http://127.0.0.1:8105"
    # Where the centre sends its notifications (the platform's public address).
    erx_notify_base_url: str = "http://127.0.0.1:8000"
    # The visit event centre: journal partitions (fixed once events exist: a visit's
    # partition is a hash modulo this number) and where the HL7 v2 (MLLP) listener binds.
    event_partitions: int = Field(default=8, ge=1, le=256)
    # How long a sub-centre's partition lease lasts without renewal (takeover delay).
    event_lease_seconds: float = Field(default=10.0, ge=1.0, le=300.0)
    his_mllp_listen: str = Field(default="127.0.0.1:2575", pattern=r"^[\w.:\[\]-]+:\d{1,5}$")
    # The HIS simulators (dialects A-D) that `jingan serve` runs in embedded mode.
    his_simulator_url: str = "http://127.0.0.1:8106"
    # Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: str = ""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = _scheme(value.get_secret_value()).split("+")[0]
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported database scheme {scheme!r}; use one of "
                "sqlite:///path, postgresql://..., mysql://... or mariadb://..."
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if _scheme(value.get_secret_value()) not in REDIS_SCHEMES:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("amqp_url")
    @classmethod
    def _known_amqp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if _scheme(value.get_secret_value()) not in AMQP_SCHEMES:
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{item.strip()!r} is not an IP address or CIDR network "
                        "(e.g. 10.0.0.0/8,127.0.0.1)"
                    ) from None
        return value

    @field_validator(
        "wechat_api_url",
        "wechat_oauth_url",
        "regional_api_url",
        "archive_api_url",
        "erx_centre_url",
        "erx_notify_base_url",
        "supervision_feeds_url",
        "his_simulator_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and (_scheme(value) not in ("http", "https") or not urlsplit(value).netloc):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8101")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters long")
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Environment:
        if self.is_production and self.debug:
            raise ValueError(
                "JINGAN_DEBUG is refused while JINGAN_DATABASE_URL points at a production "
                "database; unset JINGAN_DEBUG"
            )
        if self.is_production and self.secret_key is None:
            raise ValueError(
                "JINGAN_SECRET_KEY (or JINGAN_SECRET_KEY_FILE) is required with a production "
                "database; the embedded mode generates one under the data directory"
            )
        return self

    # -- derived facts -------------------------------------------------------

    @property
    def database_engine(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql``."""
        if self.database_url is None:
            return "sqlite"
        return DATABASE_SCHEMES[_scheme(self.database_url.get_secret_value()).split("+")[0]]

    @property
    def is_production(self) -> bool:
        return self.database_engine != "sqlite"

    @property
    def mode(self) -> str:
        return "services" if self.is_production or self.redis_url else "embedded"

    def trusted_proxy_list(self) -> list[str]:
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]

    def host_list(self) -> list[str]:
        return [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]


def _read_secret_files(environ: Mapping[str, str]) -> dict[str, str]:
    """Resolve ``JINGAN_X_FILE`` into ``JINGAN_X`` (the plain variable wins if both are set)."""
    resolved = dict(environ)
    for name in SECRET_FIELDS:
        variable = f"{PREFIX}{name.upper()}"
        file_variable = f"{variable}_FILE"
        path = environ.get(file_variable)
        if path and not environ.get(variable):
            try:
                resolved[variable] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ConfigurationError(
                    f"{file_variable}: cannot read {path}: {error.strerror}"
                ) from error
    return resolved


def load_environment(environ: Mapping[str, str] | None = None) -> Environment:
    """Read and check the environment; raise ConfigurationError naming each bad variable."""
    source = _read_secret_files(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for name in Environment.model_fields:
        variable = f"{PREFIX}{name.upper()}"
        if variable in source:
            values[name] = source[variable]
    try:
        return Environment.model_validate(values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = item["loc"][0] if item["loc"] else ""
            variable = f"{PREFIX}{str(field).upper()}" if field else "environment"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"  {variable}: {message}")
        raise ConfigurationError(
            "The Jing'an platform cannot start with this environment:\n" + "\n".join(problems)
        ) from None
