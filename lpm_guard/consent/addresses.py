"""The subject's email address: checked, normalised, masked for researchers, hashed for blocks.

The address itself is sealed in its identity's row (``sealing.py``); blocks and look-ups use
a keyed hash (``DataCipher.keyed_hashes``), so the block list names nobody without the key.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from ..keys.encryption import DataCipher
from .errors import InvalidAddress

MAX_LENGTH = 254  # RFC 5321's limit on a forward path, less its angle brackets
HASH_PURPOSE = "consent/subject-email"


def normalise(address: str) -> str:
    """A bare ``local@domain`` address, as mail is sent to it; refused with ``InvalidAddress``
    for display names (``Ada <ada@example.org>``), comments, quoted local parts, IP literals,
    control or format characters, non-ASCII local parts, or anything that is not one address."""
    # (1): no control or invisible format characters anywhere, not even at the ends.
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in address):
        raise InvalidAddress("the address contains control characters")
    clean = address.strip()
    if not clean or len(clean) > MAX_LENGTH:
        raise InvalidAddress(f"an email address is 3 to {MAX_LENGTH} characters")
    # (2): the syntax of one addr-spec, nothing around it (no DNS look-up: a test for a typing
    # error, not for deliverability).
    try:
        checked = validate_email(
            clean,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(f"not a valid email address: {exc}") from None
    # (3): the ASCII form (an internationalised domain as punycode), the domain lower-cased.
    return str(checked.ascii_email or checked.normalized)


def hashes(cipher: DataCipher, address: str) -> list[str]:
    """Keyed hashes of the lower-cased address under every data key, the current key's first:
    ``Ada@Example.org`` and ``ada@example.org`` are one person's address."""
    return cipher.keyed_hashes(HASH_PURPOSE, normalise(address).lower().encode())


def mask(address: str) -> str:
    """``a***@example.org``: enough for a researcher to recognise the address they entered."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"
