"""Every reason the server gives for a live session's end has its words on the pages that show
it (the live page's closing message, the dashboard's session list)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lpm_guard.live.session import StopReason

WEB = Path(__file__).resolve().parents[2] / "web"


def _keys(script: str, table: str) -> set[str]:
    source = (WEB / script).read_text(encoding="utf-8")
    body = re.search(rf"const {table} = \{{(.*?)\n\}};", source, re.S)
    assert body, f"{script} has no {table}"
    return set(re.findall(r"^  (\w+):", body.group(1), re.M))


@pytest.mark.parametrize(
    ("script", "table"), [("live.js", "CLOSED_WORDS"), ("dashboard.js", "STOP_REASON")]
)
def test_each_page_words_every_stop_reason(script: str, table: str) -> None:
    assert _keys(script, table) == {reason.value for reason in StopReason}
