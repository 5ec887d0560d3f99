"""The plot format: a matplotlib figure of every result, for a report or a README.

``figure(result, view)`` builds a :class:`matplotlib.figure.Figure` directly (no pyplot:
no global state, no GUI window); ``save(result, path)`` writes it as the name's
extension says (png, svg, pdf).  matplotlib is imported only when a figure is made, so
varprop runs without it (the ``plot`` extra: ``pip install "varprop[plot]"``).

Every curve is drawn from the result's ``log10_*`` figures, so values beyond float range
still plot; a figure that cannot be stated (None) is left out, never drawn as zero.
Measured curves are solid, theory dashed in the same colour, the min-max band over
seeds shaded; the verdicts are in the legends, the whole configuration in the title.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from varprop.judge import STABLE_DECADES
from varprop.output import FIGURE_TYPES, figure_type, write_atomic
from varprop.render import View
from varprop.render.numbers import log10_of, num
from varprop.render.terms import SHORT, block_text, var_name, votes_text, width_text
from varprop.results import PhaseResult, RecommendResult, SimulationResult, TheoryResult
from varprop.sweep import Runs, is_matched
from varprop.words import verdict_text

DPI = 100
WIDE = (9.0, 4.0)  # inches: 900 x 400 pixels at DPI
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.fonttype": "none",  # text stays text: searchable, and smaller
    "svg.hashsalt": "varprop",  # ids the same from run to run
    "pdf.fonttype": 42,
}
# No creation date in the file: the same result gives the same bytes.
METADATA = {"png": None, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
# The grid's colour scale: symmetric about 0, at least the stable band, at most this.
GRID_CLIP = 10.0
# The phase diagram's: log10 chi_1 at least this far on either side of 0 (chi_1 = 1).
PHASE_MIN = 0.05
LABEL_BOX = {"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0}
THEORY_LABEL = "theory (mean field)"


def render(result, view: View):
    """The registry's entry point: a Figure (see :func:`figure`)."""
    return figure(result, view)


def figure(result, view: View | None = None):
    """``result`` as a matplotlib Figure.  ``view`` is accepted for the registry; a
    figure always shows every layer."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        if isinstance(result, SimulationResult):
            return simulate(result)
        if isinstance(result, Runs):
            return grid(result) if result.kind == "grid" else runs(result)
        if isinstance(result, TheoryResult):
            return theory(result)
        if isinstance(result, RecommendResult):
            return recommend(result)
        if isinstance(result, PhaseResult):
            return phase(result)
        raise TypeError(f"no plot for {type(result).__name__}")


def save(result, path: str, view: View | None = None) -> None:
    """Write ``result``'s figure to ``path`` (whole or not at all), as a png, svg or pdf
    by the name's extension; any other name is a ValueError before any work."""
    kind = figure_type(path)
    if kind is None:
        types = ", ".join("." + t for t in FIGURE_TYPES)
        raise ValueError(f"cannot plot to {path!r}: the name must end in {types}")
    write_atomic(path, to_bytes(figure(result, view), kind))


def to_bytes(fig, kind: str) -> bytes:
    """The figure's file in ``kind`` (png, svg, pdf), at DPI (a png is DPI x figsize)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=kind, dpi=DPI, metadata=METADATA[kind])
    return buf.getvalue()


# ---------------------------------------------------------------- shared


def _figure(ncols: int, size: tuple[float, float] = WIDE, **subplots):
    """A figure of ``ncols`` panels side by side, laid out so nothing overlaps."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    return fig, fig.subplots(1, ncols, **subplots)


def _xy(xs: Sequence[int], ys: Sequence[float | None]) -> tuple[list[int], list[float]]:
    """The points whose value is stated."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _layer_axes(ax, ylabel: str, depth: int) -> None:
    ax.set_xlabel("layer l")
    ax.set_ylabel(ylabel)
    ax.set_xlim(1, max(depth, 2))
    ax.legend(loc="best")


def _config(c) -> str:
    """The shape and settings a run's title states after the pair."""
    parts = [f"depth {c.depth}", width_text(c), f"batch {c.batch}", f"seed {c.seed}", c.dtype]
    parts += [f"sigma_w^2 {num(c.weight_var)}", f"bias std {num(c.bias_std)}"]
    if c.input != "normal":
        parts.append(f"input {c.input}")
    if block_text(c):
        parts.append(block_text(c))
    return ", ".join(parts)


