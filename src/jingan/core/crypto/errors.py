"""Errors of the cryptography core; every failure is loud and names what went wrong."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error raised by ``jingan.core.crypto``."""


class DecryptionError(CryptoError):
    """A ciphertext could not be authenticated or decrypted; its plaintext is never returned."""


class KeyringError(CryptoError):
    """The keyring is missing, unreadable or malformed, or cannot be changed as asked."""


class KeyNotFoundError(KeyringError):
    """The keyring holds no key for this purpose and version."""


class KeyRetiredError(KeyNotFoundError):
    """The key version was retired: its material was removed from the keyring."""


class SignatureFormatError(CryptoError):
    """An SM2 signature or ciphertext is not in the expected encoding."""
