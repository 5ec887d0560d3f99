"""Tables for several runs: ``compare`` (pairs side by side) and ``grid`` (heat map).

With several seeds every figure is the mean of the log10 values over the seeds (a
geometric mean, the right average for multiplicative quantities) and ± is half the
min-max band of those log10 values, in decades (see :mod:`varprop.sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.color import Color
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

from varprop.judge import STABLE_DECADES
from varprop.render import View
from varprop.render.chart import depth_chart
from varprop.render.layers import seeds_note, spread
from varprop.render.layout import Adaptive, Column, Screen, draw, table_width
from varprop.render.numbers import factor, fixed, log10_of, rows_to_show, sci
from varprop.render.terms import (
    SHORT,
    SHORT_LEGEND,
    VERDICT_STYLE,
    advice,
    block_text,
    drift_style,
    legend_hint,
    rows_note,
    seed_text,
    votes_text,
)
from varprop.sweep import Aggregate, Band, is_matched, literature_pairs

STABLE_MARK = ("✓", "+")
MATCHED_MARK = ("★", "*")


def setup(result, seeds: Sequence[int], *, blocks: bool = False) -> str:
    """The settings every run shares, for a title (``blocks``: the block options too)."""
    c = result.config
    parts = [f"depth {c.depth}", f"width {c.width}", f"batch {c.batch}"]
    if blocks and block_text(c):
        parts.append(block_text(c))
    if c.bias_std and c.bias_std > 0:
        parts.append(f"bias std {c.bias_std:g}")
    if c.input != "normal":
        parts.append(f"input {c.input}")
    parts += [c.dtype, seed_text(seeds)]
    return ", ".join(parts)


def _verdict_cell(word: str, votes: dict[str, int], screen: Screen) -> Text:
    return Text(votes_text(word, votes), style=screen.style(VERDICT_STYLE.get(word, "")))


# ---------------------------------------------------------------- compare


def compare(runs, view: View) -> Adaptive:
    """[per-layer table], [chart], then the summary table, which stays on screen last."""
    aggs = runs.aggregates
    firsts = [group[0] for group in runs.groups]

    def build(screen: Screen) -> Group:
        parts: list = []
        if view.layers:
            parts.append(layers_tables(aggs, runs.labels, view, screen))
        if view.chart:
            parts.append(depth_chart(aggs, runs.labels))
        parts.append(summary_table(aggs, runs.labels, firsts, screen))
        parts += compare_footer(runs, view, screen)
        return Group(*parts)

    return Adaptive(build)


def summary_table(aggs, labels, firsts, screen: Screen) -> Text:
    """One row per pair: ratios, theory, per-layer factors and verdicts."""
    many = len(aggs[0].seeds) > 1
    shared = len({(r.config.block, r.config.norm, r.config.branch_scale) for r in firsts}) == 1
    mark = screen.glyph(*STABLE_MARK)
    columns = [
        Column(
            "pair",
            [
                Text.assemble((mark + " " if a.stable else "  ", screen.style("bold green")), label)
                for a, label in zip(aggs, labels, strict=True)
            ],
            justify="left",
        ),
        Column(
            "σ_w²" if screen.unicode else "sw^2",
            [sci(log10_of(r.config.weight_var), 3) for r in firsts],
            drop=5,
            name="sigma_w^2",
        ),
    ]
    for name, ratio, theory, per_layer in (
        (
            "Var(h)\nL / 1",
            "log10_preact_var_ratio",
            "theory_log10_preact_var_ratio",
            "log10_forward_factor",
        ),
        (
            "RMS(δ)\n1 / L",
            "log10_grad_rms_ratio",
            "theory_log10_grad_rms_ratio",
            "log10_backward_factor",
        ),
    ):
        # Dropped on a narrow screen in this order: ± dec, x/layer, sigma_w^2, theory.
        columns.append(Column(name, [sci(getattr(a, ratio).mean, 2) for a in aggs]))
        if many:
            columns.append(Column("±\ndec", [spread(getattr(a, ratio)) for a in aggs], drop=7))
        columns.append(Column("\ntheory", [sci(getattr(a, theory), 2) for a in aggs], drop=3))
        columns.append(
            Column("\nx/layer", [factor(getattr(a, per_layer).mean) for a in aggs], drop=6)
        )
    columns.append(
        Column(
            "forward",
            [_verdict_cell(a.forward, a.forward_votes, screen) for a in aggs],
            justify="left",
        )
    )
    columns.append(
        Column(
            "backward",
            [_verdict_cell(a.backward, a.backward_votes, screen) for a in aggs],
            justify="left",
        )
    )
    title = f"compare: {setup(firsts[0], aggs[0].seeds, blocks=shared)}"
    return draw(columns, screen, title=title)


def compare_footer(runs, view: View, screen: Screen) -> list:
    """Advice for the pairs that need it, then one legend line (or the full legend)."""
    out = []
    mark = screen.glyph(*STABLE_MARK)
    if view.explain:
        text = Text(
            f"{mark} forward and backward stable: within 10^±{STABLE_DECADES:g} of layer 1 "
            "(forward) or layer L (backward). Ratios: Var(h) layer L / layer 1, RMS(δ) layer "
            "1 / layer L; theory: the mean-field prediction of the same ratio; x/layer: the "
            "geometric-mean factor of one layer.",
            style="dim",
        )
        if runs.seeds > 1:
            text.append(" " + seeds_note(runs.seeds) + " Verdicts: most seeds'.")
        out.append(text)
        for label, group in zip(runs.labels, runs.groups, strict=True):
            s = group[0].summary
            if s.fix is not None or s.limit is not None:
                out += [Text(f"{label}:", style="bold"), advice(s.fix, s.limit)]
    else:
        out.append(legend_hint(f"{mark} both stable; x/layer: geometric mean per layer"))
    return out


def layers_tables(aggs, labels, view: View, screen: Screen) -> Group:
    """Layers as rows, each pair's Var(h) and RMS(δ) side by side; as many pairs per
    table as the width holds, the rest in further tables."""
    many = len(aggs[0].seeds) > 1
    rows = rows_to_show(len(aggs[0].layers), view.every)
    title = "per layer: Var(h) and RMS(δ)" + (
        "; geometric mean, ± half the min–max band in decades" if many else ""
    )
    n = len(aggs)
    for size in range(n, 0, -1):
        chunks = [range(k, min(k + size, n)) for k in range(0, n, size)]
        tables = [
            _layers_columns([aggs[i] for i in c], [labels[i] for i in c], rows, many, screen)
            for c in chunks
        ]
        if size == 1 or all(table_width(cols) <= screen.width for cols in tables):
            break
    parts: list = []
    for k, cols in enumerate(tables):
        parts.append(draw(cols, screen, title=title if k == 0 else None))
    parts.append(rows_note(len(rows), len(aggs[0].layers)))
    return Group(*parts)


def _layers_columns(aggs, labels, rows, many: bool, screen: Screen) -> list[Column]:
    columns = [Column("layer", [str(i + 1) for i in rows])]
    for agg, label in zip(aggs, labels, strict=True):
        v0 = agg.layers[0].log10_preact_var.mean
        gL = agg.layers[-1].log10_grad_rms.mean
        for head, attr, origin in (
            (f"{label}\nVar(h)", "log10_preact_var", v0),
            ("\nRMS(δ)", "log10_grad_rms", gL),
        ):
            cells = []
            for i in rows:
                band = getattr(agg.layers[i], attr)
                text = Text(sci(band.mean), style=drift_style(band.mean, origin, screen))
                if many and band.n > 1:
                    text.append(" " + spread(band), style="dim")
                cells.append(text)
            columns.append(Column(head, cells))
    return columns


# ---------------------------------------------------------------- grid

CELL_W = 11  # mark, label and a 6-wide number
ROW_HEAD_W = 16


def grid(runs, view: View) -> Adaptive:
    """Heat map: initializers as rows, activations as columns (``runs.groups`` row-major).

    On a narrow screen the activations are split over several maps, each repeating the
    initializer column, so that no cell is ever cut."""
    aggs = runs.aggregates
    inits, acts = runs.inits, runs.acts
    first = runs.groups[0][0]

    def build(screen: Screen) -> Group:
        per_map = max(1, (screen.width - ROW_HEAD_W - 2) // (CELL_W + 1))
        title = Text(f"grid: {setup(first, aggs[0].seeds, blocks=True)}", style="italic")
        maps = []
        for start in range(0, len(acts), per_map):
            cols = range(start, min(start + per_map, len(acts)))
            maps.append(_grid_table(runs, aggs, inits, acts, cols, screen))
        return Group(title, *maps, _grid_legend(screen, runs.seeds))

    return Adaptive(build)


def _grid_table(runs, aggs, inits, acts, cols, screen: Screen) -> Table:
    table = Table(
        header_style="bold",
        box=box.SQUARE,  # rich draws it in ASCII where Unicode cannot be printed
        show_lines=True,
        padding=0,
    )
    table.add_column(" init", no_wrap=True)
    for j in cols:
        table.add_column(acts[j], justify="center", width=CELL_W, no_wrap=True)
    sigma = "σ_w²" if screen.unicode else "sw^2"
    for r, init in enumerate(inits):
        weight_var = runs.groups[r * len(acts)][0].config.weight_var
        head = Text(f" {init} \n", style="bold")
        head.append(f" {sigma} {sci(log10_of(weight_var), 3)} ", style="dim")
        cells = [
            _grid_cell(aggs[r * len(acts) + j], is_matched(init, acts[j]), screen) for j in cols
        ]
        table.add_row(head, *cells)
    return table


def _grid_cell(agg: Aggregate, matched: str | None, screen: Screen) -> Text:
    mark = screen.glyph(*MATCHED_MARK) if matched else " "
    fwd, bwd = agg.log10_preact_var_ratio, agg.log10_grad_rms_ratio
    # The verdict is spelled in every cell, colour or not: the colour only repeats it.
    var_label = SHORT.get(agg.forward, "?").ljust(3) + " "
    grad_label = " " + SHORT.get(agg.backward, "?").ljust(3) + " "
    lines = [
        (mark + var_label + grid_number(fwd, agg.overflowed), _heat(fwd.mean, agg.forward)),
        (grad_label + grid_number(bwd, agg.overflowed), _heat(bwd.mean, agg.backward)),
    ]
    if len(agg.seeds) > 1:
        lines.append((f"{grid_spread(fwd):>5} {grid_spread(bwd):>5}", Style(dim=True)))
    text = Text()
    for i, (line, style) in enumerate(lines):
        if i:
            text.append("\n")
        bold = Style(bold=True) if matched and i == 0 else Style()
        text.append(line.ljust(CELL_W)[:CELL_W], style=style + bold if screen.colour else None)
    return text


def grid_spread(band: Band) -> str:
    """Half the min-max band in decades, to one decimal (fits a grid cell)."""
    if band.n < 2 or band.min is None or band.max is None:
        return "-"
    return f"±{fixed((band.max - band.min) / 2, 1)}"


def grid_number(band: Band, overflowed: int) -> str:
    if band.mean is None:
        return "  ovfl" if overflowed else "     -"
    x = band.mean
    text = f"{x:+6.1f}" if abs(x) < 99.95 else f"{x:+6.0f}"
    return text.replace("-0.0", " 0.0").replace("+0.0", " 0.0")


# Backgrounds from the 256-colour palette: unlike blends of RGB values, each of them
# still reads blue, green, red or yellow when a 16-colour terminal rounds it.
HEAT_BLUE = (69, 63, 27, 21, 20, 19, 18, 17)  # vanishing: pale to deep
HEAT_RED = (203, 196, 160, 124, 88, 52)  # exploding: pale to deep
HEAT_STABLE, HEAT_SATURATED, HEAT_UNKNOWN = 28, 136, 240
# From 2 decades off (palest) to this many or more (deepest).
HEAT_FULL = 30.0


def _heat(log10: float | None, word: str) -> Style:
    """Background from blue (vanishing) through green (stable) to red (exploding)."""
    if word in ("vanishing", "exploding"):
        ramp = HEAT_BLUE if word == "vanishing" else HEAT_RED
        t = 1.0 if log10 is None else (abs(log10) - STABLE_DECADES) / (HEAT_FULL - STABLE_DECADES)
        number = ramp[round(min(max(t, 0.0), 1.0) * (len(ramp) - 1))]
    else:
        number = {"stable": HEAT_STABLE, "saturated": HEAT_SATURATED}.get(word, HEAT_UNKNOWN)
    return Style(color="bright_white", bgcolor=Color.from_ansi(number))


def _grid_legend(screen: Screen, n_seeds: int) -> Text:
    text = Text(style="dim")
    text.append(
        "Each cell: verdict and log10 Var(h) layer L / layer 1, then verdict and log10 "
        "RMS(δ) layer 1 / layer L; ovfl: left float range.\n"
    )
    text.append(f"{SHORT_LEGEND} (stable: within ±{STABLE_DECADES:g} decades)")
    if screen.colour:
        text.append("; colour repeats the verdict, deeper further off")
    refs = ", ".join(f"{i}:{a} ({ref})" for (i, a), ref in literature_pairs())
    text.append(f".\n{screen.glyph(*MATCHED_MARK)} the literature's pair: {refs}.")
    if n_seeds > 1:
        text.append(
            f"\nOver {n_seeds} seeds: means of log10 (geometric means); the third line is "
            "± half their min–max band, in decades."
        )
    return text