# ---------------------------------------------------------------- simulate


HIST_LABELS = {"h": "h (pre-activation)", "a": "a = phi(h)", "delta": "δ / RMS(δ)"}


def simulate(result: SimulationResult):
    """Two panels, log10 Var(h) and log10 RMS(δ) against layer, theory dashed; with
    histograms (``--hist``), a row under them: h, a and δ at each chosen layer."""
    c, s = result.config, result.summary
    if result.histograms:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(WIDE[0], 2 * WIDE[1]), dpi=DPI, layout="constrained")
        axes = fig.subplot_mosaic(
            [["var"] * 3 + ["grad"] * 3, ["h"] * 2 + ["a"] * 2 + ["delta"] * 2]
        )
        var_ax, grad_ax = axes["var"], axes["grad"]
        _histograms(result, axes)
    else:
        fig, (var_ax, grad_ax) = _figure(2)
    x = [layer.layer for layer in result.layers]
    panels = (
        (
            var_ax,
            "log10_preact_var",
            "log10_theory_preact_var",
            f"log10 {var_name(c)}",
            verdict_text(s.forward, s.forward_exponent),
            s.theory_forward,
        ),
        (
            grad_ax,
            "log10_grad_rms",
            "log10_theory_grad_rms",
            "log10 RMS(δ)",
            verdict_text(s.backward, s.backward_exponent),
            s.theory_backward,
        ),
    )
    for ax, measured, predicted, ylabel, word, theory_word in panels:
        ax.plot(
            *_xy(x, [getattr(layer, measured) for layer in result.layers]),
            color="C0",
            label=f"measured: {word}",
        )
        ax.plot(
            *_xy(x, [getattr(layer, predicted) for layer in result.layers]),
            color="C0",
            linestyle="--",
            label=THEORY_LABEL + (f": {theory_word}" if theory_word else ""),
        )
        _layer_axes(ax, ylabel, c.depth)
    var_ax.set_title("forward: the signal")
    grad_ax.set_title("backward: the gradient δ = dL/dh")
    fig.suptitle(f"{c.init} + {c.act}\n{_config(c)}")
    return fig


def _histograms(result: SimulationResult, axes) -> None:
    """One panel per quantity: each chosen layer's share of values per bin, as steps
    (Glorot & Bengio 2010, Fig. 3); a layer the run never reached is left out."""
    for quantity, label in HIST_LABELS.items():
        ax = axes[quantity]
        for k, h in enumerate(x for x in result.histograms if x.quantity == quantity):
            total = sum(h.counts) + h.outside
            if h.skipped or not total:
                continue
            shares = [n / total for n in h.counts]
            ax.stairs(shares, h.edges, color=f"C{k}", label=f"layer {h.layer}")
        # Beyond float64 (an exact run that vanished or exploded) h and a are in units
        # of 2^e, the same for a layer's every value: the shape is still the shape.
        scaled = any(h.scale is None for h in result.histograms if h.quantity == quantity)
        ax.set_xlabel(label + (" (units of 2^e)" if scaled and quantity != "delta" else ""))
        ax.set_ylabel("share of values per bin")
        if ax.patches:
            ax.legend(loc="best")


# ---------------------------------------------------------------- compare, --seeds


