"""How a figure is written in a table, and which layers a table shows.

Tables round; JSON and CSV never do.  A figure that cannot be stated (it left float
range, or does not exist) is ``-``; one that is exactly zero, or rounds to zero at the
shown precision, is ``0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# A table shows at most about this many layers unless --every says otherwise.
MAX_ROWS = 20


def sci(log10: float | None, digits: int = 3) -> str:
    """``10**log10`` to ``digits`` significant digits, stated however far outside float range."""
    if log10 is None or not math.isfinite(log10):
        return "-"
    exponent = math.floor(log10)
    if abs(exponent) >= 100:  # keep 10^-1583 as narrow as 10^-15: one digit less
        digits = min(digits, 2)
    mantissa = 10 ** (log10 - exponent)
    if round(mantissa, digits - 1) >= 10:  # 9.999 -> 10.0: carry into the exponent
        mantissa, exponent = mantissa / 10, exponent + 1
    if -2 <= exponent < 4:
        return f"{mantissa * 10.0**exponent:.{digits}g}"
    return f"{mantissa:.{digits - 1}f}e{exponent:+d}"


def stated(log10: float | None, plain: float | None) -> str:
    """A figure from its log10 (any size), or "0" where it is exactly zero."""
    return "0" if log10 is None and plain == 0.0 else sci(log10)


def num(x: float | None, digits: int = 3) -> str:
    """A plain value, rounded for a table (scientific when far from 1)."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    return sci(math.log10(abs(x)), digits) if x > 0 else "-" + sci(math.log10(-x), digits)


def fixed(x: float | None, decimals: int) -> str:
    """``x`` with ``decimals`` decimals; what rounds to zero prints ``0`` (never ``-0.0``)."""
    if x is None or not math.isfinite(x):
        return "-"
    text = f"{x:.{decimals}f}"
    return "0" if float(text) == 0 else text


def percent(share: float | None) -> str:
    """A share as a percentage to one decimal: ``43.1%``; below 0.05 % it is ``0%``."""
    return "-" if share is None else fixed(100 * share, 1) + "%"


def factor(log10: float | None, digits: int = 3) -> str:
    """A per-layer factor, ``x0.707``."""
    return "-" if log10 is None else "x" + sci(log10, digits)


def log10_of(x: float | None) -> float | None:
    return math.log10(x) if x is not None and x > 0 else None


def rows_to_show(n: int, every: int | None, events: Iterable[int] = ()) -> list[int]:
    """0-based layers a table shows: the first and the last always, and the layers of
    ``events`` (where something happens: an overflow, saturation passing half);
    in between every ``every``-th layer, or without ``every`` at most about MAX_ROWS
    evenly spaced ones."""
    if every is not None:
        keep = set(range(0, n, max(every, 1)))
    elif n <= MAX_ROWS:
        keep = set(range(n))
    else:
        keep = {round(k * (n - 1) / (MAX_ROWS - 1)) for k in range(MAX_ROWS)}
    keep |= {0, n - 1} | {i for i in events if 0 <= i < n}
    return sorted(i for i in keep if 0 <= i < n)
