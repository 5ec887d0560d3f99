"""python benchmarks/bench_extremes.py [--blas-threads N] [--quick]

Extreme runs, each in a fresh ``python -m varprop simulate`` process: wall time, the
process's peak resident memory (from wait4), and varprop's own estimate of the memory
the run needs (``network.memory_estimate``, what ``--max-memory`` is checked against).
The estimate leaves out the interpreter and its imports, so the table also shows peak
RSS minus that baseline (an idle ``python -c "import varprop.api, varprop.render"``).

``--blas-threads N`` sets OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for the runs (default:
whatever the environment says).  ``--quick`` skips the slowest cases.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from varprop.api import DEFAULT_BATCH
from varprop.network import memory_estimate

# (name, simulate options, depth, width, batch, slow)
CASES = [
    ("deep: he relu, depth 10000, width 64", "--init he --act relu", 10000, 64, 256, False),
    ("wide: he relu, width 4096, depth 10", "--init he --act relu", 10, 4096, 256, False),
    ("wide: he gelu, width 4096, depth 10", "--init he --act gelu", 10, 4096, 256, False),
    ("wide, scaled: normal gelu, w 4096, d 10", "--init normal --act gelu", 10, 4096, 256, False),
    ("issue: xavier relu, depth 5000, width 64", "--init xavier --act relu", 5000, 64, 256, False),
    ("issue: normal relu, depth 500, width 512", "--init normal --act relu", 500, 512, 256, True),
    ("beyond float64: he gelu, depth 2000, w 128", "--init he --act gelu", 2000, 128, 256, False),
    ("estimate: he relu, depth 1000, w 512, B 512", "--init he --act relu", 1000, 512, 512, True),
    ("estimate: orthogonal, depth 10, width 2048", "--init orthogonal", 10, 2048, 256, False),
    ("estimate: width 1, depth 100000, batch 1", "--init he --act relu", 100000, 1, 1, True),
]  # fmt: skip

BASELINE = "import varprop.api, varprop.render, varprop.cli"


def measure(args: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, exit status) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode() if child.stderr else ""
    if child.returncode:
        print(f"    failed ({child.returncode}): {err.strip()}", file=sys.stderr)
    return wall, usage.ru_maxrss * 1024, child.returncode  # ru_maxrss: KiB on Linux


def mib(n: float) -> str:
    return f"{n / 2**20:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    env = dict(os.environ)
    if opts.blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(opts.blas_threads)
    threads = env.get("OPENBLAS_NUM_THREADS", "default")
    _, base, _ = measure([sys.executable, "-c", BASELINE], env)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, BLAS threads: {threads}")
    print(f"baseline RSS (interpreter + imports): {mib(base).strip()} MiB\n")
    print(f"{'case':45} {'time s':>7} {'peak MiB':>9} {'-base':>8} {'estimate':>9} {'ratio':>6}")
    for name, options, depth, width, batch, slow in CASES:
        if slow and opts.quick:
            continue
        args = [sys.executable, "-m", "varprop", "simulate", *options.split()]
        args += ["--depth", str(depth), "--width", str(width), "--format", "json"]
        if batch != DEFAULT_BATCH:
            args += ["--batch", str(batch)]
        wall, peak, status = measure(args, env)
        dist = "orthogonal" if "orthogonal" in options else "normal"
        homo = "--act relu" in options or "--act" not in options
        widths = (width,) * (depth + 1)
        parts = memory_estimate(widths, batch, "float32", distribution=dist, homogeneous=homo)
        est = sum(parts.values())
        ratio = (peak - base) / est
        flag = "" if status == 0 else f"  exit {status}"
        print(f"{name:45} {wall:7.1f} {mib(peak)} {mib(peak - base)} {mib(est)} {ratio:6.2f}{flag}")
    print("\nratio = (peak RSS - baseline) / estimate; above 1 the estimate is short.")


if __name__ == "__main__":
    main()
