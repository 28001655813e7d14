"""Settings for the test suite: the real settings, with tests' own data dir and inline tasks."""

from __future__ import annotations

import os

from jingan.config.environment import PROJECT_ROOT

os.environ.setdefault("JINGAN_DATA_DIR", str(PROJECT_ROOT / "var" / "test"))

from jingan.config.settings import *  # noqa: E402,F403
from jingan.config.settings import CACHES, DATA_DIR, HUEY  # noqa: E402

# Tasks run inline, in the test's transaction; tests of the real consumer build their own.
HUEY = {**HUEY, "immediate": True}
# Services-mode runs use a production database, which never creates a keyring by itself.
TEST_KEYRING_PATH = DATA_DIR / "keyring.json"
# Transactional tests flush every table; only here may the audit log be emptied.
AUDIT_LOG_FLUSHABLE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Test servers speak plain HTTP on loopback, also in services mode.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# A run of its own in a shared Redis: nothing cached by an earlier run is seen.
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"jingan-test-{os.getpid()}"}}
