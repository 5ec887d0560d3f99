"""python benchmarks/calibrate_blocks.py [SEEDS]

Where the bands of tests/test_blocks.py come from: for every block of the test table,
the mean and per-seed standard deviation over SEEDS seeds (16 by default) of
log10(simulation / theory) of Var at layer L and of grad RMS at layer 1 (width 256,
depth 30, batch 128); then BatchNorm's per-layer gradient factor in a plain He + ReLU
stack against the batch size (width 512, layers 5-35 of 40), beside pi / (pi - 1).
Takes a few minutes.
"""

from __future__ import annotations

import math
import sys

import numpy as np

import varprop

BLOCKS = {
    "residual": {"block": "residual"},
    "residual-auto": {"block": "residual", "branch_scale": "auto"},
    "residual-layer": {"block": "residual", "norm": "layer"},
    "residual-batch": {"block": "residual", "norm": "batch"},
    "residual-rms-tanh": {"block": "residual", "norm": "rms", "act": "tanh"},
    "layer": {"norm": "layer"},
    "rms": {"norm": "rms"},
    "batch": {"norm": "batch"},
    "layer-tanh": {"norm": "layer", "act": "tanh"},
    "batch-gelu": {"norm": "batch", "act": "gelu"},
    "residual-linear": {"block": "residual", "act": "linear", "init": 1.0, "branch_scale": 0.5},
    "lsuv-residual-layer-tanh": {"block": "residual", "norm": "layer", "act": "tanh",
                                 "init": "lsuv", "width": 64},
}  # fmt: skip


def main(seeds: int) -> None:
    print(f"log10(sim / theory) over {seeds} seeds, width 256, depth 30, batch 128")
    print(f"{'block':26s} {'Var(L) mean':>12s} {'sd':>7s} {'grad(1) mean':>13s} {'sd':>7s}")
    for name, options in BLOCKS.items():
        kw = {"init": "he", "act": "relu", "depth": 30, "width": 256, "batch": 128} | options
        fwd, bwd = [], []
        for seed in range(seeds):
            r = varprop.simulate(seed=seed, **kw)
            fwd.append(r.layers[-1].log10_preact_var - r.layers[-1].log10_theory_preact_var)
            bwd.append(r.layers[0].log10_grad_rms - r.layers[0].log10_theory_grad_rms)
        print(f"{name:26s} {np.mean(fwd):+12.4f} {np.std(fwd, ddof=1):7.4f} "
              f"{np.mean(bwd):+13.4f} {np.std(bwd, ddof=1):7.4f}")  # fmt: skip
    lam = math.pi / (math.pi - 1)
    print(f"\nBatchNorm, He + ReLU, width 512: E[delta^2] factor per layer (pi/(pi-1) = {lam:.4f})")
    for batch in (8, 32, 128, 512):
        factors = []
        for seed in range(4):
            r = varprop.simulate(init="he", act="relu", norm="batch", depth=40, width=512,
                                 batch=batch, seed=seed)  # fmt: skip
            g = [s.log10_grad_rms for s in r.layers]
            factors.append(10 ** (2 * (g[5] - g[35]) / 30))
        print(f"  batch {batch:4d}: {np.mean(factors):.4f} ± {np.std(factors, ddof=1):.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
