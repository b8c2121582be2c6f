"""Sandbox accounts (``lpm-guard demo``): marked in their ids, their creation entry and on
``/v1/me`` (which every page reads for its banner); a sandbox researcher still needs an approved
application to generate."""

from __future__ import annotations

import json

from lpm_guard.access.accounts import SANDBOX_DOMAIN
from lpm_guard.access.schemas import ApplicationDetails
from lpm_guard.access.scopes import Role

from .world import Account, World, application_form


def test_a_sandbox_account_says_so_on_me_and_in_the_log(world: World) -> None:
    assert world.runtime is not None
    new = world.services.accounts.create_sandbox(Role.REVIEWER, "Sandbox Operator", "test")
    assert new.account_id.startswith("sandbox_") and new.email.endswith("@" + SANDBOX_DOMAIN)
    account = Account(new.account_id, new.email, new.password)
    token = world.web_tokens(account)["access_token"]
    me = world.get("/v1/me", token).json()
    assert me["sandbox"] is True and me["role"] == "reviewer"
    log = world.runtime.audit
    entry = json.loads(log.entry(log.size() - 1).body)
    created = [
        json.loads(log.entry(i).body)
        for i in range(log.size())
        if json.loads(log.entry(i).body)["objects"].get("account") == new.account_id
    ]
    assert created[0]["action"] == "access:account:create"
    assert created[0]["payload"] == {"role": "reviewer", "sandbox": True}
    assert entry["actor"] == new.account_id  # its own sign-in, under its sandbox id


def test_an_ordinary_account_is_not_sandbox(world: World) -> None:
    staff = world.staff(Role.REVIEWER)
    me = world.get("/v1/me", world.web_tokens(staff)["access_token"]).json()
    assert me["sandbox"] is False and not staff.account_id.startswith("sandbox_")


def test_a_sandbox_researcher_has_no_access_until_approved(world: World) -> None:
    assert world.runtime is not None
    new = world.services.accounts.create_sandbox(Role.RESEARCHER, "Sandbox Researcher", "test")
    account = Account(new.account_id, new.email, new.password)
    token = world.web_tokens(account)["access_token"]
    me = world.get("/v1/me", token).json()
    assert me["sandbox"] is True and me["scopes"] == []
    assert world.get("/v1/me/quota", token).status_code == 403
    # Its first application is recorded as a first one, not as one "again".
    details = ApplicationDetails.model_validate(
        application_form().model_dump(include=set(ApplicationDetails.model_fields))
    )
    view = world.services.applications.reapply(account.principal, details, "test")
    assert view.status == "submitted"
    log = world.runtime.audit
    entry = json.loads(log.entry(log.size() - 1).body)
    assert entry["action"] == "access:application:submit" and "again" not in entry["payload"]
