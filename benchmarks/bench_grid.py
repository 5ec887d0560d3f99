"""python benchmarks/bench_grid.py [--repeat 3] [--depth 50] [--width 512] [--batch 256]

Wall time of ``varprop grid --depth 50`` (5 initializers x 5 activations at the default
sizes) against 25 separate ``varprop.simulate`` calls of the same pairs, in one process.

The grid runs the pairs of one initializer one after another and draws their weights
once (``network.WeightCache``: the same seed gives the same matrices whatever the
activation; xavier and lecun even share them on square layers), so it skips 20 of the
25 weight draws.  Both sides give identical numbers, which this script checks.

Each side is timed ``--repeat`` times, alternating, and the best time is reported
(the machine is shared: the best run is the least disturbed one).  The grid is timed
through the real command (``cli grid``, table output rendered to a string) and so
includes the aggregation and the heat map.  The load average and the process's CPU time
are printed too: on a busy 2-core machine the wall times grow with the load.  The last
line times the runs' matrix products alone (per layer: forward, backward and the
weight-gradient norm in its cheaper form, with the engine's BLAS threads), the floor
any engine built on numpy's matmul has at these sizes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from click.testing import CliRunner

# This checkout's varprop, not whichever one is installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import varprop
from varprop.cli import cli

INITS = ("he", "xavier", "lecun", "normal", "torch-default")
ACTS = ("relu", "tanh", "sigmoid", "selu", "gelu")


def time_grid(depth: int, width: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the grid command."""
    args = ["grid", "--depth", str(depth), "--width", str(width), "--batch", str(batch)]
    start, cpu = time.perf_counter(), time.process_time()
    result = CliRunner().invoke(cli, args)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return elapsed


def time_separate(depth: int, width: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds of 25 separate simulate calls."""
    start, cpu = time.perf_counter(), time.process_time()
    for i in INITS:
        for a in ACTS:
            varprop.simulate(init=i, act=a, depth=depth, width=width, batch=batch)
    return time.perf_counter() - start, time.process_time() - cpu


def time_matmuls(depth: int, width: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) of the 25 runs' matrix products alone, with the engine's BLAS threads:
    per layer (B, n) @ (n, n) forward and backward, and the weight-gradient norm in the
    cheaper form, (n, B) @ (B, n) or two (B, n) @ (n, B) Gram products (see
    network.use_gram)."""
    import numpy as np

    from varprop.network import use_gram
    from varprop.threads import engine_threads

    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, width), dtype=np.float32)
    w = rng.standard_normal((width, width), dtype=np.float32)
    gram = use_gram(batch, width, width)
    with engine_threads():
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(depth):
            a @ w
            a @ w
            if gram:
                a @ a.T
                a @ a.T
            else:
                a.T @ a
        return 25 * (time.perf_counter() - start), 25 * (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    a = parser.parse_args()

    from varprop.sweep import grid_pairs, run_pairs

    # Warm up imports and BLAS, and check that both ways give the same numbers.
    shared = run_pairs(grid_pairs(INITS, ACTS), depth=4, width=a.width, batch=a.batch)
    alone = [varprop.simulate(init=i, act=x, depth=4, width=a.width, batch=a.batch)
             for i in INITS for x in ACTS]  # fmt: skip
    assert [g[0].to_dict() for g in shared] == [r.to_dict() for r in alone]

    grid_times, separate_times, floor_times = [], [], []
    load_before = _load()
    for _ in range(a.repeat):
        grid_times.append(time_grid(a.depth, a.width, a.batch))
        separate_times.append(time_separate(a.depth, a.width, a.batch))
        floor_times.append(time_matmuls(a.depth, a.width, a.batch))
    print(
        f"5x5 grid, depth {a.depth}, width {a.width}, batch {a.batch}, {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} before, {_load():.2f} after"
    )
    print("                                 best wall   its CPU   (every run's wall)")
    for name, times in (("varprop grid (one command)", grid_times),
                        ("25 separate simulate() calls", separate_times),
                        ("their matmuls alone (floor)", floor_times)):  # fmt: skip
        wall, cpu = min(times)
        runs = ", ".join(f"{t[0]:.2f}" for t in times)
        print(f"  {name:29s} {wall:7.2f} s {cpu:7.2f} s   ({runs})")
    ratio = min(separate_times)[0] / min(grid_times)[0]
    print(f"  separate / grid (best wall):  {ratio:6.2f}x")


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


if __name__ == "__main__":
    main()
