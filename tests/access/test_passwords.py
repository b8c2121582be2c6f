"""Passwords: argon2id with argon2-cffi's defaults in production; one-time passwords."""

from __future__ import annotations

import subprocess
import sys

from lpm_guard.access import passwords


def test_production_hashes_use_argon2id_defaults() -> None:
    # A fresh interpreter: the tests' conftest lowers the cost for speed.
    code = "from lpm_guard.access.passwords import hash_password; print(hash_password('x' * 12))"
    encoded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_verify() -> None:
    stored = passwords.hash_password("a long password")
    assert passwords.verify_password(stored, "a long password")
    assert not passwords.verify_password(stored, "a long passworD")
    assert not passwords.verify_password(None, "a long password")
    assert not passwords.verify_password("not a hash", "a long password")


def test_one_time_passwords_differ_and_are_long() -> None:
    drawn = {passwords.one_time_password() for _ in range(50)}
    assert len(drawn) == 50 and min(len(p) for p in drawn) >= 20
