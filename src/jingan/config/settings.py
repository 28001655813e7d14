"""Django settings, all derived from the environment read once in ``environment.py``.

Embedded mode (no ``JINGAN_DATABASE_URL``/``JINGAN_REDIS_URL``): SQLite in WAL mode,
Huey on SQLite, in-memory channel layer, local-memory cache, everything under
``JINGAN_DATA_DIR``. Services mode: PostgreSQL or MariaDB, Redis for Huey, Channels
and the cache.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from jingan.config.environment import PROJECT_ROOT, ConfigurationError, load_environment

try:
    ENV = load_environment()
except ConfigurationError as error:
    raise ImproperlyConfigured(str(error)) from None

BASE_DIR = PROJECT_ROOT
DATA_DIR: Path = ENV.data_dir.resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
PLATFORM_MODE = ENV.mode


def _embedded_secret_key(path: Path) -> str:
    """The embedded mode keeps a generated key beside its database, readable by us only."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(key, encoding="utf-8")
    return key


SECRET_KEY = (
    ENV.secret_key.get_secret_value()
    if ENV.secret_key
    else _embedded_secret_key(DATA_DIR / "secret_key")
)
DEBUG = ENV.debug
ALLOWED_HOSTS = ENV.host_list()

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "huey.contrib.djhuey",
    "jingan.core.crypto",
    "jingan.core.audit",
    "jingan.core.institutions",
    "jingan.core.accounts",
    "jingan.core.access",
    "jingan.core.dictionary",
    "jingan.core.residents",
    "jingan.core.messaging",
    "jingan.core.runtime",
    "jingan.integrations.wechat",
    "jingan.integrations.regional",
    "jingan.integrations.archives",
    "jingan.integrations.erx_centre",
    "jingan.integrations.his",
    "jingan.medical_records",
    "jingan.prescriptions.erx",
    "jingan.accompaniment.visits",
    "jingan.supervision",
    "jingan.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jingan.web.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # The login redirect middleware wraps the session checks, so their redirects of HTMX
    # requests become whole-page navigations too.
    "jingan.web.middleware.HtmxLoginRedirectMiddleware",
    "jingan.core.accounts.middleware.StaffSessionMiddleware",
]

ROOT_URLCONF = "jingan.config.urls"
ASGI_APPLICATION = "jingan.config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:console-home"
AUTHENTICATION_BACKENDS = ["jingan.core.access.backends.RoleBackend"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jingan.web.context_processors.platform",
                "jingan.core.messaging.context_processors.unread",
            ],
        },
    },
]

# -- database ----------------------------------------------------------------


def _database() -> dict[str, Any]:
    if ENV.database_url is None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "jingan.sqlite3",
            "OPTIONS": {
                # WAL lets the web, the worker and the event centre read while one writes.
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": str(DATA_DIR / "test-jingan.sqlite3")},
        }
    url = ENV.database_url.get_secret_value().replace("mariadb://", "mysql://", 1)
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True)
    )
    if ENV.database_engine == "mysql":
        config["OPTIONS"] = {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            "isolation_level": "read committed",
        }
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- cache, jobs, channels -----------------------------------------------------

REDIS_URL = ENV.redis_url.get_secret_value() if ENV.redis_url else None

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "jingan",
        }
    }
    HUEY: dict[str, Any] = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": "jingan",
        "url": REDIS_URL,
        "immediate": False,
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "jingan"},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "jingan",
        }
    }
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "jingan",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

HUEY["consumer"] = {"workers": ENV.huey_workers, "worker_type": "thread"}

# -- sessions and security ---------------------------------------------------------

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_COOKIE_SECURE = ENV.is_production
CSRF_COOKIE_SECURE = ENV.is_production
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Proxies whose X-Forwarded-For is honoured by jingan.lib.net.client_ip (CIDR strings).
TRUSTED_PROXIES = ENV.trusted_proxy_list()
# Production sits behind TLS (国密 TLCP or RSA at the proxy): browsers must never fall back.
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if ENV.is_production else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.is_production
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ENV.is_production else None

# Passwords are hashed with PBKDF2-HMAC-SM3; older hashes still verify and are upgraded.
PASSWORD_HASHERS = [
    "jingan.core.accounts.hashers.PBKDF2SM3PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Staff password policy (等保 8.1.4.1 a; security checklist IA-2).
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "jingan.core.accounts.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "jingan.core.accounts.passwords.CharacterClassesValidator"},
    {"NAME": "jingan.core.accounts.passwords.IdentityInPasswordValidator"},
    {"NAME": "jingan.core.accounts.passwords.UserAttributeSimilarityValidator"},
    {"NAME": "jingan.core.accounts.passwords.CommonPasswordValidator"},
    {"NAME": "jingan.core.accounts.passwords.ChineseCommonPasswordValidator"},
    {"NAME": "jingan.core.accounts.passwords.NumericPasswordValidator"},
    {"NAME": "jingan.core.accounts.passwords.PasswordHistoryValidator"},
]
# Staff sessions: idle and absolute limits (等保 8.1.4.1 b; checklist SE-1).
STAFF_SESSION_IDLE_SECONDS = 30 * 60
STAFF_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60

# -- language, time ---------------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# -- static files: our own css/js plus the npm packages, served by WhiteNoise ---------

