"""Per-layer tables: ``simulate`` (one run or several seeds) and ``theory``.

Each is a title, the table (at most about 20 layers unless --every), the verdict lines,
the fix, and one legend line; ``--explain`` adds the full legend and the reasoning.
Columns leave in a fixed order on a narrow screen (the drop ranks below), never the
layer or the main figures.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from varprop.render import View
from varprop.render.hist import hist_rows
from varprop.render.layout import Adaptive, Column, Screen, draw
from varprop.render.numbers import factor, fixed, num, percent, rows_to_show, sci, stated
from varprop.render.terms import (
    LEGEND,
    SHORT,
    advice,
    block_text,
    drift_legend,
    drift_style,
    legend_hint,
    rows_note,
    seed_text,
    stack_kind,
    uniform,
    var_name,
    verdict,
    width_text,
)
from varprop.results import SimulationResult, TheoryResult
from varprop.words import verdict_text


def events(result: SimulationResult) -> list[int]:
    """0-based layers where something happens: the overflow, saturation passing half."""
    out = []
    if result.summary.overflow_layer is not None:
        out.append(result.summary.overflow_layer - 1)
    half = next((i for i, s in enumerate(result.layers) if (s.saturated_frac or 0) > 0.5), None)
    if half is not None:
        out.append(half)
    return out


# ---------------------------------------------------------------- simulate, one run


def simulate(result: SimulationResult, view: View) -> Adaptive:
    return Adaptive(lambda screen: _simulate(result, view, screen))


def _simulate(result: SimulationResult, view: View, screen: Screen) -> Group:
    c, layers = result.config, result.layers
    rows = rows_to_show(len(layers), view.every, events(result))
    v1 = layers[0].log10_preact_var
    g_top = layers[-1].log10_grad_rms  # gradients start at the output, layer L
    picked = [layers[i] for i in rows]
    columns = [
        Column("layer", [str(s.layer) for s in picked]),
        Column(
            var_name(c),
            [
                Text(
                    stated(s.log10_preact_var, s.preact_var),
                    style=drift_style(s.log10_preact_var, v1, screen),
                )
                for s in picked
            ],
        ),
        Column("theory", [sci(s.log10_theory_preact_var) for s in picked], drop=3),
        Column("mean(a)", [num(s.act_mean) for s in picked], drop=5),
        Column("sat.", [_sat(s.saturated_frac, screen) for s in picked], drop=4),
        Column(
            "RMS(δ)",
            [
                Text(
                    stated(s.log10_grad_rms, s.grad_rms),
                    style=drift_style(s.log10_grad_rms, g_top, screen),
                )
                for s in picked
            ],
        ),
        Column("theory", [sci(s.log10_theory_grad_rms) for s in picked], drop=3),
        Column(
            "‖dL/dW‖",
            [stated(s.log10_weight_grad_norm, s.weight_grad_norm) for s in picked],
            drop=6,
        ),
    ]
    parts = [
        _simulate_title(result),
        draw(columns, screen),
        rows_note(len(rows), len(layers)),
        summary_lines(result, screen),
        advice(result.summary.fix, result.summary.limit),
    ]
    if result.histograms:
        parts += [
            Text(),
            hist_rows(result.histograms, width=screen.width, plain=not screen.unicode),
        ]
    if view.explain:
        parts.append(_explain(result, screen))
    else:
        parts.append(legend_hint("δ = dL/dh; theory: mean field at infinite width"))
    return Group(*parts)


def _sat(share: float | None, screen: Screen) -> Text:
    return Text(percent(share), style=screen.style("yellow") if (share or 0) > 0.5 else "")


def _simulate_title(result: SimulationResult) -> Text:
    c = result.config
    title = Text(f"{c.init} + {c.act}", style="bold")
    title.append(f"  depth {c.depth}  {width_text(c)}  batch {c.batch}  seed {c.seed}  {c.dtype}\n")
    title.append(
        f"sigma_w^2 {num(c.weight_var)}{'' if uniform(c) else ' (last layer)'}  "
        f"bias std {num(c.bias_std)}"
    )
    if c.input != "normal":
        title.append(f"  input {c.input}, {c.widths[0]} features")
    if block_text(c):
        title.append(f"\n{block_text(c)}")
    lsuv = result.summary.lsuv
    if lsuv:
        its = [x["iterations"] for x in lsuv["layers"]]
        title.append(
            f"\nLSUV: every layer's Var(h) within {lsuv['tolerance']:g} of 1"
            if lsuv["converged"]
            else "\nLSUV: NOT every layer reached Var(h) within "
            f"{lsuv['tolerance']:g} of 1 in {lsuv['max_iterations']} iterations"
        )
        title.append(f" ({sum(its)} rescalings, at most {max(its)} per layer)")
    return title


def summary_lines(result: SimulationResult, screen: Screen) -> Text:
    """The verdict lines under a simulate table, then the fix."""
    s, c, L = result.summary, result.config, result.config.depth
    out = Text()
    for label, word, exponent, ratio, log10, per_layer in (
        (
            "forward: ",
            s.forward,
            s.forward_exponent,
            f"{var_name(c)} layer {L} / layer 1",
            s.log10_preact_var_ratio,
            s.forward_factor,
        ),
        (
            "backward:",
            s.backward,
            s.backward_exponent,
            f"RMS(δ) layer 1 / layer {L}",
            s.log10_grad_rms_ratio,
            s.backward_factor,
        ),
    ):
        out.append(f"{label} ")
        out.append_text(verdict(word, screen, exponent))
        out.append(f"  {ratio} = {sci(log10)}")
        if per_layer is not None:
            out.append(f", x{num(per_layer, 4)} per layer")
        out.append("\n")
    sat = result.layers[-1].saturated_frac
    if sat:
        out.append(f"saturated: {percent(sat)} at layer {L} ({_saturation_meaning(result)})\n")
    if s.overflow_layer is not None:
        out.append(
            f"{s.overflow_kind or 'overflow'}: values left {c.dtype} range at layer "
            f"{s.overflow_layer}; forward figures stop there, and no gradient can be stated "
            "(backpropagation starts at the last layer)\n",
            style=screen.style("bold red"),
        )
    if s.theory_max_log10_error is not None:
        out.append(
            f"theory:   largest |log10(measured / theory)| of {var_name(c)} = "
            f"{fixed(s.theory_max_log10_error, 2)} (finite width {min(c.widths[1:])})\n"
        )
    out.rstrip()
    return out


def _dead(result) -> bool:
    from varprop.activations import get_activation

    return get_activation(result.config.act).saturation == "dead"


def _saturation_meaning(result: SimulationResult) -> str:
    return "negative on every sample" if _dead(result) else "in the flat part"


def _explain(result: SimulationResult, screen: Screen) -> Text:
    s = result.summary
    out = Text(style="dim")
    out.append(LEGEND[stack_kind(result.config)] + "\n" + drift_legend(screen))
    if _dead(result) and result.layers[-1].saturated_frac:
        # Deep ReLU-like stacks make the samples alike (their correlation tends to 1), so
        # a unit ends up negative for all of them: up to about half the units, any init.
        out.append(
            "\nDead units: deep stacks make the samples alike, so a unit negative on one is "
            "negative on all; up to about half the units get there, whatever the init."
        )
    if s.theory_forward is not None:
        out.append(
            f"\nTheory judges this very setting forward {verdict_text(s.theory_forward)}, "
            f"backward {verdict_text(s.theory_backward or 'unknown')}, with the same rule."
        )
    if s.fix is not None:
        out.append(
            "\nThe fix is the setting theory judges stable both ways, and robustly so (its "
            "verdicts survive the finite-width spread), over this run's own widths and input: "
            f"found by {s.fix.source}, among every named init, each criterion of `varprop "
            "recommend` and the edge of chaos with a bias."
        )
    return out


# ---------------------------------------------------------------- simulate --seeds


def seeds(runs, view: View) -> Adaptive:
    return Adaptive(lambda screen: _seeds(runs, view, screen))


def _seeds(runs, view: View, screen: Screen) -> Group:
    group = runs.groups[0]
    agg = runs.aggregates[0]
    c = group[0].config
    title = Text(
        f"{c.init} + {c.act}  depth {c.depth}  width {c.width}  batch {c.batch}  "
        f"{seed_text(agg.seeds)}  {c.dtype}\n"
        f"sigma_w^2 {num(c.weight_var)}  bias std {num(c.bias_std)}",
        style="bold",
    )
    rows = rows_to_show(len(agg.layers), view.every, sorted({e for r in group for e in events(r)}))
    picked = [agg.layers[i] for i in rows]
    v1 = agg.layers[0].log10_preact_var.mean
    gL = agg.layers[-1].log10_grad_rms.mean
    columns = [
        Column("layer", [str(s.layer) for s in picked]),
        Column(
            var_name(c),
            [
                Text(
                    sci(s.log10_preact_var.mean),
                    style=drift_style(s.log10_preact_var.mean, v1, screen),
                )
                for s in picked
            ],
        ),
        Column("± dec", [spread(s.log10_preact_var) for s in picked], drop=5),
        Column("min–max", [band_text(s.log10_preact_var) for s in picked], drop=7),
        Column("theory", [sci(s.log10_theory_preact_var) for s in picked], drop=3),
        Column("sat.", [percent(s.saturated_frac.mean) for s in picked], drop=4),
        Column(
            "RMS(δ)",
            [
                Text(
                    sci(s.log10_grad_rms.mean), style=drift_style(s.log10_grad_rms.mean, gL, screen)
                )
                for s in picked
            ],
        ),
        Column("± dec", [spread(s.log10_grad_rms) for s in picked], drop=5),
        Column("theory", [sci(s.log10_theory_grad_rms) for s in picked], drop=3),
    ]
    parts = [
        title,
        draw(columns, screen),
        rows_note(len(rows), len(agg.layers)),
        seeds_summary(runs, screen),
    ]
    hint = "geometric mean (mean of log10) over seeds; ± dec: half the min–max band, in decades"
    if view.explain:
        parts.append(
            Text(
                f"{LEGEND[stack_kind(c)]}\n{drift_legend(screen)}\n{seeds_note(len(agg.seeds))}",
                style="dim",
            )
        )
    else:
        parts.append(legend_hint(hint))
    return Group(*parts)


def spread(band) -> str:
    """Half the min-max band, in decades (log10)."""
    if band.n < 2 or band.min is None or band.max is None:
        return ""
    return f"±{fixed((band.max - band.min) / 2, 2)}"


def band_text(band, digits: int = 2) -> str:
    """``min-max`` of the values themselves (10**log10)."""
    if band.n < 2 or band.min is None or band.max is None:
        return ""
    return f"{sci(band.min, digits)}–{sci(band.max, digits)}"


def seeds_note(n: int) -> str:
    return (
        f"Over {n} seeds: geometric mean (mean of log10) and the min–max band; "
        "± is half that band in decades (log10)."
    )


def seeds_summary(runs, screen: Screen):
    """Verdict lines under a ``simulate --seeds`` table."""
    agg = runs.aggregates[0]
    group = runs.groups[0]
    L = len(agg.layers)
    name = var_name(group[0].config)
    out = Text()
    for label, word, votes, band, per_layer, what in (
        (
            "forward:  ",
            agg.forward,
            agg.forward_votes,
            agg.log10_preact_var_ratio,
            agg.log10_forward_factor,
            f"{name} layer {L} / layer 1",
        ),
        (
            "backward: ",
            agg.backward,
            agg.backward_votes,
            agg.log10_grad_rms_ratio,
            agg.log10_backward_factor,
            f"RMS(δ) layer 1 / layer {L}",
        ),
    ):
        out.append(label)
        out.append_text(verdict(word, screen))
        n = sum(votes.values())
        others = ", ".join(f"{SHORT.get(k, k)} {v}" for k, v in votes.items() if k != word)
        out.append(f" ({votes.get(word, 0)} of {n} seeds{'; ' + others if others else ''})")
        out.append(f"  {what} = {sci(band.mean)}")
        if band.n > 1:
            out.append(f" ({band_text(band, 3)})")
        if per_layer.mean is not None:
            out.append(f", {factor(per_layer.mean, 4)} per layer")
        out.append("\n")
    if agg.overflowed:
        out.append(
            f"{agg.overflowed} of {len(agg.seeds)} seeds left float range; their figures "
            "stop there and the means use the seeds that could be stated\n",
            style=screen.style("bold red"),
        )
    out.rstrip()
    if not agg.stable:
        first = next((r.summary for r in group if r.summary.fix or r.summary.limit), None)
        if first is not None:
            return Group(out, advice(first.fix, first.limit))
    return out


# ---------------------------------------------------------------- theory


def theory(result: TheoryResult, view: View) -> Adaptive:
    return Adaptive(lambda screen: _theory(result, view, screen))


def _theory(result: TheoryResult, view: View, screen: Screen) -> Group:
    c, layers = result.config, result.layers
    title = Text(
        f"theory: {c.init} + {c.act}  depth {c.depth}  (infinite width)\n"
        f"sigma_w^2 {num(c.weight_var)}  sigma_b^2 {num(c.bias_var)}  "
        f"E[a0^2] {num(c.input_second_moment)}",
        style="bold",
    )
    if block_text(c):
        title.append(f"\n{block_text(c)}")
    rows = rows_to_show(len(layers), view.every)
    picked = [layers[i] for i in rows]
    top = layers[-1].log10_grad_rms
    q1 = layers[0].log10_preact_var

    def cumulative(t):
        return None if t.log10_grad_rms is None or top is None else t.log10_grad_rms - top

    q_name = "q = " + var_name(c)
    columns = [
        Column("layer", [str(t.layer) for t in picked]),
        Column(
            q_name,
            [
                Text(sci(t.log10_preact_var), style=drift_style(t.log10_preact_var, q1, screen))
                for t in picked
            ],
        ),
        Column("Var(a)", [sci(t.log10_act_var) for t in picked], drop=3),
        Column("chi", [num(t.chi, 4) for t in picked], drop=2),
        Column("RMS(δ)", [sci(t.log10_grad_rms) for t in picked]),
        Column(
            "δ_l / δ_L",
            [
                Text(sci(cumulative(t)), style=drift_style(cumulative(t), 0.0, screen))
                for t in picked
            ],
            drop=4,
        ),
    ]
    parts = [
        title,
        draw(columns, screen),
        rows_note(len(rows), len(layers)),
        theory_summary(result, screen),
    ]
    if view.explain:
        parts.append(
            Text(
                "q: the pre-activation variance; chi = sigma_w^2 E[phi'(h)^2], the gradient's "
                "per-layer factor in mean square; δ_l / δ_L: the gradient RMS at layer l over "
                f"layer L.\n{drift_legend(screen)}",
                style="dim",
            )
        )
    else:
        parts.append(legend_hint("infinite width, no sampling; chi: gradient factor per layer"))
    return Group(*parts)


def theory_summary(result: TheoryResult, screen: Screen) -> Text:
    s = result.summary
    out = Text()
    fixed_point = {
        "fixed": f"q* = {num(s.q_star, 4)}",
        "zero": "q* = 0 (the signal fades toward zero)",
        "every": "every q is a fixed point (homogeneous activation, critical weight variance)",
        "diverges": "no fixed point: q grows without bound",
    }.get(s.fixed_point or "", "no fixed point")
    out.append(f"fixed point: {fixed_point}")
    if s.fixed_point_stable is not None:
        out.append(
            "  (stable)" if s.fixed_point_stable else "  (UNSTABLE)",
            style=screen.style("green" if s.fixed_point_stable else "bold red"),
        )
    out.append(f"\nchi_1 = {num(s.chi_1, 4)}  phase: ")
    out.append(
        s.phase or "-", style=screen.style("bold green" if s.phase == "critical" else "bold")
    )
    out.append(f"  xi_q = {depth_scale(s.xi_q, s.fixed_point)}\n")
    if s.c_star is not None:
        out.append(
            f"correlation map: c* = {num(s.c_star, 4)}  chi_c = {num(s.chi_c, 4)}"
            f"  xi_c = {depth_scale(s.xi_c, s.fixed_point)}\n"
        )
    out.append("forward:  ")
    out.append_text(verdict(s.forward, screen, s.forward_exponent))
    out.append(f"  q_L / q_1 = {sci(s.log10_preact_var_ratio)}\n")
    out.append("backward: ")
    out.append_text(verdict(s.backward, screen, s.backward_exponent))
    out.append(f"  RMS(δ) layer 1 / layer L = {sci(s.log10_grad_rms_ratio)}")
    if s.note:
        out.append(f"\n{s.note}", style="dim")
    return out


def depth_scale(xi: float | None, fixed_point: str | None = None) -> str:
    """Depth scale in layers per e-fold: unbounded at criticality, undefined when q diverges."""
    if xi is None:
        return "-" if fixed_point in (None, "diverges") else "∞ (critical)"
    return f"{xi:.3g} layers" + (" (growth)" if xi < 0 else "")
