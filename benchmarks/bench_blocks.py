"""python benchmarks/bench_blocks.py

The cost of each block and norm, as ratios measured in one run: forward + backward +
statistics of a depth-30, width-512, batch-512 float32 He stack (weights already
drawn), for every block/norm combination (and LSUV on a plain stack), against

(a) the plain stack without a norm, same shapes, same activation (relu and tanh), and
(b) numpy's own matrix multiplies on the same shapes: 3 per layer (forward, input
    gradient, weight gradient) plus, for a residual block, the stream's add in both
    passes.

Runs are interleaved and each figure is the best of 5, so a slow spell of a shared
machine hits every configuration alike; the figures are CPU seconds of this process
(all its threads), which other processes' load disturbs far less than wall time.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from varprop import blocks
from varprop.activations import get_activation
from varprop.initializers import get_initializer
from varprop.network import Network, RawStats, _backward, _forward, _Weights, seeds_for

DEPTH, WIDTH, BATCH = 30, 512, 512
CONFIGS = [
    ("plain", "none", False),
    ("plain", "layer", False),
    ("plain", "rms", False),
    ("plain", "batch", False),
    ("residual", "none", False),
    ("residual", "layer", False),
    ("residual", "batch", False),
    ("plain", "none", True),  # LSUV factors (no QR here: the same drawn weights)
]


def engine_fn(net, x0, weights, streams):
    def go():
        st = RawStats(*(np.full(DEPTH, np.nan) for _ in range(11)))
        st.lsuv = [] if net.init.name == "lsuv" else None
        with np.errstate(all="ignore"):
            if net.plain:
                stored, exps, _ = _forward(net, x0, weights, st, streams["bias"])
                _backward(net, x0, weights, stored, exps, st, streams["probe"], BATCH)
            else:
                kept, _ = blocks.forward(net, x0, weights, st, streams["bias"], lsuv=st.lsuv)
                blocks.backward(net, x0, weights, kept, st, streams["probe"], BATCH,
                                lsuv=st.lsuv)  # fmt: skip

    return go


def matmul_fn(ws, x0, residual: bool):
    a = np.empty((BATCH, WIDTH), np.float32)
    d = np.empty((BATCH, WIDTH), np.float32)
    g = np.empty((WIDTH, WIDTH), np.float32)
    x = x0.copy()

    def go():
        for w in ws:
            np.matmul(x0, w, out=a)
            if residual:
                x.__iadd__(a)
        for w in ws:
            np.matmul(x0, w.T, out=d)
            np.matmul(x0.T, a, out=g)
            if residual:
                x.__iadd__(d)

    return go


def main() -> None:
    he = get_initializer("he")
    streams = seeds_for(0, DEPTH)
    x0 = np.random.default_rng(0).standard_normal((BATCH, WIDTH), dtype=np.float32)
    rows = {}
    for act in ("relu", "tanh"):
        base = Network(he, get_activation(act), (WIDTH,) * (DEPTH + 1))
        weights = _Weights(base, streams["weights"])
        ws = [weights[l] for l in range(1, DEPTH + 1)]  # wait for every draw
        fns = {}
        for block, norm, lsuv in CONFIGS:
            init = replace(he, name="lsuv") if lsuv else he  # LSUV: rescaled on the batch
            net = replace(base, init=init, block=block, norm=norm)
            fns[(block, norm, lsuv)] = engine_fn(net, x0, weights, streams)
        mm = {r: matmul_fn(ws, x0, r) for r in (False, True)}
        best = dict.fromkeys([*fns, "mm", "mm-res"], math.inf)
        for _ in range(5):
            for key, fn in fns.items():
                t = time.process_time()
                fn()
                best[key] = min(best[key], time.process_time() - t)
            for key, residual in (("mm", False), ("mm-res", True)):
                t = time.process_time()
                mm[residual]()
                best[key] = min(best[key], time.process_time() - t)
        rows[act] = best
    print(f"depth {DEPTH}, width {WIDTH}, batch {BATCH}, float32, best of 5 (CPU seconds, ratios)")
    print(f"{'act':5s} {'block':9s} {'norm':6s} {'lsuv':5s} {'cpu s':>7s} {'/ plain':>8s} "
          f"{'/ numpy matmuls':>16s}")  # fmt: skip
    for act, best in rows.items():
        plain = best[("plain", "none", False)]
        for block, norm, lsuv in CONFIGS:
            t = best[(block, norm, lsuv)]
            mm = best["mm-res" if block == "residual" else "mm"]
            print(f"{act:5s} {block:9s} {norm:6s} {'yes' if lsuv else '-':5s} {t:7.3f} "
                  f"{t / plain:8.2f} {t / mm:16.2f}")  # fmt: skip
        print(f"{act:5s} numpy matmuls (plain shapes) {best['mm']:.3f} s, with the residual "
              f"adds {best['mm-res']:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
