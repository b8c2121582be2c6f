"""``lpm-guard admin``: create-admin prints a one-time password that signs in; researcher
decisions through the same services, audited under the operator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lpm_guard.access.accounts import AccountService
from lpm_guard.access.applications import ApplicationService
from lpm_guard.access.errors import InvalidCredentials
from lpm_guard.auditing.services import AuditService
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import application_form

PASSWORD_LINE = re.compile(r"one-time password \(shown only now\): (\S+)")


def _runtime(data: Path) -> Runtime:
    return Runtime.open(Settings(data_dir=data, checkpoint_interval_s=3600))


def test_create_admin_prints_a_password_that_signs_in(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    rt = _runtime(data)
    try:
        accounts = AccountService(rt.engine, AuditService(rt.audit))
        assert not accounts.has_admin()  # no default account, no default password
    finally:
        rt.close()
    output = cli("admin", "create-admin", "--email", "Root@Example.org", "--name", "Root")
    match = PASSWORD_LINE.search(output)
    assert match, output
    password = match.group(1)
    assert len(password) >= 20
    rt = _runtime(data)
    try:
        accounts = AccountService(rt.engine, AuditService(rt.audit))
        assert accounts.has_admin()
        account = accounts.sign_in("root@example.org", password, "127.0.0.1")
        assert account.role == "admin" and password not in account.password_hash
        created = [
            s.entry for s in rt.audit.entries(0) if s.entry.event.action == "access:account:create"
        ]
        assert created[0].event.actor.startswith("operator:")
        assert password not in str(created[0].to_json())
    finally:
        rt.close()
    # The same email twice is refused, with a message and a non-zero exit.
    again = cli("admin", "create-admin", "--email", "root@example.org", "--name", "R", code=1)
    assert "exists" in again
    assert "not an email" in cli("admin", "create-admin", "--email", "nope", "--name", "R", code=1)


def test_operator_reviews_researchers(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    rt = _runtime(data)
    try:
        view = ApplicationService(rt.engine, AuditService(rt.audit)).apply(
            application_form(), "127.0.0.1"
        )
    finally:
        rt.close()
    assert view.id in cli("admin", "researchers", "list", "--status", "submitted")
    approved = cli(
        "admin",
        "researchers",
        "approve",
        view.id,
        "--reason",
        "ok",
        "--days",
        "30",
        "--quota",
        "120",
    )
    assert "approved" in approved and "120 s/day" in approved
    assert "suspended" in cli("admin", "researchers", "suspend", view.id, "--reason", "report")
    assert "approved" in cli("admin", "researchers", "reinstate", view.id, "--reason", "cleared")
    # A decision that does not fit the status, an empty reason, an unknown id: clear errors.
    assert "cannot become" in cli(
        "admin", "researchers", "deny", view.id, "--reason", "late", code=1
    )
    assert "reason" in cli("admin", "researchers", "deny", view.id, "--reason", "", code=1)
    assert "no application" in cli(
        "admin", "researchers", "approve", "app_missing", "--reason", "x", code=1
    )
    rt = _runtime(data)
    try:
        actions = [s.entry.event.action for s in rt.audit.entries(0)]
    finally:
        rt.close()
    for action in ("approve", "suspend", "reinstate"):
        assert f"access:application:{action}" in actions


def test_create_reviewer(cli) -> None:  # type: ignore[no-untyped-def]
    output = cli("admin", "create-reviewer", "--email", "ts@example.org", "--name", "T&S")
    assert "created reviewer ts@example.org" in output and PASSWORD_LINE.search(output)


def test_disable_and_reset_staff_accounts(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    first = PASSWORD_LINE.search(
        cli("admin", "create-reviewer", "--email", "r@example.org", "--name", "R")
    )
    assert first
    assert "r@example.org" in cli("admin", "accounts")
    assert "disabled r@example.org" in cli("admin", "disable-account", "--email", "r@example.org")
    assert "(disabled)" in cli("admin", "accounts")
    rt = _runtime(data)
    try:
        accounts = AccountService(rt.engine, AuditService(rt.audit))
        with pytest.raises(InvalidCredentials):  # a disabled account cannot sign in
            accounts.sign_in("r@example.org", first.group(1), "127.0.0.1")
    finally:
        rt.close()
    cli("admin", "enable-account", "--email", "r@example.org")
    second = PASSWORD_LINE.search(cli("admin", "reset-password", "--email", "r@example.org"))
    assert second and second.group(1) != first.group(1)
    rt = _runtime(data)
    try:
        accounts = AccountService(rt.engine, AuditService(rt.audit))
        account = accounts.sign_in("r@example.org", second.group(1), "127.0.0.2")
        assert account.password_must_change
        with pytest.raises(InvalidCredentials):
            accounts.sign_in("r@example.org", first.group(1), "127.0.0.3")
    finally:
        rt.close()
    assert "no account" in cli("admin", "disable-account", "--email", "x@example.org", code=1)