NODE_MODULES = BASE_DIR / "node_modules"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Only the built files of each front-end package are exposed, never all of node_modules.
STATICFILES_DIRS = [
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/alpinejs", NODE_MODULES / "alpinejs" / "dist"),
    ("vendor/weui", NODE_MODULES / "weui" / "dist" / "style"),
    ("vendor/tabler", NODE_MODULES / "@tabler" / "core" / "dist"),
    ("vendor/tabler-icons", NODE_MODULES / "@tabler" / "icons-webfont" / "dist"),
    ("vendor/echarts", NODE_MODULES / "echarts" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the finders: no collectstatic step between `npm ci` and a page.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_MAX_AGE = 3600

# -- logging -----------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "jingan.lib.logging.JsonFormatter"},
    },
    "filters": {"mask_personal_data": {"()": "jingan.lib.masking.MaskingFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": ENV.log_format,
            "filters": ["mask_personal_data"],
        },
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "huey": {"level": ENV.log_level},
        "uvicorn.access": {"level": "WARNING"},
        # Every outbound call is journaled (masked) by jingan.outbound; httpx's own line repeats it.
        "httpx": {"level": "WARNING"},
        # WeasyPrint logs a line per rendered page; a 200-page copy would flood the log.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# -- platform ------------------------------------------------------------------------

# A worker heartbeat older than this makes /healthz report the worker as failed.
WORKER_HEARTBEAT_MAX_AGE_SECONDS = 150
NINJA_PAGINATION_PER_PAGE = 50

# One-click records: how long a resident's signed download link lives, and how many days
# after the copy is made it can be downloaded (the file is purged afterwards).
MEDICAL_RECORDS_COPY_LINK_SECONDS = 600
MEDICAL_RECORDS_COPY_RETENTION_DAYS = 30

# -- external systems (defaults: the local simulators, see jingan.integrations) -------

WECHAT = {
    "app_id": ENV.wechat_app_id,
    "app_secret": ENV.wechat_app_secret.get_secret_value(),
    "api_base_url": ENV.wechat_api_url,
    "oauth_base_url": ENV.wechat_oauth_url or ENV.wechat_api_url,
}
REGIONAL = {"api_base_url": ENV.regional_api_url}
ARCHIVES = {
    "api_base_url": ENV.archive_api_url,
    # Where the simulated institutions push to (the platform as `jingan serve` runs it),
    # and the simulated hospitals' key store, written when the demo registers them.
    "platform_url": "http://127.0.0.1:8000",
    "simulator_credentials": DATA_DIR / "archives" / "simulator-credentials.json",
}
ERX_CENTRE = {
    "api_base_url": ENV.erx_centre_url,
    "version": ENV.erx_centre_version,
    "enc_type": "SM4",
    "sign_type": "SM2",
    "path_prefix": "/fixmedins",
    # Operation name -> path where a region's centre differs from {path_prefix}/{name}.
    "paths": {},
    "timeout_seconds": 10.0,
    "notify_url": f"{ENV.erx_notify_base_url}/api/v1/erx/centre/notifications",
    # The simulated centre's own key store (its key pair and the institutions' apps),
    # written when the demo registers the 26 institutions.
    "simulator_state": DATA_DIR / "erx" / "centre-simulator.json",
}
SUPERVISION = {
    # Parquet lake: raw/, clean/, rejects/, snapshots/ (DESIGN §5).
    "lake_dir": DATA_DIR / "lake",
    # The internet → government-network exchange area: inbox/, accepted/, quarantine/.
    "exchange_dir": DATA_DIR / "exchange",
    # The synthetic sources' feeds (public account, internet hospital, regional files).
    "feeds_base_url": ENV.supervision_feeds_url,
    # Seed of the deterministic district-scale synthetic data.
    "synthetic_seed": 20260101,
    # A feed whose newest landed day is older than this raises its own alert.
    "feed_stale_days": 2,
}
VISITS: dict[str, Any] = {
    # Journal partitions; sub-centres hold them by lease (DESIGN §4).
    "partitions": ENV.event_partitions,
    "lease_seconds": ENV.event_lease_seconds,
    # Events a sub-centre folds per transaction.
    "batch_size": 500,
    # Our HL7 v2 listener (dialect A HIS systems connect here and send over MLLP).
    "mllp_listen": ENV.his_mllp_listen,
    # The HIS simulators: B's query service and C's SOAP endpoint share one HTTP server
    # (paths /rest/{code}/..., /hip/{code}); A's MLLP test port is the next port; D's
    # databases (one SQLite file per institution, owned by the simulator) live here.
    "his_simulator_url": ENV.his_simulator_url,
    "his_views_dir": DATA_DIR / "his-views",
    # Where dialect B HIS systems push (the platform as `jingan serve` runs it).
    "platform_url": "http://127.0.0.1:8000",
    # The inbound message queue (third-party node notifications, VA-3) when AMQP is set.
    "amqp_queue": "jingan.visit-events",
    # Pollers: back off up to this long; open the circuit after this many failures in a row.
    "poll_max_backoff_seconds": 300,
    "circuit_failure_threshold": 5,
    # Minutes a doctor spends per patient when a department has no history yet (VA-7).
    "default_minutes_per_patient": 6.0,
}
# A simulator on this machine means a demo: pages may then explain how to drive it.
SIMULATED_INTEGRATIONS = all(
    url.startswith(("http://127.0.0.1:", "http://localhost:"))
    for url in (ENV.wechat_api_url, ENV.regional_api_url)
)
