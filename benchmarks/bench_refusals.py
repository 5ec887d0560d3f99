"""python benchmarks/bench_refusals.py

Every class of hostile input from issue 11, each in a fresh ``python -m varprop``
process under ``/usr/bin/time -v`` (``apt-get install -y time`` if missing): exit
status, peak resident memory and wall time of the refusal, and its one ``Error:`` line.
Target: every refusal exits 2 with one line, under 200 MiB peak RSS (the interpreter
with numpy and rich is about 35-60 MiB of that).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIMIT_MIB = 200


def files(d: str) -> dict[str, str]:
    """Hostile files: a long CSV field, .npy headers with shape (True, 3) and (-1, 2)
    (the latter 512 MiB, sparse), a truncated .npy that promises 76 MiB, a CSV input."""
    import numpy as np

    def npy(name: str, shape: str, size: int = 0) -> str:
        header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
            f.truncate(max(size, f.tell()))
        return path

    long_csv = os.path.join(d, "long.csv")
    with open(long_csv, "w") as f:
        f.write("a,b\n" + "1" * 200_000 + ",2\n3,4\n")
    data = os.path.join(d, "in.csv")
    with open(data, "w") as f:
        f.write("a,b\n1,2\n3,5\n0,1\n")
    wide = os.path.join(d, "wide.npy")
    np.save(wide, np.zeros((4, 10**6)))
    return {
        "long": long_csv,
        "true": npy("true.npy", "(True, 3)", 200),
        "neg": npy("neg.npy", "(-1, 2)", 512 * 2**20),
        "truncated": npy("truncated.npy", "(10, 1000000)"),
        "data": data,
        "wide": wide,
    }


def cases(f: dict[str, str], d: str) -> list[list[str]]:
    big = str(10**200)
    small = ["--depth", "2", "--width", "4"]
    return [
        ["simulate", "--width", big],
        ["grid", "--width", big],
        ["compare", "he:relu", "xavier:tanh", "--width", big],
        ["simulate", "--widths", f"8,{big}"],
        ["theory", "--widths", f"8,{10**400}"],
        ["simulate", "--input", "uniform", "--batch", str(10**30)],
        ["simulate", "--input", "uniform", "--batch", "10000000", "--max-memory", "64MiB"],
        ["simulate", "--batch", str(10**30), "--max-memory", "1e300"],
        ["simulate", "--width", "100000", "--depth", "3", "--max-memory", "1000TiB"],
        ["simulate", "--depth", "100000", "--width", "1", "--batch", "1", "--seeds", "40",
         "--max-memory", "64MiB", "--format", "json"],
        ["grid", "--depth", "20000", "--width", "1", "--batch", "1", "--seeds", "4",
         "--max-memory", "200MiB"],
        ["theory", "--depth", "1000000", "--max-memory", "64MiB"],
        ["simulate", "--input", f["wide"], "--width", "8", "--depth", "2", "--max-memory", "16MiB"],
        ["simulate", "--input", f["long"], *small],
        ["simulate", "--input", f["true"], *small],
        ["simulate", "--input", f["neg"], *small],
        ["simulate", "--input", f["truncated"], *small],
        ["simulate", *small, "-o", os.path.join(d, "missing", "x.txt")],
        ["simulate", *small, "-o", os.path.join(d, "x" * 300)],
        ["simulate", *small, "-o", "/dev/null"],
        ["simulate", *small, "--input", f["data"], "-o", f["data"]],
        ["simulate", *small, "-o", d],
    ]  # fmt: skip


def measure(args: list[str]) -> tuple[int, float, float, str]:
    """(exit status, peak RSS MiB, wall seconds, the Error: line) of one fresh run."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "varprop", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, errors="replace")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)[1]) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    seconds = float(wall[2]) * 60 + float(wall[3]) + float(wall[1] or 0) * 3600
    errors = [x for x in r.stderr.splitlines() if x.startswith("Error:")]
    code = int(re.search(r"Exit status: (\d+)", r.stderr)[1])
    return code, rss, seconds, errors[0] if len(errors) == 1 else f"{len(errors)} Error lines"


def main() -> None:
    if not os.path.exists("/usr/bin/time"):
        sys.exit("needs /usr/bin/time (apt-get install -y time)")
    with tempfile.TemporaryDirectory() as d:
        worst = 0.0
        print(f"{'exit':>4} {'MiB':>6} {'s':>5}  command / error")
        for args in cases(files(d), d):
            code, rss, seconds, error = measure(args)
            worst = max(worst, rss)
            shown = " ".join(a if len(a) < 40 else a[:18] + "..." + a[-12:] for a in args)
            flag = "" if code == 2 and rss < LIMIT_MIB else "  <-- MISSED"
            print(f"{code:4d} {rss:6.0f} {seconds:5.1f}  {shown.replace(d, 'TMP')}{flag}")
            print(f"{'':18}{error.replace(d, 'TMP')[:150]}")
        print(f"largest peak RSS of a refusal: {worst:.0f} MiB (target < {LIMIT_MIB} MiB)")


if __name__ == "__main__":
    main()