def runs(result: Runs):
    """compare and ``--seeds``: one line per pair (mean over seeds), theory dashed in the
    same colour, the seeds' min-max band shaded."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from varprop.render.runs import setup

    aggs, first = result.aggregates, result.groups[0][0]
    fig, (var_ax, grad_ax) = _figure(2)
    for i, (agg, label) in enumerate(zip(aggs, result.labels, strict=True)):
        colour = f"C{i % 10}"
        x = [band.layer for band in agg.layers]
        weight_var = num(result.groups[i][0].config.weight_var)
        for ax, measured, predicted, word, votes in (
            (var_ax, "log10_preact_var", "log10_theory_preact_var", agg.forward, agg.forward_votes),
            (grad_ax, "log10_grad_rms", "log10_theory_grad_rms", agg.backward, agg.backward_votes),
        ):
            bands = [getattr(layer, measured) for layer in agg.layers]
            ax.plot(
                *_xy(x, [b.mean for b in bands]),
                color=colour,
                label=f"{label} ({weight_var}): {votes_text(word, votes)}",
            )
            ax.plot(
                *_xy(x, [getattr(layer, predicted) for layer in agg.layers]),
                color=colour,
                linestyle="--",
                linewidth=1,
                label=f"_theory {label}",
            )
            if result.seeds > 1:
                stated = [(xi, b) for xi, b in zip(x, bands, strict=True) if b.min is not None]
                ax.fill_between(
                    [xi for xi, _ in stated],
                    [b.min for _, b in stated],
                    [b.max for _, b in stated],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                    label=f"_band {label}",
                )
    for ax, ylabel in ((var_ax, f"log10 {var_name(first.config)}"), (grad_ax, "log10 RMS(δ)")):
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.4", linestyle="--", label=THEORY_LABEL))
        if result.seeds > 1:
            handles.append(Patch(color="0.4", alpha=0.2, label=f"min-max, {result.seeds} seeds"))
        _layer_axes(ax, ylabel, first.config.depth)
        ax.legend(handles=handles, title="pair (sigma_w^2): verdict", loc="best")
    var_ax.set_title("forward: the signal")
    grad_ax.set_title("backward: the gradient δ = dL/dh")
    seeds = [r.config.seed for r in result.groups[0]]
    head = (
        f"{result.labels[0]}, mean of {result.seeds} seeds"
        if result.kind == "seeds"
        else "compare " + ", ".join(result.labels)
    )
    fig.suptitle(f"{head}\n{setup(first, seeds, blocks=True)}")
    return fig


# ---------------------------------------------------------------- grid


def grid(result: Runs):
    """Heat maps of both log10 ratios, init x activation, each cell with its value and
    short verdict; the literature's pairs boxed."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    from varprop.render.runs import setup

    aggs, inits, acts = result.aggregates, result.inits, result.acts
    n_i, n_a = len(inits), len(acts)
    size = (max(WIDE[0], 2.0 + 1.6 * n_a), max(3.0, 1.6 + 0.55 * n_i))
    fig, axes = _figure(2, size)
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.85")
    for ax, field, word_of, title in (
        (axes[0], "log10_preact_var_ratio", "forward", "log10 Var(h) layer L / layer 1"),
        (axes[1], "log10_grad_rms_ratio", "backward", "log10 RMS(δ) layer 1 / layer L"),
    ):
        means = [getattr(agg, field).mean for agg in aggs]
        values = np.array([np.nan if v is None else v for v in means]).reshape(n_i, n_a)
        finite = np.abs(values[np.isfinite(values)])
        top = float(finite.max()) if finite.size else 0.0
        lim = min(max(top, STABLE_DECADES), GRID_CLIP)
        image = ax.imshow(
            np.ma.masked_invalid(values), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto"
        )
        fig.colorbar(image, ax=ax, extend="both" if top > lim else "neither", shrink=0.9)
        for k, agg in enumerate(aggs):
            i, j = divmod(k, n_a)
            v = values[i, j]
            word = getattr(agg, word_of)
            text = ("n/a" if math.isnan(v) else f"{v:+.1f}") + "\n" + SHORT.get(word, word)
            dark = not math.isnan(v) and abs(v) > 0.6 * lim
            ax.text(
                j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black"
            )
            if is_matched(inits[i], acts[j]):
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        fill=False,
                        linewidth=2.5,
                        edgecolor="black",
                        label=f"_matched {inits[i]}:{acts[j]}",
                    )
                )
        ax.set_xticks(range(n_a), acts)
        ax.set_yticks(range(n_i), inits)
        ax.set_xlabel("activation")
        ax.set_ylabel("initializer")
        ax.set_title(title)
        ax.grid(False)
    seeds = [r.config.seed for r in result.groups[0]]
    fig.suptitle(
        f"grid {n_i} x {n_a}: {setup(result.groups[0][0], seeds, blocks=True)}\n"
        "boxed: the pair the literature prescribes; ok stable, van vanishing, exp exploding, "
        "sat saturated, pow power-law"
    )
    return fig


# ---------------------------------------------------------------- theory


