"""python benchmarks/bench_load.py [--quick]

Threads on a quiet and on a busy machine: simulate (he, orthogonal), compare and grid,
timed in this process with varprop's default threads (varprop/threads.py) against

- quiet: the best of {one BLAS thread, BLAS's own default of a thread per core} (with
  the default drawing threads); target: default within 10% of that best;
- busy: the single-thread time (one BLAS thread, weights drawn on the main thread),
  both while this script runs its own CPU-bound competitor, one busy-looping process per
  core, stopped by the script itself (and by its own deadline); target: default within
  1.5x of single-thread.

It also times the old set-up (two drawing threads, BLAS's default) for comparison.  Each
figure is the best of a few repeats; note what else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import varprop
from varprop import threads
from varprop.sweep import Pair, grid_pairs, run_pairs

SETUPS = {
    "default": {},
    "blas-1": {"blas": 1},
    "blas-default": {"blas": 0},
    "single": {"blas": 1, "draw": 0},
    "old": {"blas": 0, "draw": 2},
}
QUIET = ("default", "blas-1", "blas-default", "old")
BUSY = ("default", "single", "old")
PAIRS = [Pair("he", "relu"), Pair("xavier", "relu"), Pair("xavier", "tanh"), Pair("he", "tanh")]
INITS = ("he", "xavier", "lecun", "normal", "torch-default")
ACTS = ("relu", "tanh", "sigmoid", "selu", "gelu")


def cases(quick: bool) -> dict[str, callable]:
    depth = 20 if quick else 50
    return {
        "simulate he:relu": lambda: varprop.simulate(init="he", act="relu", depth=depth),
        "simulate orthogonal:tanh": lambda: varprop.simulate(
            init="orthogonal", act="tanh", depth=depth
        ),
        "compare 4 pairs": lambda: run_pairs(PAIRS, depth=depth),
        "grid 5x5": lambda: run_pairs(grid_pairs(INITS, ACTS), depth=depth),
    }


def timed(fn, setup: dict, repeats: int) -> float:
    threads.configure(**setup)
    try:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        threads.configure()


class Competitor:
    """One busy-looping process per core, for at most ``seconds``; stopped on exit."""

    def __init__(self, seconds: float) -> None:
        # Each loop also ends when this script does (its parent changes), so a killed
        # benchmark leaves nothing spinning.
        loop = (
            f"import os, time\nparent, end = {os.getpid()}, time.time() + {seconds}\n"
            "while time.time() < end and os.getppid() == parent:\n"
            "    for _ in range(100000): pass\n"
        )
        self.procs = [
            subprocess.Popen([sys.executable, "-c", loop]) for _ in range(threads.cores())
        ]
        time.sleep(0.2)  # let them start spinning

    def __enter__(self) -> Competitor:
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=10)


def _stop(signum, frame):
    raise SystemExit(128 + signum)  # unwind: the competitors are stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depth 20 instead of 50")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"cores {threads.cores()}, load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'case':26} {'setup':13} {'quiet s':>8} {'busy s':>8}")
    summary = []
    for name, fn in cases(args.quick).items():
        if args.only not in name:
            continue
        repeats = 1 if name.startswith("grid") else args.repeats
        fn()  # warm up: imports, caches
        quiet = {s: timed(fn, SETUPS[s], repeats) for s in QUIET}
        with Competitor(seconds=300):
            busy = {s: timed(fn, SETUPS[s], repeats) for s in BUSY}
        for s in SETUPS:
            q = f"{quiet[s]:8.2f}" if s in quiet else " " * 8
            b = f"{busy[s]:8.2f}" if s in busy else " " * 8
            print(f"{name:26} {s:13} {q} {b}", flush=True)
        best = min(quiet["blas-1"], quiet["blas-default"])
        summary.append((name, quiet["default"] / best, busy["default"] / busy["single"]))
    print()
    print(f"{'case':26} {'quiet: default/best':>20} {'busy: default/single':>21}")
    for name, q, b in summary:
        print(f"{name:26} {q:20.2f} {b:21.2f}")
    print("targets: quiet <= 1.10, busy <= 1.50")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
