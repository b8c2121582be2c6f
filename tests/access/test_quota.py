"""The daily quota of generated seconds: check, charge, refuse, and no overspend under races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from lpm_guard.access.errors import NotApproved, QuotaExceeded
from lpm_guard.access.ids import utcnow
from lpm_guard.errors import InvalidRequest
from tests.access.world import World


def test_charges_add_up_to_the_quota_and_no_further(world: World) -> None:
    quotas = world.services.quotas
    alice = world.researcher(quota_s=10.0)
    assert quotas.check(alice.account_id).remaining_s == 10.0
    assert quotas.charge(alice.account_id, 4.0).remaining_s == 6.0
    assert quotas.charge(alice.account_id, 4.0).remaining_s == 2.0
    with pytest.raises(QuotaExceeded) as refused:
        quotas.charge(alice.account_id, 4.0)
    assert refused.value.extensions["remaining_s"] == 2.0
    # A refused charge spends nothing; what is left can still be spent.
    assert quotas.check(alice.account_id).used_s == 8.0
    assert quotas.charge(alice.account_id, 2.0).remaining_s == 0.0


def test_the_quota_is_per_researcher_and_per_day(world: World) -> None:
    quotas = world.services.quotas
    bob, carol = world.researcher(quota_s=5.0), world.researcher(quota_s=5.0)
    quotas.charge(bob.account_id, 5.0)
    assert quotas.check(carol.account_id).remaining_s == 5.0
    tomorrow = utcnow() + timedelta(days=1)
    assert quotas.check(bob.account_id, tomorrow).remaining_s == 5.0
    assert quotas.charge(bob.account_id, 5.0, tomorrow).remaining_s == 0.0


def test_concurrent_charges_never_overspend(world: World) -> None:
    quotas = world.services.quotas
    dave = world.researcher(quota_s=10.0)

    def charge(_: int) -> bool:
        try:
            quotas.charge(dave.account_id, 1.0)
        except QuotaExceeded:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(charge, range(25)))
    assert results.count(True) == 10
    assert quotas.check(dave.account_id).used_s == 10.0


def test_only_approved_researchers_have_a_quota(world: World) -> None:
    quotas = world.services.quotas
    pending, suspended = world.applicant(), world.researcher()
    world.suspend(suspended)
    for account in (pending, suspended):
        with pytest.raises(NotApproved):
            quotas.charge(account.account_id, 1.0)
    with pytest.raises(NotApproved):
        quotas.check("acct_nobody")
    with pytest.raises(InvalidRequest):
        quotas.charge(world.researcher().account_id, 0.0)


def test_the_quota_route_shows_todays_use(world: World) -> None:
    erin = world.researcher(quota_s=30.0)
    world.services.quotas.charge(erin.account_id, 12.5)
    token = world.client_token(erin).json()["access_token"]
    shown = world.get("/v1/me/quota", token).json()
    assert shown["daily_quota_s"] == 30.0 and shown["used_s"] == 12.5
    assert shown["remaining_s"] == 17.5
