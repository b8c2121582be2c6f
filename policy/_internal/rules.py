"""Compiling the policy file's rules into regular expressions, and matching them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..models import Action, Category, RuleId
from .normalise import fold, mark_names, normalise

_REFERENCE = re.compile(r"@([a-z_]+)")
_PATTERN_REPEAT = re.compile(r"(?<!\\)([a-z])\1+")  # squeezes literal letters, never "\bb"


class RuleCompileError(ValueError):
    """A rule's pattern does not compile; the message names the rule."""


@dataclass(frozen=True)
class CompiledRule:
    id: RuleId
    category: Category
    action: Action
    all: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    framed: tuple[re.Pattern[str], ...] = ()

    def matches(self, views: tuple[str, ...]) -> bool:
        """Every pattern in ``all`` matches one reading of the text, and no ``unless``
        matches any reading: a benign reading of the same words wins."""
        if not any(all(p.search(v) for p in self.all) for v in views):
            return False
        return not any(p.search(v) for p in self.unless for v in views)

    def is_framed(self, views: tuple[str, ...]) -> bool:
        """A ``framed`` pattern matches one reading: the text may be benign, and a reviewer
        decides (a framing is no exemption: anyone can put one in front of a request)."""
        return any(p.search(v) for p in self.framed for v in views)


def expand(pattern: str, lexicon: Mapping[str, list[str]], depth: int = 0) -> str:
    """``@name`` replaced by the lexicon's alternatives, recursively (to a depth of 4)."""
    if depth > 4:
        raise RuleCompileError(f"lexicon references nest too deep in {pattern!r}")

    def entry(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in lexicon:
            raise RuleCompileError(f"unknown lexicon entry @{name}")
        return "(?:" + "|".join(expand(a, lexicon, depth + 1) for a in lexicon[name]) + ")"

    return _REFERENCE.sub(entry, pattern)


def compile_pattern(pattern: str, lexicon: Mapping[str, list[str]]) -> re.Pattern[str]:
    source = _PATTERN_REPEAT.sub(r"\1", expand(pattern, lexicon))
    return re.compile(rf"(?<![a-z0-9])(?:{source})(?![a-z0-9])")


def compile_rule(
    rule_id: str,
    category: Category,
    action: Action,
    all_of: Iterable[str],
    unless: Iterable[str],
    lexicon: Mapping[str, list[str]],
    framed: Iterable[str] = (),
) -> CompiledRule:
    try:
        return CompiledRule(
            id=RuleId(rule_id),
            category=category,
            action=action,
            all=tuple(compile_pattern(p, lexicon) for p in all_of),
            unless=tuple(compile_pattern(p, lexicon) for p in unless),
            framed=tuple(compile_pattern(p, lexicon) for p in framed),
        )
    except (re.error, RuleCompileError) as exc:
        raise RuleCompileError(f"rule {rule_id}: {exc}") from exc


def views(text: str) -> tuple[str, ...]:
    """The normalised text; the same with ``zname`` before capitalised names; and the same
    with a leading "a" or "I" split off letters spelt out one by one (when that differs)."""
    plain = normalise(text)
    seen = [plain, normalise(mark_names(fold(text))), normalise(text, split_articles=True)]
    return tuple(dict.fromkeys(seen))


def match(rules: Iterable[CompiledRule], text: str) -> list[tuple[CompiledRule, bool]]:
    """The rules that match ``text``, each with whether a framing sends it to review."""
    seen = views(text)
    return [(rule, rule.is_framed(seen)) for rule in rules if rule.matches(seen)]
