"""The keyed tile: where the synchronisation and payload chips sit, and their pixel pattern.

One tile is ``TILE``×``TILE`` pixels made of ``GRID``×``GRID`` chips of ``CHIP``×``CHIP`` pixels.
A keyed permutation gives ``SYNC_CHIPS`` chips to the synchronisation pattern (keyed ±1 signs)
and the rest, ``PAYLOAD_CHIPS``, to the CODED_BITS coded payload bits in turn (payload chip
``k`` carries coded bit ``k mod CODED_BITS``, so each bit has one or two chips; bit ``b`` puts
``±(2b-1)`` times the chip's keyed sign). Each chip is a plain CHIP×CHIP block of pixels,
unsmoothed, on a grid anchored at the frame's corner (so on H.264's and JPEG's transform-block
grid): the host picture, not the attacks, is the detector's main noise, and it is weakest at
the chips' own scale; larger or smoothed chips measured worse (docs/watermark.md). The
detector's matched filter is the sum over each block.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np

from lpm_guard.provenance._wm_payload import CODED_BITS

TILE = 128
CHIP = 4
GRID = TILE // CHIP
SYNC_CHIPS = 224
PAYLOAD_CHIPS = GRID * GRID - SYNC_CHIPS
_LABEL = b"lpm-guard/watermark/v2/layout"
assert CODED_BITS <= PAYLOAD_CHIPS <= 2 * CODED_BITS


@dataclass(frozen=True)
class Layout:
    """The keyed chip layout for one secret (flat chip indices into the GRID×GRID grid)."""

    sync_chips: np.ndarray  # (SYNC_CHIPS,) chip indices
    sync_signs: np.ndarray  # (SYNC_CHIPS,) ±1
    bit_chips: np.ndarray  # (PAYLOAD_CHIPS,) chip indices
    bit_signs: np.ndarray  # (PAYLOAD_CHIPS,) ±1
    bit_of_chip: np.ndarray  # (PAYLOAD_CHIPS,) the coded bit each payload chip carries

    @classmethod
    def from_secret(cls, secret: bytes) -> Layout:
        seed = hmac.new(secret, _LABEL, hashlib.sha256).digest()
        rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
        order = rng.permutation(GRID * GRID)
        signs = rng.integers(0, 2, GRID * GRID).astype(np.float32) * 2 - 1
        return cls(
            sync_chips=order[:SYNC_CHIPS],
            sync_signs=signs[:SYNC_CHIPS],
            bit_chips=order[SYNC_CHIPS:],
            bit_signs=signs[SYNC_CHIPS:],
            bit_of_chip=np.arange(PAYLOAD_CHIPS) % CODED_BITS,
        )

    def chips(self, bits: np.ndarray | None) -> np.ndarray:
        """The GRID×GRID chip values: sync signs, and payload chips for ``bits`` (or 0)."""
        grid = np.zeros(GRID * GRID, np.float32)
        grid[self.sync_chips] = self.sync_signs
        if bits is not None:
            polarity = bits.astype(np.float32) * 2 - 1
            grid[self.bit_chips] = self.bit_signs * polarity[self.bit_of_chip]
        return grid.reshape(GRID, GRID)

    def soft_bits(self, chip_values: np.ndarray) -> np.ndarray:
        """Per coded bit, the summed evidence for 1 (positive) or 0 (negative); the last axes
        of ``chip_values`` are the GRID×GRID chips (leading axes are kept)."""
        lead = chip_values.shape[:-2]
        flat = chip_values.reshape(*lead, GRID * GRID)
        evidence = flat[..., self.bit_chips] * self.bit_signs
        # Payload chip k carries bit k mod CODED_BITS: the second round adds onto the first.
        soft: np.ndarray = evidence[..., :CODED_BITS].astype(np.float64)
        soft[..., : PAYLOAD_CHIPS - CODED_BITS] += evidence[..., CODED_BITS:]
        return soft


def render(chips: np.ndarray) -> np.ndarray:
    """The TILE×TILE pixel pattern of a chip grid: each chip a CHIP×CHIP block."""
    return np.kron(chips, np.ones((CHIP, CHIP), np.float32)).astype(np.float32)


def chip_sums(tile: np.ndarray) -> np.ndarray:
    """The adjoint of ``render`` (its matched filter): the sum over each chip's block."""
    return np.asarray(tile.reshape(GRID, CHIP, GRID, CHIP).sum(axis=(1, 3)))
