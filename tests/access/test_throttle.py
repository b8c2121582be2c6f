"""Sign-in throttling, per account and per address, in the service and at the sign-in page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from lpm_guard.access.accounts import AccountService
from lpm_guard.access.errors import InvalidCredentials, LoginThrottled
from lpm_guard.access.scopes import Role
from lpm_guard.access.throttle import ThrottlePolicy
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.runtime import Runtime
from tests.access.world import pkce_pair


@pytest.fixture
def accounts(runtime: Runtime) -> AccountService:
    policy = ThrottlePolicy(
        window=timedelta(minutes=15), per_account=3, per_address=5, per_account_anywhere=8
    )
    return AccountService(runtime.engine, AuditService(runtime.audit), policy)


def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(
    accounts: AccountService, runtime: Runtime
) -> None:
    """From the address that failed; the owner elsewhere is not locked out (issue 18, L3)."""
    new = accounts.create_staff("ops@example.org", "Ops", Role.REVIEWER, "test")
    assert accounts.sign_in("ops@example.org", new.password, "10.0.0.1").id == new.account_id
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            accounts.sign_in("ops@example.org", "guess-guess-guess", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        accounts.sign_in("OPS@example.org", new.password, "10.0.0.1")
    assert accounts.sign_in("ops@example.org", new.password, "10.0.0.2").id == new.account_id
    actions = [stored.entry.event.action for stored in runtime.audit.entries(0)]
    assert actions.count("access:login:failure") == 3
    assert actions.count("access:login:throttle") == 1
    assert actions.count("access:login:success") == 2


def test_guessing_spread_over_addresses_throttles_the_account_everywhere(
    accounts: AccountService,
) -> None:
    new = accounts.create_staff("wide@example.org", "Wide", Role.REVIEWER, "test")
    for n in range(8):  # two failures from each of four addresses: under the pair limit
        with pytest.raises(InvalidCredentials):
            accounts.sign_in("wide@example.org", "guess-guess-guess", f"10.3.0.{n // 2}")
    with pytest.raises(LoginThrottled, match="for this account; "):
        accounts.sign_in("wide@example.org", new.password, "10.3.0.99")


def test_an_address_is_throttled_across_accounts(accounts: AccountService) -> None:
    new = accounts.create_staff("lead@example.org", "Lead", Role.ADMIN, "test")
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.sign_in(f"someone{n}@example.org", "guess-guess-guess", "10.0.0.9")
    with pytest.raises(LoginThrottled):
        accounts.sign_in("lead@example.org", new.password, "10.0.0.9")
    # The same account from another address is still welcome.
    assert accounts.sign_in("lead@example.org", new.password, "10.0.0.10").id == new.account_id


def test_a_success_clears_the_account_count(accounts: AccountService) -> None:
    new = accounts.create_staff("rev@example.org", "Rev", Role.REVIEWER, "test")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            accounts.sign_in("rev@example.org", "guess-guess-guess", "10.1.0.1")
    accounts.sign_in("rev@example.org", new.password, "10.1.0.2")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            accounts.sign_in("rev@example.org", "guess-guess-guess", "10.1.0.3")
    assert accounts.sign_in("rev@example.org", new.password, "10.1.0.4").id == new.account_id


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client


def test_the_sign_in_page_answers_429_when_throttled(web: TestClient, runtime: Runtime) -> None:
    accounts = AccountService(runtime.engine, AuditService(runtime.audit))
    new = accounts.create_staff("page@example.org", "Page", Role.REVIEWER, "test")
    _, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "lpm-guard-web",
            "redirect_uri": f"{runtime.settings.resolved_public_url}/callback.html",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    wrong = {"email": "page@example.org", "password": "not-the-password"}
    statuses = [web.post(f"/oauth/authorize?{query}", data=wrong).status_code for _ in range(5)]
    assert statuses == [401] * 5
    right = {"email": "page@example.org", "password": new.password}
    throttled = web.post(f"/oauth/authorize?{query}", data=right)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert "location" not in throttled.headers


def test_old_attempts_are_pruned_and_no_longer_count(accounts: AccountService) -> None:
    from sqlmodel import Session, func, select

    from lpm_guard.access.ids import utcnow
    from lpm_guard.access.models import LoginAttemptRow
    from lpm_guard.access.throttle import record_attempt

    new = accounts.create_staff("old@example.org", "Old", Role.REVIEWER, "test")
    long_ago = utcnow() - timedelta(days=2)
    with Session(accounts.engine) as session:
        for _ in range(10):
            record_attempt(session, "old@example.org", "10.2.0.1", long_ago, succeeded=False)
        session.commit()
    assert accounts.sign_in("old@example.org", new.password, "10.2.0.1").id == new.account_id
    with Session(accounts.engine) as session:
        count = session.exec(select(func.count()).select_from(LoginAttemptRow)).one()
    assert count == 1
