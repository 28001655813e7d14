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
    "jingan.core.accounts",
    "jingan.core.runtime",
    "jingan.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jingan.web.middleware.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "jingan.config.urls"
ASGI_APPLICATION = "jingan.config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:console-login"
LOGIN_REDIRECT_URL = "web:console-home"

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
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ENV.is_production else None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

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
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": ENV.log_format},
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "huey": {"level": ENV.log_level},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# -- platform ------------------------------------------------------------------------

# A worker heartbeat older than this makes /healthz report the worker as failed.
WORKER_HEARTBEAT_MAX_AGE_SECONDS = 150
NINJA_PAGINATION_PER_PAGE = 50
