"""The policy file: the shipped one loads; a broken one refuses to load, never allows."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from lpm_guard.policy import Action, Category, Policy, PolicyError, PolicyFileError, Use

from tests.policy.conftest import POLICY_FILE


def test_the_shipped_policy_loads_with_its_version_and_hash(policy: Policy) -> None:
    assert policy.version == "2026.11.1"
    assert policy.hash == hashlib.sha256(POLICY_FILE.read_bytes()).hexdigest()
    assert {rule.category for rule in policy.rules} >= {
        Category.IMPERSONATION,
        Category.SEXUAL,
        Category.MINORS,
        Category.FRAUD,
        Category.ELECTIONS,
        Category.HATE,
        Category.VIOLENCE,
        Category.SELF_HARM,
        Category.DEFAMATION,
    }


def test_the_shipped_file_is_parsed_once_per_process(policy: Policy) -> None:
    """Each gate a server builds (lazily, on the first request that needs it) loads the policy:
    parsing the shipped file again cost ~0.45 s of CPU there, and a DELETE of a live session on
    a loaded machine took 1.0 s. Each load is its own instance over the one parse; a file
    named by path is read and parsed each time."""
    again = Policy.load()
    assert again is not policy and again.hash == policy.hash
    assert again.rules is policy.rules and again.classifier is policy.classifier
    assert Policy.load(POLICY_FILE).rules is not policy.rules


def test_every_decision_records_version_and_hash(policy: Policy) -> None:
    for text in ("hello there", "explain how to build a pipe bomb"):
        decision = policy.check_text(text, Use.LIVE)
        assert decision.policy_version == policy.version
        assert decision.policy_hash == policy.hash


def test_a_file_loads_from_a_path_and_its_hash_follows_its_bytes(
    tmp_path: Path, policy_text: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(policy_text.replace('version = "2026.11.1"', 'version = "9.9"'), "utf-8")
    loaded = Policy.load(path)
    assert loaded.version == "9.9"
    assert loaded.hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_actions_per_use_come_from_the_file(tmp_path: Path, policy_text: str) -> None:
    text = "Make the bishop confess to stealing from the charity"
    shipped = Policy.load()
    assert shipped.check_text(text, Use.OFFLINE).action is Action.REVIEW
    assert shipped.check_text(text, Use.LIVE).action is Action.REVIEW
    start = policy_text.index("[categories.defamation]")
    end = policy_text.index("[categories.unintelligible_speech]")
    path = tmp_path / "p.toml"
    path.write_text(
        policy_text[:start]
        + '[categories.defamation]\ndescription = "x"\noffline = "allow"\nlive = "deny"\n\n'
        + policy_text[end:],
        "utf-8",
    )
    changed = Policy.load(path)
    assert changed.check_text(text, Use.OFFLINE).action is Action.ALLOW
    assert changed.check_text(text, Use.LIVE).action is Action.DENY


def _broken(policy_text: str, case: str) -> str:
    if case == "not TOML":
        return "[policy\nname = 1\n"
    if case == "unknown key":
        return policy_text.replace("[policy]\n", "[policy]\nallow_everything = true\n", 1)
    if case == "bad action":
        return policy_text.replace(
            '[categories.sexual]\ndescription = "sexual content, nudity, '
            'sexualised performance"\noffline = "deny"',
            '[categories.sexual]\ndescription = "x"\noffline = "maybe"',
        )
    if case == "bad regex":
        return policy_text.replace('all = ["@slur"]', 'all = ["(unclosed"]')
    if case == "unknown lexicon entry":
        return policy_text.replace('all = ["@slur"]', 'all = ["@no_such_list"]')
    if case == "missing category":
        start = policy_text.index("[categories.self_harm]")
        end = policy_text.index("[categories.defamation]")
        return policy_text[:start] + policy_text[end:]
    if case == "duplicate rule":
        return policy_text.replace('id = "hate.group_go_back"', 'id = "hate.slur"')
    if case == "review band above the deny score":
        return re.sub(r"\nreview_score = [0-9.]+\n", "\nreview_score = 0.95\n", policy_text)
    if case == "margin without a band":
        return re.sub(r"\nreview_score = [0-9.]+\n", "\n", policy_text)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not TOML", "not valid TOML"),
        ("unknown key", "policy.allow_everything"),
        ("bad action", "categories.sexual.offline"),
        ("bad regex", "rule hate.slur"),
        ("unknown lexicon entry", "@no_such_list"),
        ("missing category", "self_harm"),
        ("duplicate rule", "duplicate rule ids: hate.slur"),
        ("review band above the deny score", "review_score must be below min_score"),
        ("margin without a band", "min_margin needs review_score"),
    ],
)
def test_a_broken_file_refuses_to_load_with_a_clear_error(
    tmp_path: Path, policy_text: str, case: str, message: str
) -> None:
    path = tmp_path / "broken.toml"
    broken = _broken(policy_text, case)
    assert broken != policy_text
    path.write_text(broken, "utf-8")
    with pytest.raises(PolicyFileError, match=message.replace("(", r"\(")):
        Policy.load(path)


def test_a_missing_or_binary_file_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read policy file"):
        Policy.load(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="not UTF-8"):
        Policy.load(binary)


def test_a_rule_must_be_named_for_its_category(tmp_path: Path, policy_text: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(policy_text.replace('id = "hate.slur"', 'id = "violence.slur"'), "utf-8")
    with pytest.raises(PolicyFileError, match="not named for its category"):
        Policy.load(path)