def theory(result: TheoryResult):
    """q_l, chi_l and log10 RMS(δ) against depth; q* and chi = 1 as horizontal lines."""
    c, s, layers = result.config, result.summary, result.layers
    fig, (q_ax, chi_ax, grad_ax) = _figure(3, (10.0, 4.0))
    x = [t.layer for t in layers]
    q_ax.plot(
        *_xy(x, [t.log10_preact_var for t in layers]),
        color="C0",
        label=f"q_l: {verdict_text(s.forward, s.forward_exponent)}",
    )
    q_star = log10_of(s.q_star)
    if q_star is not None:
        q_ax.axhline(q_star, color="0.3", linestyle=":", label=f"q* = {num(s.q_star)}")
    chi_word = ", ".join(
        p for p in (s.phase, f"chi_1 = {num(s.chi_1)}" if s.chi_1 is not None else "") if p
    )
    chi_ax.plot(
        *_xy(x, [t.chi for t in layers]),
        color="C1",
        label="chi_l" + (f": {chi_word}" if chi_word else ""),
    )
    chi_ax.axhline(1.0, color="0.3", linestyle=":", label="chi = 1 (critical)")
    grad_ax.plot(
        *_xy(x, [t.log10_grad_rms for t in layers]),
        color="C2",
        label=f"RMS(δ): {verdict_text(s.backward, s.backward_exponent)}",
    )
    _layer_axes(q_ax, f"log10 q_l = log10 {var_name(c)}", c.depth)
    _layer_axes(chi_ax, "chi_l (gradient factor per layer)", c.depth)
    _layer_axes(grad_ax, "log10 RMS(δ)", c.depth)
    q_ax.set_title("forward: q_l")
    chi_ax.set_title("chi_l = sigma_w^2 E[phi'(h)^2]")
    grad_ax.set_title("backward: RMS(δ)")
    parts = [
        f"depth {c.depth}",
        width_text(c),
        f"sigma_w^2 {num(c.weight_var)}",
        f"sigma_b^2 {num(c.bias_var)}",
        f"E[a0^2] {num(c.input_second_moment)}",
    ]
    if block_text(c):
        parts.append(block_text(c))
    fig.suptitle(f"theory: {c.init} + {c.act} (mean field, infinite width)\n{', '.join(parts)}")
    return fig


# ---------------------------------------------------------------- recommend


def recommend(result: RecommendResult):
    """Each named init's per-layer factors (log10 bars), and its sigma_w^2 beside the
    criteria's; one row per init in both panels."""
    import numpy as np

    from varprop.render.advice import CRITERION_TITLES, short_verdicts

    inits = result.inits
    fig, (bar_ax, var_ax) = _figure(2, sharey=True, width_ratios=(3, 2))
    ys = np.arange(len(inits))

    def log10s(values):
        return [np.nan if (v := log10_of(x)) is None else v for x in values]

    bar_ax.barh(
        ys - 0.2,
        log10s(i.forward_factor for i in inits),
        0.4,
        color="C0",
        label="Var(h), layer to layer",
    )
    bar_ax.barh(
        ys + 0.2,
        log10s(i.grad_factor for i in inits),
        0.4,
        color="C1",
        label="RMS(δ), toward the input",
    )
    bar_ax.axvline(0.0, color="black", linewidth=0.8)
    bar_ax.set_yticks(ys, [f"{i.init}  {short_verdicts(i)}" for i in inits])
    bar_ax.invert_yaxis()
    bar_ax.set_xlabel("log10 factor per layer")
    bar_ax.set_title(f"named inits: factors, verdicts over {result.depth} layers")
    bar_ax.legend(loc="best")

    var_ax.scatter([i.sigma_w2 for i in inits], ys, color="black", zorder=3)
    var_ax.set_xscale("log")
    for k, crit in enumerate(c for c in result.criteria if c.sigma_w2 is not None):
        name = CRITERION_TITLES.get(crit.name, crit.name)
        var_ax.axvline(crit.sigma_w2, color=f"C{k + 2}", linestyle="--",
                       label=f"{name}: {num(crit.sigma_w2, 4)}")  # fmt: skip
    if result.best_sigma_w2 is not None:
        var_ax.axvline(result.best_sigma_w2, color="black", linewidth=1.5,
                       label=f"best: {num(result.best_sigma_w2, 4)}")  # fmt: skip
    var_ax.set_xlabel("sigma_w^2")
    var_ax.set_title("sigma_w^2: named inits and criteria")
    var_ax.legend(loc="best")
    best = (
        f"best: --init {result.best_init} (sigma_w^2 {num(result.best_sigma_w2, 4)}, "
        f"from {result.best_criterion.replace('_', ' ')})"
        if result.best_sigma_w2 is not None and result.best_init and result.best_criterion
        else "no criterion answers"
    )
    fig.suptitle(
        f"recommend: {result.act}, sigma_b^2 {num(result.bias_var)}, depth {result.depth}, "
        f"width {result.width}\n{best}"
    )
    return fig


