from __future__ import annotations

from datetime import UTC, datetime

from lpm_guard.revocations import InProcessRevocationBus, Revocation


def test_subscribers_hear_their_identity_and_a_broken_one_does_not_stop_the_rest() -> None:
    bus = InProcessRevocationBus()
    heard: list[str] = []

    def broken(_: Revocation) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    everything = bus.subscribe(lambda r: heard.append(f"all:{r.identity_id}"))
    bus.subscribe(lambda r: heard.append(f"one:{r.identity_id}"), "idn_1")
    bus.publish(Revocation("idn_1", datetime.now(UTC), "subject"))
    bus.publish(Revocation("idn_2", datetime.now(UTC), "subject"))
    everything.close()
    bus.publish(Revocation("idn_1", datetime.now(UTC), "subject"))
    assert heard == ["all:idn_1", "one:idn_1", "all:idn_2", "one:idn_1"]
