"""The key store's one error family, rooted in ``KeyStoreError``."""

from __future__ import annotations


class KeyStoreError(Exception):
    """Base of every error the key store raises. Messages never carry key material."""


class KeyStoreMissingError(KeyStoreError):
    """A key (or the whole store) is absent and the store was opened with ``create=False``."""


class InsecurePermissionsError(KeyStoreError):
    """A file or directory of the store is reachable by group or other users, or is a link."""


class CorruptKeyError(KeyStoreError):
    """A file of the store cannot be parsed or does not match its recorded id."""


class UnknownKeyError(KeyStoreError):
    """A blob or record names a key id the store does not hold."""


class DecryptionError(KeyStoreError):
    """A blob failed authentication: tampered, truncated, or the wrong associated data."""


class KeysDifferError(KeyStoreError):
    """This node's keys are not the ones the database's other nodes use (a second data
    directory with its own keys); it must not start."""
