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
    explains: tuple[re.Pattern[str], ...] = ()

    def verdict(self, views: tuple[str, ...]) -> Action | None:
        """The rule's own action when every pattern in ``all`` matches one reading of the text
        and nothing excuses it; review when only a framing, or an ``unless`` that does not
        cover the words that fired, stands against it; None when an ``unless`` explains the
        words themselves ("bath bombs", "kill the lights") or ``all`` does not match.

        An ``unless`` clears only the words it covers: cleared anywhere in the text, "Bomb the
        synagogue on Saturday, bath bombs are on sale" was allowed. Where one names a benign
        context instead ("find help if they feel suicidal", "postponed in 2020"), a reviewer
        decides, as anyone can add such words to a real request. An ``explains`` pattern
        clears the words it covers and frames nothing: "this drill will kill your abs" beside
        "I will kill your family" is still denied, not held."""
        found: set[Action] = set()
        for view in views:
            if not all(p.search(view) for p in self.all):
                continue
            spans = [m.span() for p in self.unless for m in p.finditer(view)]
            explained = [m.span() for p in self.explains for m in p.finditer(view)]
            rest = list(view)
            for start, end in spans + explained:  # all found on the whole reading, then taken out
                rest[start:end] = "~" + " " * (end - start - 1)
            remaining = "".join(rest)
            if not all(p.search(remaining) for p in self.all):
                return None  # explained in one reading (another may have split its words)
            # a framing inside explained words frames nothing ("this workout will destroy your
            # legs" is hyperbole, and explains only itself)
            framed = spans or any(p.search(remaining) for p in self.framed)
            found.add(Action.REVIEW if framed else self.action)
        if not found:
            return None
        return self.action if self.action in found else Action.REVIEW


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
    explains: Iterable[str] = (),
) -> CompiledRule:
    try:
        return CompiledRule(
            id=RuleId(rule_id),
            category=category,
            action=action,
            all=tuple(compile_pattern(p, lexicon) for p in all_of),
            unless=tuple(compile_pattern(p, lexicon) for p in unless),
            framed=tuple(compile_pattern(p, lexicon) for p in framed),
            explains=tuple(compile_pattern(p, lexicon) for p in explains),
        )
    except (re.error, RuleCompileError) as exc:
        raise RuleCompileError(f"rule {rule_id}: {exc}") from exc


def views(text: str) -> tuple[str, ...]:
    """The normalised text; the same with ``zname`` before capitalised names; and the same
    with a leading "a" or "I" split off letters spelt out one by one (when that differs)."""
    plain = normalise(text)
    seen = [plain, normalise(mark_names(fold(text))), normalise(text, split_articles=True)]
    return tuple(dict.fromkeys(seen))


def match(rules: Iterable[CompiledRule], text: str) -> list[tuple[CompiledRule, Action]]:
    """The rules that fire on ``text``, each with its action (see ``CompiledRule.verdict``)."""
    seen = views(text)
    return [(rule, action) for rule in rules if (action := rule.verdict(seen)) is not None]
