"""python benchmarks/bench_simulate.py

Speed and memory of the engine, as ratios measured in one run:

(a) forward + backward + statistics at depth 50, width 512, batch 1024, float32, against
    numpy's own matrix multiply doing the same products on the same shapes (3 per layer:
    forward, input gradient, weight gradient), weights already drawn;
(b) drawing the weights: ours (float32, SFC64, one stream per layer, two threads) against
    the naive way (one single-threaded float64 normal per weight), and its share of a
    default run (batch 256);
(c) the whole `varprop simulate --init he --act relu --depth 50` command, interpreter
    start included, and `varprop --help`;
(d) peak memory at depth 1000, width 512, batch 512, float32 (weights and stored
    activations are 1 GiB each) against the 2.5 GiB budget.
Each timing is the best of several repeats.
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import time

import numpy as np

from varprop.activations import get_activation
from varprop.initializers import get_initializer
from varprop.network import (
    DTYPES,
    Network,
    RawStats,
    _backward,
    _forward,
    _Weights,
    memory_estimate,
    seeds_for,
)


def best(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def engine_vs_matmul(depth=50, width=512, batch=1024) -> None:
    net = Network(get_initializer("he"), get_activation("relu"), (width,) * (depth + 1))
    streams = seeds_for(0, depth)
    weights = _Weights(net, streams["weights"])
    for l in range(1, depth + 1):
        weights[l]  # wait for every draw: time the passes alone
    x0 = np.random.default_rng(0).standard_normal((batch, width), dtype=np.float32)

    def engine():
        st = RawStats(*(np.full(depth, np.nan) for _ in range(11)))
        with np.errstate(all="ignore"):
            stored, exps, _ = _forward(net, x0, weights, st, streams["bias"])
            _backward(net, x0, weights, stored, exps, st, streams["probe"], batch)

    ws = [weights[l] for l in range(1, depth + 1)]
    a = np.empty((batch, width), np.float32)
    d = np.empty((batch, width), np.float32)
    g = np.empty((width, width), np.float32)

    def matmuls():
        for w in ws:
            np.matmul(x0, w, out=a)  # forward
        for w in ws:
            np.matmul(x0, w.T, out=d)  # input gradient
            np.matmul(x0.T, a, out=g)  # weight gradient

    # Interleave the two so that a slow spell of the machine hits both alike.
    t_engine, t_matmul = math.inf, math.inf
    for _ in range(9):
        t_engine = min(t_engine, best(engine, 1))
        t_matmul = min(t_matmul, best(matmuls, 1))
    flops = 3 * depth * 2 * batch * width * width
    print(f"(a) depth {depth}, width {width}, batch {batch}, float32, weights drawn beforehand")
    print(f"    numpy matmul, {3 * depth} products: {t_matmul * 1e3:7.1f} ms "
          f"({flops / t_matmul / 1e9:.0f} GFLOP/s)")  # fmt: skip
    print(f"    engine forward+backward+stats:  {t_engine * 1e3:7.1f} ms "
          f"({flops / t_engine / 1e9:.0f} GFLOP/s)")  # fmt: skip
    print(f"    engine throughput / matmul throughput = {t_matmul / t_engine:.2f} (target >= 0.80)")


def weight_draws(depth=50, width=512) -> None:
    net = Network(get_initializer("he"), get_activation("relu"), (width,) * (depth + 1))
    std = math.sqrt(2 / width)

    def naive():
        rng = np.random.default_rng(0)
        for _ in range(depth):
            (rng.standard_normal((width, width)) * std).astype(np.float32)

    def ours():
        w = _Weights(net, seeds_for(0, depth)["weights"])
        for l in range(1, depth + 1):
            w[l]

    t_naive, t_ours = best(naive), best(ours)
    x0 = np.random.default_rng(0).standard_normal((256, width), dtype=np.float32)
    ws = [net.init.sample(width, width, rng=np.random.default_rng(0))] * depth
    out = np.empty((256, width), np.float32)

    def matmuls():
        for w in ws:
            for _ in range(3):
                np.matmul(x0, w, out=out)

    t_mm = best(matmuls)

    import varprop

    t_run = best(lambda: varprop.simulate(init="he", act="relu", depth=depth, width=width), 3)
    print(f"(b) weights for depth {depth}, width {width}:")
    print(f"    {3 * depth} matmuls at batch 256: {t_mm * 1e3:6.1f} ms")
    print(f"    naive (float64, one thread): {t_naive * 1e3:6.1f} ms = "
          f"{t_naive / t_mm:.2f}x those matmuls")  # fmt: skip
    print(f"    ours (float32 SFC64, 2 threads): {t_ours * 1e3:6.1f} ms, "
          f"{t_naive / t_ours:.1f}x faster than naive")  # fmt: skip
    print(f"    whole simulate() at batch 256: {t_run * 1e3:6.1f} ms; drawing alone would be "
          f"{t_ours / t_run:.0%} of it (it overlaps the forward pass)")  # fmt: skip


def command_times() -> None:
    def run(args):
        return subprocess.run([sys.executable, "-m", "varprop", *args], capture_output=True)

    t_sim = best(lambda: run(["simulate", "--init", "he", "--act", "relu", "--depth", "50"]), 3)
    t_help = best(lambda: run(["--help"]), 3)
    t_python = best(lambda: subprocess.run([sys.executable, "-c", "pass"]), 3)
    print("(c) whole commands, interpreter start included:")
    print(f"    varprop simulate --init he --act relu --depth 50: {t_sim * 1e3:6.0f} ms "
          f"(target < 1000 ms)")  # fmt: skip
    print(f"    varprop --help: {t_help * 1e3:6.0f} ms (bare python: {t_python * 1e3:.0f} ms)")


PEAK_CODE = """
import resource, varprop
varprop.simulate(init="he", act="relu", depth=1000, width=512, batch=512)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory() -> None:
    out = subprocess.run([sys.executable, "-c", PEAK_CODE], capture_output=True, text=True)
    base = subprocess.run(
        [sys.executable, "-c", "import resource, numpy, varprop.api; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        capture_output=True, text=True,
    )  # fmt: skip
    peak = int(out.stdout.split()[-1]) * 1024  # ru_maxrss is in KiB on Linux
    idle = int(base.stdout.split()[-1]) * 1024
    parts = memory_estimate((512,) * 1001, 512, "float32")
    print("(d) depth 1000, width 512, batch 512, float32:")
    print("    estimate: " + ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in parts.items()))
    print(f"    peak RSS {peak / 2**30:.2f} GiB (interpreter and imports {idle / 2**30:.2f} GiB); "
          f"budget 2.5 GiB")  # fmt: skip


if __name__ == "__main__":
    print(f"numpy {np.__version__}, dtypes {list(DTYPES)}, "
          f"max RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")  # fmt: skip
    engine_vs_matmul()
    weight_draws()
    command_times()
    peak_memory()
