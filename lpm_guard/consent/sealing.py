"""Biometric columns sealed with the data key; the associated data binds table, row, column."""

from __future__ import annotations

from ..keys.encryption import DataCipher


def _binding(table: str, row_id: str, column: str) -> bytes:
    return f"lpm-guard/{table}/{row_id}/{column}".encode()


def seal(cipher: DataCipher, table: str, row_id: str, column: str, plaintext: bytes) -> bytes:
    return cipher.encrypt(plaintext, _binding(table, row_id, column))


def unseal(cipher: DataCipher, table: str, row_id: str, column: str, blob: bytes) -> bytes:
    return cipher.decrypt(blob, _binding(table, row_id, column))
