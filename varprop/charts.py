"""Tables and terminal charts for many runs: ``compare``, ``grid`` and ``--seeds``.

Renderers here return rich renderables; the CLI prints them.  The chart and the marks
are chosen when the renderable is printed: block characters and colour on a terminal,
plain ASCII (digits for levels) when the output is a pipe or a file, so that a saved
table stays readable anywhere.

With several seeds, every figure is the mean of the log10 values over the seeds (a
geometric mean: the right average for multiplicative quantities) and its spread is the
min-max band of those log10 values (see :mod:`varprop.sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich import box
from rich.color import Color
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from varprop.judge import STABLE_DECADES
from varprop.render import VERDICT_STYLE, advice_text, log10_of, relative_style, sci, thin
from varprop.results import SimulationResult
from varprop.sweep import Aggregate, Band, aggregate, is_matched, literature_pairs

BLOCKS = "▁▂▃▄▅▆▇█"
DIGITS = "12345678"  # the same eight levels in ASCII
GAP = ("·", ".")  # a layer whose value cannot be stated (left float range)
STABLE_MARK = ("✓", "+")
MATCHED_MARK = ("★", "*")


class Adaptive:
    """A renderable built at print time: ``build(plain, width)``.

    ``plain`` is true when the console is not a terminal (a pipe, a file, a test's
    StringIO) or cannot encode Unicode: then only ASCII and no colour.  ``build`` may
    return a list of layouts, widest first: the first that fits the width is printed
    (else the last), so that a table narrows by rearranging rather than truncating.
    """

    def __init__(self, build: Callable[[bool, int], object]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        plain = not console.is_terminal or options.ascii_only
        built = self.build(plain, options.max_width)
        if not isinstance(built, list):
            yield built
            return
        # Measure at an unbounded width: Measurement.get clamps to the width it is given.
        unbounded = options.update_width(1 << 20)
        for layout in built:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                yield layout
                return
        yield built[-1]


def _glyph(pair: tuple[str, str], plain: bool) -> str:
    return pair[1] if plain else pair[0]


def _table(title: str) -> Table:
    """The compact table of this module: rule under the header, two spaces between."""
    return Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )


# ---------------------------------------------------------------- number formats


def _ratio(log10: float | None) -> str:
    return sci(log10, 2)


def _factor(log10: float | None) -> str:
    return "-" if log10 is None else "×" + sci(log10, 3)


def _spread(band: Band) -> str:
    """Half the min-max band, in decades (log10)."""
    if band.n < 2 or band.min is None or band.max is None:
        return ""
    return f"±{(band.max - band.min) / 2:.2f}"


def _band_text(band: Band, digits: int = 2) -> str:
    """``min–max`` of the values themselves (10**log10)."""
    if band.n < 2 or band.min is None or band.max is None:
        return ""
    return f"{sci(band.min, digits)}–{sci(band.max, digits)}"


def _drift_style(value: float | None, origin: float | None) -> str:
    """Red above 10**2 times the origin, blue below 10**-2, green inside."""
    return relative_style(value, origin, inside="green")


def _verdict_cell(verdict: str, votes: dict[str, int]) -> Text:
    n = sum(votes.values())
    text = verdict if n < 2 or votes.get(verdict, 0) == n else f"{verdict} {votes[verdict]}/{n}"
    return Text(text, style=VERDICT_STYLE.get(verdict, ""))


def _setup(result: SimulationResult, seeds: Sequence[int], *, blocks: bool = False) -> str:
    """The settings every run of a comparison shares, for a title (``blocks``: the
    block options too, when every run shares them, as in a grid)."""
    from varprop.render import block_text

    c = result.config
    parts = [f"depth {c.depth}", f"width {c.width}", f"batch {c.batch}"]
    if blocks and block_text(c):
        parts.append(block_text(c))
    if c.bias_std and c.bias_std > 0:
        parts.append(f"bias std {c.bias_std:g}")
    if c.input != "normal":
        parts.append(f"input {c.input}")
    parts.append(c.dtype)
    parts.append(_seed_text(seeds))
    return ", ".join(parts)


def _seed_text(seeds: Sequence[int]) -> str:
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {seeds[0]}–{seeds[-1]}"


def _seeds_note(n: int) -> str:
    return (
        f"Over {n} seeds: geometric mean (mean of log10) and the min–max band; "
        "± is half that band in decades (log10)."
    )


# ---------------------------------------------------------------- compare


def compare_view(
    groups: Sequence[Sequence[SimulationResult]],
    labels: Sequence[str],
    *,
    layers: bool = False,
    every: int = 1,
    chart: bool = True,
) -> Group:
    """``varprop compare``: [per-layer view], [chart], then the summary table.

    ``groups[i]`` holds pair ``i``'s runs, one per seed; ``labels[i]`` its name.
    The summary comes last so that it is what stays on screen.
    """
    aggs = [aggregate(runs) for runs in groups]
    parts: list = []
    if layers:
        parts.append(compare_layers_table(aggs, labels, every=every))
    if chart:
        parts.append(depth_chart(aggs, labels))
    parts.append(compare_table(aggs, labels, [runs[0] for runs in groups]))
    return Group(*parts)


def compare_table(
    aggs: Sequence[Aggregate], labels: Sequence[str], firsts: Sequence[SimulationResult]
) -> Group:
    """One row per pair: ratios, theory, per-layer factors and verdicts.

    ``firsts[i]`` is pair ``i``'s first run, for what does not vary with the seed.  On
    a narrow console the per-layer factor (and the seeds' band) go under the ratio.
    """
    seeds = aggs[0].seeds
    many = len(seeds) > 1

    def tables(plain: bool, width: int):
        return [_compare_summary(aggs, labels, firsts, plain, wide) for wide in (True, False)]

    def notes(plain: bool, width: int):
        text = Text(
            f"{_glyph(STABLE_MARK, plain)} forward and backward stable: within 10^±"
            f"{STABLE_DECADES:g} of layer 1 (forward) or layer L (backward). "
            "Ratios: Var(h) layer L / layer 1, grad RMS layer 1 / layer L; "
            "×/layer: the geometric-mean factor of one layer.",
            style="dim",
        )
        if many:
            text.append(" " + _seeds_note(len(seeds)) + " Verdicts: most seeds'.")
        return text

    return Group(Adaptive(tables), Adaptive(notes))


def _compare_summary(aggs, labels, firsts, plain: bool, wide: bool) -> Table:
    many = len(aggs[0].seeds) > 1
    shared = len({(r.config.block, r.config.norm, r.config.branch_scale) for r in firsts}) == 1
    table = _table(f"compare: {_setup(firsts[0], aggs[0].seeds, blocks=shared)}")
    table.add_column("pair", overflow="fold")
    table.add_column("σ_w²", justify="right", no_wrap=True)
    for quantity in ("Var(h)\nL / 1", "grad\n1 / L"):
        table.add_column(quantity if wide else quantity + "\n×/layer", justify="right",
                         no_wrap=True)  # fmt: skip
        table.add_column("theory", justify="right", no_wrap=True)
        if wide:
            table.add_column("per\nlayer", justify="right", no_wrap=True)
    table.add_column("forward", no_wrap=True)
    table.add_column("backward", no_wrap=True)
    for agg, label, run in zip(aggs, labels, firsts, strict=True):
        mark = _glyph(STABLE_MARK, plain) + " " if agg.stable else "  "
        cells: list = [
            Text.assemble((mark, "bold green"), _pair_lines(label)),
            sci(log10_of(run.config.weight_var), 3),
        ]
        for band, theory, factor in (
            (agg.log10_preact_var_ratio, agg.theory_log10_preact_var_ratio,
             agg.log10_forward_factor),
            (agg.log10_grad_rms_ratio, agg.theory_log10_grad_rms_ratio,
             agg.log10_backward_factor),
        ):  # fmt: skip
            value = Text(_ratio(band.mean))
            if many and band.n > 1:
                value.append((" " if wide else "\n") + _spread(band), style="dim")
            if not wide:
                value.append("\n" + _factor(factor.mean), style="dim")
            cells += [value, _ratio(theory)]
            if wide:
                cells.append(_factor(factor.mean))
        cells += [
            _verdict_cell(agg.forward, agg.forward_votes),
            _verdict_cell(agg.backward, agg.backward_votes),
        ]
        table.add_row(*cells)
    return table


def _pair_lines(label: str, width: int = 12) -> str:
    """A pair's own blocks under it, wrapped at commas: he:relu / @residual, / layer."""
    head, at, suffix = label.partition("@")
    if not at:
        return label
    lines, line = [], "@"
    for item in suffix.split(","):
        piece = item if line == "@" else "," + item
        if len(line) + len(piece) > width and line != "@":
            lines.append(line + ",")
            line = item
        else:
            line += piece
    return "\n".join([head, *lines, line])


def compare_layers_table(
    aggs: Sequence[Aggregate], labels: Sequence[str], *, every: int = 1
) -> Adaptive:
    """Layers as rows, each pair's Var(h) and grad RMS side by side.

    As many pairs per table as the width holds; the rest follow in further tables.
    """
    many = len(aggs[0].seeds) > 1
    title = "per layer: Var(h) and grad RMS, coloured by drift from where each starts" + (
        "; geometric mean, ± half the min–max band in decades" if many else ""
    )

    def build(plain: bool, width: int):
        n = len(aggs)
        layouts = []
        for size in range(n, 0, -1):
            chunks = [range(k, min(k + size, n)) for k in range(0, n, size)]
            tables = [
                _layers_table(
                    [aggs[i] for i in c], [labels[i] for i in c], every, many,
                    title if k == 0 else None,
                )
                for k, c in enumerate(chunks)
            ]  # fmt: skip
            layouts.append(Group(*tables))
        return layouts

    return Adaptive(build)


def _layers_table(aggs, labels, every: int, many: bool, title: str | None) -> Table:
    table = _table(title or "")
    table.add_column("layer", justify="right", no_wrap=True)
    for label in labels:
        table.add_column(f"{label}\nVar(h)", justify="right", no_wrap=True)
        table.add_column("\ngrad RMS", justify="right", no_wrap=True)
    for i in thin(len(aggs[0].layers), every):
        cells: list = [str(i + 1)]
        for agg in aggs:
            v0 = agg.layers[0].log10_preact_var.mean
            gL = agg.layers[-1].log10_grad_rms.mean
            s = agg.layers[i]
            for band, origin in ((s.log10_preact_var, v0), (s.log10_grad_rms, gL)):
                text = Text(sci(band.mean), style=_plain_drift(band.mean, origin))
                if many and band.n > 1:
                    text.append("\n" + _spread(band), style="dim")
                cells.append(text)
        table.add_row(*cells)
    return table


# ---------------------------------------------------------------- chart


def depth_chart(aggs: Sequence[Aggregate], labels: Sequence[str]) -> Adaptive:
    """log10 Var(h) and log10 grad RMS against depth, one row of blocks per pair."""
    var_rows = [[s.log10_preact_var.mean for s in a.layers] for a in aggs]
    grad_rows = [[s.log10_grad_rms.mean for s in a.layers] for a in aggs]

    def build(plain: bool, width: int):
        return Group(
            _chart("log10 Var(h) against layer", labels, var_rows, plain, width, origin=0),
            Text(""),
            _chart("log10 grad RMS against layer", labels, grad_rows, plain, width, origin=-1),
        )

    return Adaptive(build)


def _chart(
    title: str,
    labels: Sequence[str],
    rows: Sequence[Sequence[float | None]],
    plain: bool,
    width: int,
    *,
    origin: int,
) -> Text:
    """One block of sparklines sharing a scale; ``origin`` is where colour drift counts from."""
    glyphs = DIGITS if plain else BLOCKS
    depth = max(len(r) for r in rows)
    label_w = min(max(len(s) for s in labels), 26)
    tail_w = 8  # " 1.2e-15"
    cols = max(width - label_w - 1 - tail_w, 10)
    picks = _columns(depth, cols)
    values = [x for r in rows for x in r if x is not None]
    lo, step, levels = _scale(values)

    out = Text()
    out.append(title + "\n", style="bold")
    for label, row in zip(labels, rows, strict=True):
        name = label if len(label) <= label_w else label[: label_w - 1] + "~"
        out.append(name.ljust(label_w) + " ")
        ref = row[origin] if row else None
        for j in picks:
            x = row[j] if j < len(row) else None
            if x is None or lo is None:
                out.append(_glyph(GAP, plain), style="dim")
                continue
            level = min(int((x - lo) / step), levels - 1)
            style = "" if plain else _drift_style(x, ref)
            out.append(_level_glyph(level, levels, glyphs), style=style)
        last = next((x for x in reversed(row) if x is not None), None)
        out.append(" " + sci(last, 2).rjust(tail_w - 1) + "\n")
    axis_start = " " * (label_w + 1) + "layer 1"
    end = str(depth)
    pad = max(len(picks) - len("layer 1") - len(end), 1)
    out.append(axis_start + " " * pad + end + "\n", style="dim")
    out.append(_legend(lo, step, levels, glyphs, plain), style="dim")
    if any(x is None for r in rows for x in r):
        out.append(f"  {_glyph(GAP, plain)} left float range", style="dim")
    return out


def _columns(depth: int, cols: int) -> list[int]:
    """Layer index (0-based) shown in each chart column: stretched or sampled to fit."""
    if depth <= cols:
        k = max(1, min(cols // depth, 3))
        return [j for j in range(depth) for _ in range(k)]
    return [round(j * (depth - 1) / (cols - 1)) for j in range(cols)]


NICE_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0)


def _scale(values: Sequence[float]) -> tuple[float | None, float, int]:
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


def _level_glyph(level: int, levels: int, glyphs: str) -> str:
    """Blocks spread over the full height; digits count up one by one."""
    if glyphs is DIGITS:
        return glyphs[level]
    return glyphs[round(level * (len(glyphs) - 1) / max(levels - 1, 1))]


def _legend(lo: float | None, step: float, levels: int, glyphs: str, plain: bool) -> str:
    """Each used glyph with the lower edge of its band, in decades."""
    if lo is None:
        return "scale: no value could be stated"
    items = []
    for level in range(levels):
        items.append(f"{_level_glyph(level, levels, glyphs)}{_decade(lo + level * step)}")
    return "levels from (log10): " + " ".join(items)


def _decade(x: float) -> str:
    x = round(x, 2) + 0.0  # no "-0"
    return f"{x:+g}"


# ---------------------------------------------------------------- grid


def grid_view(
    groups: Sequence[Sequence[SimulationResult]],
    inits: Sequence[str],
    acts: Sequence[str],
) -> Adaptive:
    """Heat map: initializers as rows, activations as columns (``groups`` row-major)."""
    aggs = [aggregate(runs) for runs in groups]
    seeds = aggs[0].seeds
    first = groups[0][0]

    def build(plain: bool, width: int):
        cell_w = 11  # mark, label and a 6-wide number: 5 columns fit in 80
        title = Text(f"grid: {_setup(first, seeds, blocks=True)}", style="italic")
        table = Table(header_style="bold", box=box.SQUARE, show_lines=True, padding=0)
        table.add_column(" init", no_wrap=True)
        for act in acts:
            table.add_column(act, justify="center", width=cell_w, no_wrap=True)
        for r, init in enumerate(inits):
            row_aggs = aggs[r * len(acts) : (r + 1) * len(acts)]
            weight_var = groups[r * len(acts)][0].config.weight_var
            head = Text(f" {init} \n", style="bold")
            head.append(f" σ_w² {sci(log10_of(weight_var), 3)} ", style="dim")
            cells = [
                _grid_cell(a, is_matched(init, act), plain, cell_w)
                for a, act in zip(row_aggs, acts, strict=True)
            ]
            table.add_row(head, *cells)
        return Group(title, table, _grid_legend(plain, len(seeds)))

    return Adaptive(build)


def _grid_cell(agg: Aggregate, matched: str | None, plain: bool, width: int) -> Text:
    mark = _glyph(MATCHED_MARK, plain) if matched else " "
    fwd, bwd = agg.log10_preact_var_ratio, agg.log10_grad_rms_ratio
    var_label = "sat " if agg.forward == "saturated" else "var "
    grad_label = " grad"
    if plain:  # no colour to carry the verdict: spell it instead
        var_label = PLAIN_VERDICT.get(agg.forward, "?") + " "
        grad_label = " " + PLAIN_VERDICT.get(agg.backward, "?") + " "
    lines = [
        (mark + var_label + _grid_number(fwd, agg.overflowed), _heat(fwd.mean, agg.forward)),
        (grad_label + _grid_number(bwd, agg.overflowed), _heat(bwd.mean, agg.backward)),
    ]
    if len(agg.seeds) > 1:
        spread = f"{_grid_spread(fwd):>5} {_grid_spread(bwd):>5}"
        lines.append((spread, Style(dim=True)))
    text = Text()
    for i, (line, style) in enumerate(lines):
        if i:
            text.append("\n")
        bold = Style(bold=True) if matched and i == 0 else Style()
        text.append(line.ljust(width)[:width], style=None if plain else style + bold)
    return text


PLAIN_VERDICT = {
    "stable": "ok ",
    "vanishing": "van",
    "exploding": "exp",
    "saturated": "sat",
    "power-law": "pow",
    "overflow": "ovf",
}


def _grid_spread(band: Band) -> str:
    """Half the min-max band in decades, to one decimal (fits a grid cell)."""
    if band.n < 2 or band.min is None or band.max is None:
        return "-"
    return f"±{(band.max - band.min) / 2:.1f}"


def _grid_number(band: Band, overflowed: int) -> str:
    if band.mean is None:
        return "  ovfl" if overflowed else "     -"
    x = band.mean
    return f"{x:+6.1f}" if abs(x) < 99.95 else f"{x:+6.0f}"


# Backgrounds from the 256-colour palette: unlike blends of RGB values, each of them
# still reads blue, green, red or yellow when a 16-colour terminal rounds it.
HEAT_BLUE = (69, 63, 27, 21, 20, 19, 18, 17)  # vanishing: pale to deep
HEAT_RED = (203, 196, 160, 124, 88, 52)  # exploding: pale to deep
HEAT_STABLE, HEAT_SATURATED, HEAT_UNKNOWN = 28, 136, 240
# From 2 decades off (palest) to this many or more (deepest).
HEAT_FULL = 30.0


def _heat(log10: float | None, verdict: str) -> Style:
    """Background from blue (vanishing) through green (stable) to red (exploding)."""
    if verdict in ("vanishing", "exploding"):
        ramp = HEAT_BLUE if verdict == "vanishing" else HEAT_RED
        t = 1.0 if log10 is None else (abs(log10) - STABLE_DECADES) / (HEAT_FULL - STABLE_DECADES)
        number = ramp[round(min(max(t, 0.0), 1.0) * (len(ramp) - 1))]
    else:
        number = {"stable": HEAT_STABLE, "saturated": HEAT_SATURATED}.get(verdict, HEAT_UNKNOWN)
    return Style(color="bright_white", bgcolor=Color.from_ansi(number))


def _grid_legend(plain: bool, n_seeds: int) -> Text:
    refs = ", ".join(f"{i}:{a} ({ref})" for (i, a), ref in literature_pairs())
    text = Text(style="dim")
    if plain:
        text.append(
            "First line: log10 Var(h) layer L / layer 1; second: log10 grad RMS layer 1 / "
            "layer L; ovfl: left float range.\n"
        )
    else:
        text.append(
            "var: log10 Var(h) layer L / layer 1; grad: log10 grad RMS layer 1 / layer L; "
            "sat: forward saturated (most units flat); ovfl: left float range.\n"
        )
    if not plain:
        text.append("blue vanishing, green stable (within ±2 decades), red exploding; ")
        text.append("deeper colour, further off.\n")
    else:
        text.append(
            "Labels give the verdict: ok stable (within ±2 decades), van vanishing, exp "
            "exploding, sat saturated; first line the signal, second the gradient.\n"
        )
    text.append(f"{_glyph(MATCHED_MARK, plain)} the literature's pair: {refs}.")
    if n_seeds > 1:
        text.append(
            f"\nOver {n_seeds} seeds: var and grad are means of log10 (geometric means); "
            "the third line is ± half their min–max band, in decades."
        )
    return text


# ---------------------------------------------------------------- simulate --seeds


def seeds_view(runs: Sequence[SimulationResult], *, every: int = 1) -> Group:
    """``simulate --seeds N``: per layer, geometric mean ± half the band, theory beside."""
    agg = aggregate(runs)
    c = runs[0].config
    title = (
        f"{c.init} + {c.act}: depth {c.depth}, width {c.width}, batch {c.batch}, "
        f"sigma_w^2 {sci(log10_of(c.weight_var))}, bias std {c.bias_std:g}, "
        f"{_seed_text(agg.seeds)} ({len(agg.seeds)} runs), {c.dtype}"
    )
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    # Same look as the one-seed table; fold, never "…", on a narrow terminal.
    for name in ("layer", "Var(h)", "± dec", "min–max", "theory", "sat.", "RMS(δ)", "± dec",
                 "theory"):  # fmt: skip
        table.add_column(name, justify="right", overflow="fold")
    v1 = agg.layers[0].log10_preact_var.mean
    gL = agg.layers[-1].log10_grad_rms.mean
    for i in thin(len(agg.layers), every):
        s = agg.layers[i]
        sat = s.saturated_frac
        table.add_row(
            str(s.layer),
            Text(sci(s.log10_preact_var.mean), style=_plain_drift(s.log10_preact_var.mean, v1)),
            _spread(s.log10_preact_var),
            Text(_band_text(s.log10_preact_var), style="dim"),
            sci(s.log10_theory_preact_var),
            "-" if sat.mean is None else f"{100 * sat.mean:.1f}%",
            Text(sci(s.log10_grad_rms.mean), style=_plain_drift(s.log10_grad_rms.mean, gL)),
            _spread(s.log10_grad_rms),
            sci(s.log10_theory_grad_rms),
        )
    return Group(Text(title, style="bold"), table, seeds_summary(agg, runs))


def _plain_drift(value, origin) -> str:
    style = _drift_style(value, origin)
    return "" if style == "green" else style


def seeds_summary(agg: Aggregate, runs: Sequence[SimulationResult]) -> Text:
    """Verdict lines under a ``simulate --seeds`` table."""
    L = len(agg.layers)
    out = Text()
    for name, verdict, votes, band, factor, what in (
        ("forward:  ", agg.forward, agg.forward_votes, agg.log10_preact_var_ratio,
         agg.log10_forward_factor, f"Var(h) layer {L} / layer 1"),
        ("backward: ", agg.backward, agg.backward_votes, agg.log10_grad_rms_ratio,
         agg.log10_backward_factor, f"grad RMS layer 1 / layer {L}"),
    ):  # fmt: skip
        out.append(name)
        out.append(verdict, style=VERDICT_STYLE.get(verdict, ""))
        n = sum(votes.values())
        others = ", ".join(f"{k} {v}" for k, v in votes.items() if k != verdict)
        out.append(f" ({votes.get(verdict, 0)} of {n} seeds{'; ' + others if others else ''})")
        out.append(f"  {what} = {sci(band.mean)}")
        if band.n > 1:
            out.append(f" ({_band_text(band, 3)})")
        if factor.mean is not None:
            out.append(f", {_factor(factor.mean)} per layer")
        out.append("\n")
    if agg.overflowed:
        out.append(
            f"{agg.overflowed} of {len(agg.seeds)} seeds left float range; their figures "
            "stop there and the means use the seeds that could be stated\n",
            style="bold red",
        )
    if not agg.stable:
        first = next((r.summary for r in runs if r.summary.fix or r.summary.limit), None)
        if first is not None:
            out.append(advice_text(first.fix, first.limit))
    out.append(_seeds_note(len(agg.seeds)), style="dim")
    return out
