"""The normal approximation (Polyanskiy, Poor & Verdú 2010) to the best block code's exact
rate for 96 message bits on the watermark's 800 payload chips (binary input, Gaussian noise,
amplitude ``a`` per chip, unit noise): P(miss) ≈ Q((n·C − k + ½·log2 n) / sqrt(n·V)), with
the capacity C and dispersion V of the binary-input channel computed by Monte Carlo. A
yardstick for the simulated codes in bench/watermark_code.py, not a strict bound.

    .venv/bin/python bench/watermark_code_bound.py
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

CHIPS, MESSAGE = 800, 96


def capacity_dispersion(a: float, samples: int = 2_000_000) -> tuple[float, float]:
    y = a + np.random.default_rng(0).normal(size=samples)  # x = +1 sent (symmetric)
    density = 1 - np.logaddexp(0, -2 * a * y) / math.log(2)  # i(x; y) in bits
    return float(density.mean()), float(density.var())


def exact_rate(a: float) -> float:
    c, v = capacity_dispersion(a)
    z = (CHIPS * c - MESSAGE + 0.5 * math.log2(CHIPS)) / math.sqrt(CHIPS * v)
    return float(1 - special.ndtr(-z))


def main() -> None:
    print("| a per chip | capacity (bits/chip) | normal approximation, exact |")
    print("|---|---|---|")
    for a in np.arange(0.40, 0.5251, 0.0125):
        print(f"| {a:.4f} | {capacity_dispersion(a)[0]:.4f} | {exact_rate(a):.3f} |")


if __name__ == "__main__":
    main()
