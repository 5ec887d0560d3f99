"""A phase diagram as a character map: sigma_b^2 up, sigma_w^2 across.

Every line fits in ``width`` columns and none ends in a space; without colour the glyphs
alone carry the meaning.
"""

from __future__ import annotations

import textwrap

from rich.text import Text

from varprop.render.layout import Adaptive

# One glyph per band of chi_1; the critical line and the initializers are drawn on top.
ORDERED_DEEP, ORDERED, CRITICAL, CHAOTIC, CHAOTIC_DEEP, UNKNOWN = ":", ".", "|", "+", "#", "?"
STYLES = {
    ORDERED_DEEP: "blue",
    ORDERED: "blue",
    CRITICAL: "bold green",
    CHAOTIC: "red",
    CHAOTIC_DEEP: "red",
}
LEGEND = [
    f"{ORDERED_DEEP} chi_1 < 0.5",
    f"{ORDERED} ordered (chi_1 < 1)",
    f"{CRITICAL} chi_1 = 1 (order to chaos)",
    f"{CHAOTIC} chaotic (chi_1 > 1)",
    f"{CHAOTIC_DEEP} chi_1 > 2",
    f"{UNKNOWN} undefined",
]
NBSP = "\xa0"  # keeps a legend item on one line: textwrap does not break there
MAX_ROWS = 40
Y_TITLE, X_TITLE = "sigma_b^2", "sigma_w^2"


def phase_table(result, view) -> Adaptive:
    """The table format of a phase diagram: the map, drawn at the screen's width."""
    return Adaptive(lambda screen: phase_map(result, width=screen.width, plain=not screen.colour))


def phase_map(result, *, width: int, plain: bool) -> Text:
    """The map of a :class:`~varprop.results.PhaseResult`, at most ``width`` columns."""
    ws, bs = result.weight_vars, result.bias_vars
    rows = _pick(len(bs), MAX_ROWS)[::-1]  # largest sigma_b^2 at the top
    labels = {rows[0]: bs[rows[0]], rows[len(rows) // 2]: bs[rows[len(rows) // 2]]}
    labels[rows[-1]] = bs[rows[-1]]
    label_w = max(len(_g(v)) for v in labels.values())
    cols = _pick(len(ws), max(1, width - label_w - 1))
    col_w = [ws[j] for j in cols]
    marks = _init_marks(result, col_w)

    out = Text(no_wrap=True)
    lines: list[list[tuple[str, str]]] = []
    title = f"{result.act}: order to chaos, mean field (infinite width)"
    for line in _wrap(title.split(" "), width):
        lines.append([(line, "bold")])
    lines.append([(Y_TITLE, "")])
    for i in rows:
        cells = [_glyph(result.chi_1[i][j]) for j in cols]
        line_w = result.critical_line[i].sigma_w2
        if line_w is not None and col_w[0] <= line_w <= col_w[-1]:
            cells[_nearest(col_w, line_w)] = CRITICAL
        if bs[i] == 0:
            for c, letter in marks.items():
                cells[c] = letter
        label = _g(bs[i]) if i in labels else ""
        segs = [(label.rjust(label_w) + " ", "")]
        segs += [(g, "bold" if g.isalpha() else STYLES.get(g, "")) for g in cells]
        lines.append(segs)
    axis = _axis(col_w, len(cols))
    pad = " " * (label_w + 1)
    if len(pad) + len(axis) + 1 + len(X_TITLE) <= width:
        lines.append([(f"{pad}{axis} {X_TITLE}", "")])
    else:
        lines.append([(pad + axis, "")])
        lines.append([(pad + X_TITLE, "")])
    shown = {c for row in result.chi_1 for c in row}
    legend = LEGEND if None in shown else LEGEND[:-1]
    for line in _wrap(legend, width, sep="  "):
        lines.append([(line, "")])
    for line in _wrap(_init_legend(result, col_w, marks), width):
        lines.append([(line, "")])

    for n, segs in enumerate(lines):
        if n:
            out.append("\n")
        text = "".join(s for s, _ in segs)
        keep = len(text.rstrip())  # no trailing spaces
        used = 0
        for s, style in segs:
            s = s[: max(0, keep - used)]
            used += len(s)
            out.append(s, style=None if plain or not style else style)
    return out


def _g(x: float) -> str:
    return f"{x:.3g}"


def _wrap(items: list[str], width: int, sep: str = " ") -> list[str]:
    """Lines of at most ``width`` columns, breaking between items where one fits."""
    glued = sep.join(i.replace(" ", NBSP) for i in items)
    lines = textwrap.wrap(glued, max(1, width), break_on_hyphens=False, break_long_words=True)
    return [line.replace(NBSP, " ").rstrip() for line in lines] or [""]


def _pick(n: int, most: int) -> list[int]:
    """At most ``most`` indices of 0..n-1, evenly spread, both ends kept."""
    if n <= most:
        return list(range(n))
    if most == 1:
        return [0]
    return [round(k * (n - 1) / (most - 1)) for k in range(most)]


def _nearest(values: list[float], x: float) -> int:
    return min(range(len(values)), key=lambda k: abs(values[k] - x))


def _glyph(chi: float | None) -> str:
    if chi is None:
        return UNKNOWN
    if abs(chi - 1) <= 1e-3:  # fixedpoints.phase's "critical"
        return CRITICAL
    if chi < 1:
        return ORDERED_DEEP if chi < 0.5 else ORDERED
    return CHAOTIC_DEEP if chi > 2 else CHAOTIC


def _inside(col_w: list[float], x: float) -> bool:
    half = (col_w[-1] - col_w[0]) / (2 * max(1, len(col_w) - 1))
    return col_w[0] - half <= x <= col_w[-1] + half


def _init_marks(result, col_w: list[float]) -> dict[int, str]:
    """Column -> letter for the inits on the sigma_b^2 = 0 row (the first one wins)."""
    marks: dict[int, str] = {}
    if result.bias_vars[0] != 0:
        return marks
    for p in result.inits:
        if _inside(col_w, p.sigma_w2):
            marks.setdefault(_nearest(col_w, p.sigma_w2), p.init[0])
    return marks


def _init_legend(result, col_w: list[float], marks: dict[int, str]) -> list[str]:
    """One item per letter on the map (the inits it stands for), then those off the map."""
    on: dict[str, list] = {}
    off = []
    for p in result.inits:
        if result.bias_vars[0] == 0 and _inside(col_w, p.sigma_w2):
            on.setdefault(marks[_nearest(col_w, p.sigma_w2)], []).append(p)
        else:
            off.append(p)
    items = [f"inits at sigma_b^2 = 0, width {result.width}:"]
    for letter, ps in on.items():
        names = "/".join(p.init for p in ps)
        items.append(f"{letter} {names} {_g(ps[0].sigma_w2)} {ps[0].phase or '?'};")
    items += [f"{p.init} {_g(p.sigma_w2)} {p.phase or '?'} (off the map);" for p in off]
    items[-1] = items[-1].rstrip(";")
    return items


def _axis(col_w: list[float], n: int) -> str:
    """The sigma_w^2 values at the left, middle and right columns."""
    buf = [" "] * n
    left, right = _g(col_w[0]), _g(col_w[-1])
    mid_col = n // 2
    mid = _g(col_w[mid_col])
    spots = [(0, left), (n - len(right), right)]
    start = mid_col - len(mid) // 2
    if len(left) < start and start + len(mid) < n - len(right):
        spots.append((start, mid))
    for at, s in spots:
        for k, ch in enumerate(s):
            if 0 <= at + k < n:
                buf[at + k] = ch
    return "".join(buf).rstrip()
