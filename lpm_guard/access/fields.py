"""Text fields as the access API takes them: plain text without control or invisible format
characters, and email addresses checked by ``email-validator``.

NUL is refused by PostgreSQL (a 500 if it reaches the database); bidi overrides (U+202E) and
other format characters make a name or a reason read differently from what it holds. Zero-width
joiners stay allowed: some scripts need them in names.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

from ..consent.addresses import normalise
from ..consent.errors import InvalidAddress

_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_LAYOUT = frozenset("\n\r\t")  # allowed in prose (a research purpose, a reason)


def unsafe_character(text: str, *, prose: bool = False) -> str | None:
    """The first character not allowed in ``text`` (as ``U+XXXX``), or None."""
    for char in text:
        if char in _JOINERS or (prose and char in _LAYOUT):
            continue
        if unicodedata.category(char) in _REFUSED:
            return f"U+{ord(char):04X}"
    return None


def _line(text: str) -> str:
    if found := unsafe_character(text):
        raise ValueError(f"contains a control or format character ({found})")
    return text


def _prose(text: str) -> str:
    if found := unsafe_character(text, prose=True):
        raise ValueError(f"contains a control or format character ({found})")
    return text


def normalise_email(address: str) -> str:
    """One bare ``local@domain`` address, lower-cased (the key accounts are found by); raises
    ``ValueError`` for anything else (display names, quoted parts, control characters, ...)."""
    try:
        return normalise(address).lower()
    except InvalidAddress as exc:
        raise ValueError(exc.detail) from None


Line = Annotated[str, AfterValidator(_line)]
"""One line of plain text: no control, format or separator characters."""
Prose = Annotated[str, AfterValidator(_prose)]
"""Plain text that may hold line breaks and tabs."""
Email = Annotated[str, AfterValidator(normalise_email)]
"""An email address, normalised (see ``normalise_email``)."""
