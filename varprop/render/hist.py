"""Per-layer histograms as rows of bars in a terminal (see :mod:`varprop.histograms`).

One row per (layer, quantity): ``layer  5 a  ▁▁ ▁▂▃▅▇█▇▅▃▂▁▁ ▁  ±1 sat 12%``.  A bar's
height is its bin's count relative to the row's fullest bin (linear; a blank is an empty
bin, the lowest bar at least one value), so a tanh layer that saturates shows two tall
bars at the ends and one that collapses a single bar in the middle.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from rich.text import Text

from varprop.histograms import Histogram

BARS = " ▁▂▃▄▅▆▇█"
BARS_ASCII = " .:-=+*#%@"
NAMES = {"h": "h", "a": "a", "delta": "δ"}
NAMES_ASCII = {"h": "h", "a": "a", "delta": "d"}
LEGEND = "{full} fullest bin; {d} in RMS({d}) units; out: beyond the bins; sat: flat phi; off: h<=0"


def hist_rows(histograms: Sequence[Histogram], *, width: int, plain: bool) -> Text:
    """The rows of ``histograms`` and a legend, every line at most ``width`` wide.

    ``plain`` draws in ASCII (``BARS_ASCII``) for terminals without Unicode.
    """
    bars, names = (BARS_ASCII, NAMES_ASCII) if plain else (BARS, NAMES)
    digits = max((len(str(h.layer)) for h in histograms), default=1)
    text = Text()
    for h in histograms:
        label = f"layer {h.layer:>{digits}} {names.get(h.quantity, h.quantity)}  "
        text.append(_row(h, label, bars, width, plain) + "\n")
    legend = LEGEND.format(full=bars[-1], d=names["delta"])
    if plain:
        legend = legend.replace("±", "+-")
    text.append("\n".join(textwrap.wrap(legend, max(width, 20))[:3]), style="dim")
    return text


def _row(h: Histogram, label: str, bars: str, width: int, plain: bool) -> str:
    if h.skipped is not None or not h.counts:
        return _fit(f"{label}({h.skipped or 'no values'})", width)
    right = "  " + _notes(h, plain)
    room = width - len(label) - len(right)
    counts = _merge(h.counts, room) if room > 0 else ()
    return _fit(label + _spark(counts, bars) + right, width)


def _notes(h: Histogram, plain: bool) -> str:
    """The bins' range, then what lies outside it and the saturated share of ``a``."""
    lo, hi = h.edges[0], h.edges[-1]
    shift = 0.0 if h.quantity == "delta" or h.scale == 1.0 else h.log10_scale or 0.0
    pm = "+-" if plain else "±"
    if math.isclose(lo, -hi):
        text = f"{pm}{_num(hi, shift)}"
    else:
        text = f"{_num(lo, shift)}..{_num(hi, shift)}"
    if h.quantity == "delta":
        text += " RMS"
    if h.outside:
        text += f" out {_pct(h.outside / h.total)}"
    if h.saturated_frac is not None:
        text += f" sat {_pct(h.saturated_frac)}"
    if h.off_frac is not None:
        text += f" off {_pct(h.off_frac)}"
    return text


def _merge(counts: Sequence[int], room: int) -> tuple[int, ...]:
    """Adjacent bins summed in groups so that at most ``room`` remain."""
    group = math.ceil(len(counts) / room)
    return tuple(sum(counts[i : i + group]) for i in range(0, len(counts), group))


def _spark(counts: Sequence[int], bars: str) -> str:
    top = max(counts, default=0)
    levels = len(bars) - 1
    return "".join(bars[math.ceil(levels * c / top) if c else 0] for c in counts) if top else ""


def _fit(line: str, width: int) -> str:
    return line[: max(width, 1)].rstrip()


def _num(x: float, log10_scale: float = 0.0) -> str:
    """``x * 10**log10_scale`` in 3 digits, also where float64 cannot hold it."""
    if x == 0 or log10_scale == 0:
        return "0" if x == 0 else f"{x:.3g}"
    log = math.log10(abs(x)) + log10_scale
    exp = math.floor(log)
    return f"{'-' if x < 0 else ''}{10 ** (log - exp):.3g}e{exp}"


def _pct(x: float) -> str:
    """A share as a percentage, never rounding a non-zero share to 0% or a partial to 100%."""
    if 0 < x < 0.001:
        return "<0.1%"
    if 0.999 < x < 1:
        return ">99.9%"
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"
