"""Command-line commands of the crypto app, added to ``jingan`` through ``COMMANDS``.

``api-client`` and ``release`` live in ``signing_cli.py``; add further commands (such as
``rotate-keys``) to this list rather than replacing it.
"""

from __future__ import annotations

from jingan.core.crypto.keys_cli import init_keyring, rotate_keys
from jingan.core.crypto.signing_cli import api_client, release

COMMANDS = [api_client, release, rotate_keys, init_keyring]