# ---------------------------------------------------------------- phase


def phase(result: PhaseResult):
    """The sigma_w^2 x sigma_b^2 plane coloured by log10 chi_1 (blue ordered, red
    chaotic), the order-to-chaos line chi_1 = 1, q* contours and the named inits."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    ws, bs = np.array(result.weight_vars), np.array(result.bias_vars)
    chi = np.array([[np.nan if v is None else v for v in row] for row in result.chi_1])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chi = np.where(chi > 0, np.log10(chi), np.nan)  # (bias, weight)
    finite = log_chi[np.isfinite(log_chi)]
    # Diverging at chi_1 = 1, each side to its own extreme, so a faint phase still shows.
    lo = min(float(finite.min()) if finite.size else 0.0, -PHASE_MIN)
    hi = max(float(finite.max()) if finite.size else 0.0, PHASE_MIN)
    fig, ax = _figure(1, (9.0, 5.0))
    norm = TwoSlopeNorm(vcenter=0.0, vmin=lo, vmax=hi)
    mesh = ax.pcolormesh(ws, bs, np.ma.masked_invalid(log_chi), shading="nearest",
                         cmap=colormaps["RdBu_r"].with_extremes(bad="0.85"), norm=norm)  # fmt: skip
    fig.colorbar(mesh, ax=ax, label="log10 chi_1 (0: critical)")

    q = np.array([[np.nan if v is None else v for v in row] for row in result.q_star])
    levels = _levels(q[np.isfinite(q)])
    if min(q.shape) >= 2 and len(levels) >= 1:
        contours = ax.contour(ws, bs, np.ma.masked_invalid(q), levels=levels, colors="0.35",
                              linewidths=0.8)  # fmt: skip
        ax.clabel(contours, fontsize=9, fmt=lambda v: f"q* {v:g}")

    line = [(p.sigma_w2, p.sigma_b2) for p in result.critical_line if p.sigma_w2 is not None]
    if line:
        ax.plot(*zip(*line, strict=True), color="black", linewidth=2, marker="." * (len(line) < 3),
                label="order-to-chaos: chi_1 = 1")  # fmt: skip

    inside = [i for i in result.inits if ws.min() <= i.sigma_w2 <= ws.max()]
    outside = [i for i in result.inits if i not in inside]
    ax.scatter([i.sigma_w2 for i in inside], [i.sigma_b2 for i in inside], color="black",
               edgecolor="white", zorder=3, s=40, label="named inits (sigma_b^2 = 0)")  # fmt: skip
    places: dict[tuple[float, float], list[str]] = {}
    for i in inside:
        places.setdefault((i.sigma_w2, i.sigma_b2), []).append(i.init)
    for (w, b), names in places.items():
        ax.annotate("\n".join(names), (w, b), xytext=(4, 6), textcoords="offset points",
                    fontsize=9, va="bottom", bbox=LABEL_BOX)  # fmt: skip
    ax.set_xlim(ws.min(), ws.max())
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("sigma_b^2")
    ax.legend(loc="upper left")
    ax.grid(False)
    note = ", ".join(f"{i.init} ({num(i.sigma_w2)})" for i in outside)
    fig.suptitle(
        f"phase diagram: {result.act} (mean field; named inits at width {result.width})\n"
        "blue: ordered (chi_1 < 1, gradients vanish); red: chaotic (chi_1 > 1, they explode)"
        + (f"\noff the map: {note}" if note else "")
    )
    return fig


def _levels(values, most: int = 6) -> list[float]:
    """q* contour levels: 1-2-5 steps inside the values' range (q* spans decades near
    a divergence), thinned to at most ``most``."""
    positive = values[values > 0]
    if positive.size < 2:
        return []
    lo, hi = float(positive.min()), float(positive.max())
    steps = [m * 10.0**e for e in range(-4, 8) for m in (1, 2, 5)]
    inside = [v for v in steps if lo < v < hi]
    return inside[:: -(-len(inside) // most)] if inside else []
