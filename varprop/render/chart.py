"""Terminal charts: log10 Var(h) and log10 RMS(δ) against depth, one row per pair.

Block characters (or, in ASCII, the digits 1-8) stand for levels on a shared scale of
round decades; a layer whose value cannot be stated is a dot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group
from rich.text import Text

from varprop.render.layout import Adaptive, Screen
from varprop.render.numbers import sci
from varprop.render.terms import drift_style

BLOCKS = "▁▂▃▄▅▆▇█"
DIGITS = "12345678"  # the same eight levels in ASCII
NICE_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0)
LABEL_MAX = 26


def depth_chart(aggs, labels: Sequence[str]) -> Adaptive:
    """log10 Var(h) and log10 RMS(δ) against depth, one row of blocks per pair."""
    var_rows = [[s.log10_preact_var.mean for s in a.layers] for a in aggs]
    grad_rows = [[s.log10_grad_rms.mean for s in a.layers] for a in aggs]

    def build(screen: Screen):
        return Group(
            chart("log10 Var(h) against layer", labels, var_rows, screen, origin=0),
            Text(""),
            chart("log10 RMS(δ) against layer", labels, grad_rows, screen, origin=-1),
        )

    return Adaptive(build)


def chart(
    title: str,
    labels: Sequence[str],
    rows: Sequence[Sequence[float | None]],
    screen: Screen,
    *,
    origin: int,
) -> Text:
    """One block of sparklines sharing a scale; ``origin`` is where colour drift counts from."""
    glyphs = BLOCKS if screen.unicode else DIGITS
    gap = screen.glyph("·", ".")
    depth = max(len(r) for r in rows)
    label_w = min(max(len(s) for s in labels), LABEL_MAX)
    tail_w = 8  # " 1.2e-15"
    cols = max(screen.width - label_w - 1 - tail_w, 10)
    picks = columns(depth, cols)
    values = [x for r in rows for x in r if x is not None]
    lo, step, levels = scale(values)

    out = Text()
    out.append(title + "\n", style="bold")
    for label, row in zip(labels, rows, strict=True):
        name = label if len(label) <= label_w else label[: label_w - 1] + "~"
        out.append(name.ljust(label_w) + " ")
        ref = row[origin] if row else None
        for j in picks:
            x = row[j] if j < len(row) else None
            if x is None or lo is None:
                out.append(gap, style="dim")
                continue
            level = min(int((x - lo) / step), levels - 1)
            out.append(level_glyph(level, levels, glyphs), style=drift_style(x, ref, screen))
        last = next((x for x in reversed(row) if x is not None), None)
        out.append(" " + sci(last, 2).rjust(tail_w - 1) + "\n")
    axis_start = " " * (label_w + 1) + "layer 1"
    end = str(depth)
    pad = max(len(picks) - len("layer 1") - len(end), 1)
    out.append(axis_start + " " * pad + end + "\n", style="dim")
    out.append(legend(lo, step, levels, glyphs), style="dim")
    if any(x is None for r in rows for x in r):
        out.append(f"  {gap} left float range", style="dim")
    return out


def columns(depth: int, cols: int) -> list[int]:
    """Layer index (0-based) shown in each chart column: stretched or sampled to fit."""
    if depth <= cols:
        k = max(1, min(cols // depth, 3))
        return [j for j in range(depth) for _ in range(k)]
    return [round(j * (depth - 1) / (cols - 1)) for j in range(cols)]


def scale(values: Sequence[float]) -> tuple[float | None, float, int]:
    """(lower edge, decades per level, number of levels <= 8) on round numbers."""
    if not values:
        return None, 1.0, 1
    lo, hi = min(values), max(values)
    for decade in range(-1, 6):
        for base in NICE_STEPS[4:] if decade >= 0 else NICE_STEPS[:4]:
            step = base * 10.0**decade if decade >= 0 else base
            start = math.floor(lo / step) * step
            levels = math.floor((hi - start) / step) + 1
            if levels <= len(BLOCKS):
                return start, step, levels
    step = 10.0 ** math.ceil(math.log10(max(hi - lo, 1.0)))
    return math.floor(lo / step) * step, step, 2


def level_glyph(level: int, levels: int, glyphs: str) -> str:
    """Blocks spread over the full height; digits count up one by one."""
    if glyphs is DIGITS:
        return glyphs[level]
    return glyphs[round(level * (len(glyphs) - 1) / max(levels - 1, 1))]


def legend(lo: float | None, step: float, levels: int, glyphs: str) -> str:
    """Each used glyph with the lower edge of its band, in decades."""
    if lo is None:
        return "scale: no value could be stated"
    items = [f"{level_glyph(k, levels, glyphs)}{_decade(lo + k * step)}" for k in range(levels)]
    return "levels from (log10): " + " ".join(items)


def _decade(x: float) -> str:
    x = round(x, 2) + 0.0  # no "-0"
    return f"{x:+g}"
