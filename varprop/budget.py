"""Memory budgets: what a command will allocate, checked before it allocates anything.

Every estimate is an exact Python integer (so a width of 10**200 is a number to compare,
not an OverflowError), checked against the limit: ``--max-memory``, or 90% of what the
OS says is available, and never more than the address space, which no ``--max-memory``
can raise.  A refusal names the option that dominates the estimate, the one to lower.

Pure: raises :class:`VarpropError`, never prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from varprop.errors import VarpropError

# x86-64 and arm64 user space: 2**47 bytes.  No array beyond it can be allocated, and
# every count whose product leaves int64 (numpy's index type) lies far beyond it.
ADDRESS_SPACE = 2**47
# What one finished run holds per layer once it is kept for aggregation or output over
# several seeds and pairs: its LayerStats, their dict and the rendered text (measured:
# 4.8 KiB per layer and run for JSON, simulate --depth 20000 --width 1 --seeds 10).
RESULT_BYTES = 5 * 1024
# theory: the per-layer arrays, records and rendered output (measured: 3.2 KiB per layer
# at depth 100,000, JSON).
THEORY_LAYER_BYTES = 4 * 1024

# Which options each part of an estimate grows with (an option listed twice grows it
# quadratically); the option to lower is the one the largest part grows fastest with.
GROWS_WITH: dict[str, tuple[str, ...]] = {
    "weights": ("--width", "--width", "--depth"),
    "draws": ("--width", "--width"),
    "activations": ("--batch", "--width", "--depth"),
    "work": ("--batch", "--width"),
    "phi": ("--batch", "--width"),
    "records": ("--depth",),
    # One run's records already grow with depth: what results add is the number of runs.
    "results": ("--seeds",),
    "input": ("--input",),
    "layers": ("--depth",),
}
DEFAULTS = {"--width": 512, "--depth": 50, "--batch": 256, "--seeds": 1, "--input": 1}


def limit(max_memory: int | None) -> int:
    """The bytes a command may use: ``max_memory``, else 90% of available memory."""
    if max_memory is None:
        from varprop.network import available_memory

        return min(available_memory() * 9 // 10, ADDRESS_SPACE)
    return min(int(max_memory), ADDRESS_SPACE)


def check(parts: dict[str, int], max_memory: int | None, values: dict[str, int], hint: str) -> int:
    """Refuse when the parts add up to more than the limit; return the total.

    ``values`` are the options' values (for the tie-break: the one furthest above its
    default), ``hint`` what the user can lower (``"--depth, --width or --batch"``).
    """
    need = sum(parts.values())
    cap = limit(max_memory)
    if need <= cap:
        return need
    detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items() if v)
    if cap == ADDRESS_SPACE and (max_memory is None or max_memory >= ADDRESS_SPACE):
        where = f"no machine can address more than {size_text(ADDRESS_SPACE)}"
        fix = f"lower {hint}"
    else:
        where = f"the limit is {size_text(cap)}"
        fix = f"lower {hint}, or raise --max-memory"
    raise VarpropError(
        f"this run needs about {size_text(need)} ({detail}) but {where}; {fix}",
        param=dominant(parts, values),
    )


def dominant(parts: dict[str, int], values: dict[str, int]) -> str:
    """The option to lower: the one the largest part grows fastest with."""
    part = max(parts, key=lambda k: parts[k])
    options = [o for o in GROWS_WITH.get(part, ()) if o in values] or ["--depth"]

    def rank(option: str) -> tuple[int, float]:
        # log of value / default: exact in spirit for integers beyond float64
        above = math.log(max(values[option], 1)) - math.log(DEFAULTS.get(option, 1))
        return options.count(option), above

    return max(options, key=rank)


def size_text(n: int) -> str:
    """A byte count for people, exact for integers of any size: ``3.1 MiB``, ``1e+190 TiB``."""
    n = int(n)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            if unit == "TiB" and n // size >= 10**6:
                return f"{_scientific(n // size)} TiB"
            x = n / size
            if unit == "GiB":
                return f"{x:.2f} GiB"
            if x < 1000:
                return f"{x:.3g} {unit}"
            return f"{x:,.0f} TiB"
    return f"{n} B"


def _scientific(n: int) -> str:
    """``n`` (an int, possibly beyond float64) as ``1.23e+456``."""
    digits = len(str(n)) - 1 if n < 10**4000 else int(math.log10(n))
    lead = int(str(n)[:4]) / 1000 if n < 10**4000 else 10 ** (math.log10(n) - digits)
    return f"{lead:.2f}e+{digits:02d}"


# ---------------------------------------------------------------- the commands


def simulate_parts(
    widths: Sequence[int],
    batch: int,
    dtype: str,
    *,
    distribution: str = "normal",
    homogeneous: bool = True,
    runs: int = 1,
    input_bytes: int = 0,
    block: str = "plain",
    norm: str = "none",
) -> dict[str, int]:
    """One run's memory (network.memory_estimate), plus the data it reads and the
    results of ``runs`` runs kept for the output (seeds times pairs)."""
    from varprop.network import memory_estimate

    parts = memory_estimate(
        tuple(widths), batch, dtype, distribution=distribution, homogeneous=homogeneous,
        block=block, norm=norm,
    )  # fmt: skip
    if input_bytes:
        parts["input"] = input_bytes
    if runs > 1:
        parts["results"] = runs * (len(widths) - 1) * RESULT_BYTES
    return parts


def check_simulate(
    widths: Sequence[int],
    batch: int,
    dtype: str,
    max_memory: int | None,
    *,
    distribution: str = "normal",
    homogeneous: bool = True,
    runs: int = 1,
    seeds: int = 1,
    input_bytes: int = 0,
    widths_given: bool = False,
    block: str = "plain",
    norm: str = "none",
) -> int:
    """Refuse a simulate/compare/grid run (over ``runs`` runs) that would not fit."""
    parts = simulate_parts(
        widths,
        batch,
        dtype,
        distribution=distribution,
        homogeneous=homogeneous,
        runs=runs,
        input_bytes=input_bytes,
        block=block,
        norm=norm,
    )
    values = {
        "--width": max(widths),
        "--depth": len(widths) - 1,
        "--batch": batch,
        "--seeds": seeds,
        "--input": 1,
    }
    if seeds <= 1:
        del values["--seeds"]
    if not input_bytes:
        del values["--input"]
    try:
        return check(parts, max_memory, values, _hint(values))
    except VarpropError as e:
        if e.param == "--width" and widths_given:
            e.param = "--widths"
        raise


def _hint(values: dict[str, int]) -> str:
    names = [o for o in ("--depth", "--width", "--batch", "--seeds") if o in values]
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_theory(depth: int, max_memory: int | None) -> int:
    """Refuse a theory run too deep to hold: its per-layer arrays and records."""
    parts = {"layers": int(depth) * THEORY_LAYER_BYTES}
    return check(parts, max_memory, {"--depth": int(depth)}, "--depth")
