"""The watermark's payload: a 64-bit reference, a keyed check value and Reed–Solomon parity.

Layout (20 bytes = 160 coded bits, most significant bit of each byte first)::

    reference (8 bytes, big-endian) | check (4 bytes) | Reed–Solomon parity (8 bytes)

``check`` is the first 4 bytes of HMAC-SHA256(secret, CHECK_LABEL || reference): without the
secret a forger cannot make a reference read as present (2^-32 per try). The parity comes from
``reedsolo`` (RS over GF(2^8), 8 parity symbols: up to 4 wrong bytes are corrected).
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import reedsolo

REFERENCE_BITS = 64
CHECK_BYTES = 4
PARITY_BYTES = 8
DATA_BYTES = REFERENCE_BITS // 8 + CHECK_BYTES
CODED_BYTES = DATA_BYTES + PARITY_BYTES
CODED_BITS = CODED_BYTES * 8
CHECK_LABEL = b"lpm-guard/watermark/v1/check"

_CODEC = reedsolo.RSCodec(PARITY_BYTES, nsize=255)


def check_value(secret: bytes, reference: int) -> bytes:
    message = CHECK_LABEL + reference.to_bytes(REFERENCE_BITS // 8, "big")
    return hmac.new(secret, message, hashlib.sha256).digest()[:CHECK_BYTES]


def encode(secret: bytes, reference: int) -> np.ndarray:
    """The 160 coded bits (0/1, uint8) that carry ``reference`` under ``secret``."""
    data = reference.to_bytes(REFERENCE_BITS // 8, "big") + check_value(secret, reference)
    coded = bytes(_CODEC.encode(data))
    return np.unpackbits(np.frombuffer(coded, dtype=np.uint8))


# Decoding attempts: errors only, then the least reliable bytes declared erased.
ERASURES = (0, 2, 4, 6, 8)


def decode(secret: bytes, soft: np.ndarray) -> int | None:
    """The reference carried by 160 soft bits (positive: 1), or None when every attempt fails.

    Attempt ``i`` erases the ``ERASURES[i]`` bytes whose weakest bit is least certain
    (Reed–Solomon corrects e errors and f erasures while 2e + f <= PARITY_BYTES); the keyed
    check value must match, so each attempt is a 2^-32 chance for a false reference.
    """
    coded = np.packbits((soft > 0).astype(np.uint8)).tobytes()
    weakest = np.abs(soft).reshape(CODED_BYTES, 8).min(axis=1)
    order = [int(i) for i in np.argsort(weakest, kind="stable")]
    for erasures in ERASURES:
        try:
            data = bytes(_CODEC.decode(coded, erase_pos=order[:erasures] or None)[0])
        except reedsolo.ReedSolomonError:
            continue
        reference = int.from_bytes(data[: REFERENCE_BITS // 8], "big")
        if hmac.compare_digest(data[REFERENCE_BITS // 8 :], check_value(secret, reference)):
            return reference
    return None
