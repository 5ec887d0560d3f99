"""Results -> rich renderables (tables) or strings (JSON, CSV).  The only output layer.

Renderers return something printable; the CLI prints it.  JSON and CSV keep full
precision; only tables round.  No renderer ever writes ``nan`` or ``inf``: a value
that cannot be stated is ``null`` in JSON, empty in CSV, and ``-`` in a table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import fields

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from varprop.judge import STABLE_DECADES
from varprop.results import LAYER_FIELDS, SimulationResult
from varprop.words import fix_text, limit_text, verdict_text

VERDICT_STYLE = {
    "stable": "bold green",
    "vanishing": "bold blue",
    "exploding": "bold red",
    "saturated": "bold yellow",
    "power-law": "bold cyan",
    "overflow": "bold red",
    "unknown": "bold magenta",
}


# ---------------------------------------------------------------- number formatting


def sci(log10: float | None, digits: int = 3) -> str:
    """``10**log10`` in scientific notation, stated however far outside float range."""
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


def log10_of(x: float | None) -> float | None:
    return math.log10(x) if x is not None and x > 0 else None


def relative_style(log10: float | None, first: float | None, inside: str = "") -> str:
    """Red above 1e2 times ``first``, blue below 1e-2 times it, ``inside`` between."""
    if log10 is None or first is None:
        return "dim" if inside else ""
    drift = log10 - first
    if drift > STABLE_DECADES:
        return "red"
    if drift < -STABLE_DECADES:
        return "blue"
    return inside


def thin(n: int, every: int) -> list[int]:
    """0-based indices of rows to show: every ``every``-th layer, always first and last."""
    keep = set(range(0, n, max(every, 1))) | {0, n - 1}
    return sorted(i for i in keep if 0 <= i < n)


# ---------------------------------------------------------------- simulate


def simulate_table(result: SimulationResult, *, every: int = 1) -> Group:
    """Per-layer table with the verdict and advice under it; fits 80 columns."""
    c = result.config
    # The set-up on its own lines, above the table: a table title would wrap at the
    # table's width, not the terminal's.
    title = Text(f"{c.init} + {c.act}", style="bold")
    title.append(f"  depth {c.depth}  {width_text(c)}  batch {c.batch}  seed {c.seed}  {c.dtype}\n")
    title.append(
        f"sigma_w^2 {num(c.weight_var)}{'' if uniform(c) else ' (last layer)'}  "
        f"bias std {num(c.bias_std)}"
    )
    if c.input != "normal":
        title.append(f"  input {c.input}, {c.widths[0]} features")
    blocks = block_text(c)
    if blocks:
        title.append(f"\n{blocks}")
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
    residual = c.block == "residual"
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    var_name = "Var(x)" if residual else "Var(h)"
    for name in ("layer", var_name, "theory", "mean(a)", "sat.", "RMS(δ)", "theory", "‖dL/dW‖"):
        # fold, never "…": a narrow terminal wraps a number rather than hiding digits
        table.add_column(name, justify="right", overflow="fold", min_width=5)
    layers = result.layers
    v1 = layers[0].log10_preact_var
    # Gradients start at the output: colour them against layer L, where backprop begins.
    g_top = layers[-1].log10_grad_rms
    for i in thin(len(layers), every):
        s = layers[i]
        table.add_row(
            str(s.layer),
            Text(
                stated(s.log10_preact_var, s.preact_var),
                style=relative_style(s.log10_preact_var, v1),
            ),
            sci(s.log10_theory_preact_var),
            num(s.act_mean),
            _percent(s.saturated_frac),
            Text(
                stated(s.log10_grad_rms, s.grad_rms), style=relative_style(s.log10_grad_rms, g_top)
            ),
            sci(s.log10_theory_grad_rms),
            stated(s.log10_weight_grad_norm, s.weight_grad_norm),
        )
    legend = LEGEND_RESIDUAL if residual else LEGEND_NORM if c.norm != "none" else LEGEND
    return Group(title, table, summary_text(result), Text(legend, style="dim"))


def block_text(c) -> str:
    """``residual blocks, alpha 0.1, layer norm`` (empty for a plain stack)."""
    parts = []
    if getattr(c, "block", "plain") == "residual":
        parts.append(f"residual blocks, alpha {num(c.branch_scale, 4)}")
    if getattr(c, "norm", "none") != "none":
        parts.append(f"{c.norm} norm before phi")
    return ", ".join(parts)


LEGEND = (
    "h = a W + b, a = phi(h), δ = dL/dh.  theory: mean field, infinite width.  "
    "sat.: units in the flat part, or dead on the whole batch.  red/blue: above 1e2 / "
    "below 1e-2 times layer 1 (Var) or layer L (RMS(δ), where backprop starts); the "
    "verdicts use the same band on the last (Var) or first (RMS(δ)) layer; an "
    "algebraic drift (l^p) reads power-law."
)


LEGEND_NORM = (
    "h = a W + b, a = phi(N(h)), δ = dL/dh (through the norm N).  theory: mean field, "
    "infinite width and batch.  sat.: units in the flat part, or dead on the whole batch.  "
    "red/blue: above 1e2 / below 1e-2 times layer 1 (Var) or layer L (RMS(δ))."
)
LEGEND_RESIDUAL = (
    "x_l = x_(l-1) + alpha (a W + b), a = phi(N(x_(l-1))), δ = dL/dx; mean(a) and sat.: "
    "the branch's a.  theory: mean field, infinite width.  red/blue: above 1e2 / below "
    "1e-2 times layer 1 (Var) or layer L (RMS(δ))."
)


def uniform(c) -> bool:
    """Every layer as wide as the others (the input's own width n_0 aside)."""
    return len(set(c.widths[1:])) <= 1


def width_text(c) -> str:
    """``width 512``, or the chain ``widths 512-784-256-10``."""
    n = c.widths
    if uniform(c):
        return f"width {n[-1] if n else c.width}"
    return "widths " + ("-".join(map(str, n)) if len(n) <= 8 else f"{n[0]}-{n[1]}-...-{n[-1]}")


def _percent(x: float | None) -> Text:
    if x is None:
        return Text("-")
    return Text(f"{100 * x:.1f}%", style="yellow" if x > 0.5 else "")


def summary_text(result: SimulationResult) -> Text:
    """The verdict lines under a simulate table."""
    s, L = result.summary, result.config.depth
    var_name = "Var(x)" if getattr(result.config, "block", "plain") == "residual" else "Var(h)"
    out = Text()
    for label, word, ratio, log10, factor in (
        ("forward: ", s.forward, f"{var_name} layer {L} / layer 1", s.log10_preact_var_ratio,
         s.forward_factor),
        ("backward:", s.backward, f"grad RMS layer 1 / layer {L}", s.log10_grad_rms_ratio,
         s.backward_factor),
    ):  # fmt: skip
        out.append(f"{label} ")
        exponent = s.forward_exponent if label.startswith("forward") else s.backward_exponent
        out.append(verdict_text(word, exponent), style=VERDICT_STYLE.get(word, ""))
        per_layer = f", x{num(factor, 4)} per layer" if factor is not None else ""
        out.append(f"  {ratio} = {sci(log10)}{per_layer}\n")
    last = result.layers[-1]
    sat = last.saturated_frac
    if sat:
        out.append(f"saturated: {100 * sat:.1f}% at layer {L} ({_saturation_meaning(result)})\n")
    if s.overflow_layer is not None:
        out.append(
            f"{s.overflow_kind or 'overflow'}: values left {result.config.dtype} range at layer "
            f"{s.overflow_layer}; forward figures stop there, and no gradient can be stated "
            "(backpropagation starts at the last layer)\n",
            style="bold red",
        )
    if s.theory_max_log10_error is not None:
        out.append(
            f"theory:   largest |log10(measured / theory)| of Var(h) = "
            f"{s.theory_max_log10_error:.2f} (finite width {min(result.config.widths[1:])})\n"
        )
    out.append(advice_text(s.fix, s.limit))
    out.rstrip()
    return out


def advice_text(fix, limit: str | None) -> Text:
    """The ``fix:`` line (or why there is none) under a verdict block."""
    out = Text()
    if fix is not None:
        out.append("fix:      ", style="bold")
        out.append(fix_text(fix) + "\n")
        expect = ", ".join(f"{k} {v}" for k, v in fix.expect.items())
        out.append(f"          expect: {expect}\n", style="dim")
    elif limit is not None:
        out.append("no fix:   ", style="bold")
        out.append(limit_text(limit) + "\n")
    return out


def _saturation_meaning(result: SimulationResult) -> str:
    from varprop.activations import get_activation

    act = get_activation(result.config.act)
    if act.saturation == "dead":
        # Deep ReLU-like stacks make the samples alike (their correlation tends to 1), so
        # a unit ends up negative for all of them: up to about half the units, any init.
        return "negative on every sample; deep stacks make samples alike, so up to half get there"
    return "units in the flat part"


# ---------------------------------------------------------------- JSON and CSV


def to_json(obj: dict) -> str:
    """Strict JSON: refuses nan/inf instead of writing them."""
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def simulate_json(result: SimulationResult) -> str:
    return to_json(result.to_dict())


def runs_json(results: Sequence[SimulationResult]) -> str:
    from varprop import __version__

    return to_json({"varprop_version": __version__, "runs": [r.to_dict() for r in results]})


CSV_KEYS = ("init", "act", "seed", "block", "norm", "branch_scale")


def layers_csv(results: Iterable[SimulationResult]) -> str:
    """Tidy CSV: one row per run and layer, identified by init, act and seed."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*CSV_KEYS, *LAYER_FIELDS])
    for r in results:
        key = [_csv_value(getattr(r.config, k)) for k in CSV_KEYS]
        for layer in r.layers:
            writer.writerow([*key, *(_csv_value(getattr(layer, f)) for f in LAYER_FIELDS)])
    return buf.getvalue()


def _csv_value(x) -> str:
    if x is None:
        return ""
    return repr(x) if isinstance(x, float) else str(x)


# ---------------------------------------------------------------- list


def registry_rows() -> tuple[list[dict], list[dict]]:
    """Initializers and activations as plain records (for every format)."""
    from varprop.activations import ACTIVATIONS
    from varprop.activations import ALIASES as ACT_ALIASES
    from varprop.initializers import ALIASES as INIT_ALIASES
    from varprop.initializers import BASES, FLAVOURED

    inits = [
        {
            "name": i.name,
            "aliases": [a for a, t in INIT_ALIASES.items() if t == i.name],
            "sigma_w2": i.formula,
            "distribution": i.distribution,
            "flavours": [f"{i.name}-uniform", f"{i.name}-truncated"] if i.name in FLAVOURED else [],
            "summary": i.summary,
        }
        for i in BASES.values()
    ]
    acts = [
        {
            "name": a.name,
            "aliases": [k for k, t in ACT_ALIASES.items() if t == a.name],
            "summary": a.summary,
        }
        for a in ACTIVATIONS.values()
    ]
    return inits, acts


def registry_table() -> Group:
    inits, acts = registry_rows()
    t1 = Table(title="initializers", title_justify="left", header_style="bold")
    for col in ("name", "aliases", "sigma_w^2", "distribution", "what it is"):
        t1.add_column(col)
    for i in inits:
        name = i["name"] + ("\n" + ", ".join(i["flavours"]) if i["flavours"] else "")
        t1.add_row(name, ", ".join(i["aliases"]), i["sigma_w2"], i["distribution"], i["summary"])
    t2 = Table(title="activations", title_justify="left", header_style="bold")
    for col in ("name", "aliases", "what it is"):
        t2.add_column(col)
    for a in acts:
        t2.add_row(a["name"], ", ".join(a["aliases"]), a["summary"])
    note = Text("A number in place of an initializer is sigma_w^2: --init 1.5 or 1.5:tanh.")
    return Group(t1, t2, note)


def registry_json() -> str:
    from varprop import __version__

    inits, acts = registry_rows()
    return to_json({"varprop_version": __version__, "initializers": inits, "activations": acts})


def registry_csv() -> str:
    inits, acts = registry_rows()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["kind", "name", "aliases", "summary"])
    for kind, rows in (("initializer", inits), ("activation", acts)):
        for r in rows:
            writer.writerow([kind, r["name"], " ".join(r["aliases"]), r["summary"]])
    return buf.getvalue()


# ---------------------------------------------------------------- compare, grid, seeds
# Their tables and charts live in varprop/charts.py; CSV is layers_csv over every run.


def sweep_json(groups: Sequence[Sequence[SimulationResult]], *, with_aggregate: bool) -> str:
    """``{"varprop_version", "runs": [...]}`` (DESIGN.md), every seed's run in order.

    ``groups[i]`` holds pair ``i``'s runs, one per seed.  ``with_aggregate`` adds
    ``"aggregate"``: per pair, the mean and min-max band of the log10 figures over seeds.
    """
    from varprop import __version__
    from varprop.sweep import aggregate_dict

    obj: dict = {
        "varprop_version": __version__,
        "runs": [r.to_dict() for runs in groups for r in runs],
    }
    if with_aggregate:
        obj["aggregate"] = aggregate_dict(groups)
    return to_json(obj)


# ---------------------------------------------------------------- theory and recommend


def theory_table(result, *, every: int = 1) -> Group:
    """Per-layer mean-field prediction, then the fixed-point analysis and verdicts."""
    c, s = result.config, result.summary
    title = (
        f"theory: {c.init} + {c.act}  depth {c.depth}  sigma_w^2 {num(c.weight_var)}  "
        f"sigma_b^2 {num(c.bias_var)}  E[a0^2] {num(c.input_second_moment)}  (infinite width)"
    )
    if block_text(c):
        title += f"\n{block_text(c)}"
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    q_name = "q = Var(x)" if getattr(c, "block", "plain") == "residual" else "q = Var(h)"
    for name in ("layer", q_name, "Var(a)", "chi", "RMS(δ)", "δ_l / δ_L"):
        table.add_column(name, justify="right", no_wrap=True)
    layers = result.layers
    top = layers[-1].log10_grad_rms
    q1 = layers[0].log10_preact_var
    for i in thin(len(layers), every):
        t = layers[i]
        cumulative = None if t.log10_grad_rms is None or top is None else t.log10_grad_rms - top
        table.add_row(
            str(t.layer),
            Text(sci(t.log10_preact_var), style=relative_style(t.log10_preact_var, q1)),
            sci(t.log10_act_var),
            num(t.chi, 4),
            sci(t.log10_grad_rms),
            Text(sci(cumulative), style=relative_style(cumulative, 0.0)),
        )
    out = Text()
    fixed = {
        "fixed": f"q* = {num(s.q_star, 4)}",
        "zero": "q* = 0 (the signal fades toward zero)",
        "every": "every q is a fixed point (homogeneous activation, critical weight variance)",
        "diverges": "no fixed point: q grows without bound",
    }.get(s.fixed_point or "", "no fixed point")
    out.append(f"fixed point: {fixed}")
    if s.fixed_point_stable is not None:
        out.append(
            "  (stable)" if s.fixed_point_stable else "  (UNSTABLE)",
            style="green" if s.fixed_point_stable else "bold red",
        )
    out.append(f"\nchi_1 = {num(s.chi_1, 4)}  phase: ")
    out.append(s.phase or "-", style={"critical": "bold green"}.get(s.phase or "", "bold"))
    out.append(f"  xi_q = {_depth_scale_text(s.xi_q, s.fixed_point)}\n")
    if s.c_star is not None:
        out.append(
            f"correlation map: c* = {num(s.c_star, 4)}  chi_c = {num(s.chi_c, 4)}"
            f"  xi_c = {_depth_scale_text(s.xi_c, s.fixed_point)}\n"
        )
    out.append("forward:  ")
    out.append(verdict_text(s.forward, s.forward_exponent), style=VERDICT_STYLE.get(s.forward, ""))
    out.append(f"  q_L / q_1 = {sci(s.log10_preact_var_ratio)}\n")
    out.append("backward: ")
    out.append(
        verdict_text(s.backward, s.backward_exponent), style=VERDICT_STYLE.get(s.backward, "")
    )
    out.append(f"  RMS(δ) layer 1 / layer L = {sci(s.log10_grad_rms_ratio)}")
    if s.note:
        out.append(f"\n{s.note}", style="dim")
    return Group(Text(title, style="bold"), table, out)


def _depth_scale_text(xi: float | None, fixed_point: str | None = None) -> str:
    """Depth scale in layers per e-fold: unbounded at criticality, undefined when q diverges."""
    if xi is None:
        return "-" if fixed_point in (None, "diverges") else "∞ (critical)"
    return f"{xi:.3g} layers" + (" (growth)" if xi < 0 else "")


def theory_csv(result) -> str:
    from varprop.results import TheoryLayer

    names = [f.name for f in fields(TheoryLayer)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["init", "act", *names])
    for layer in result.layers:
        row = [_csv_value(getattr(layer, n)) for n in names]
        writer.writerow([result.config.init, result.config.act, *row])
    return buf.getvalue()


CRITERION_TITLES = {
    "forward": "forward (q=1 fixed)",
    "edge_of_chaos": "edge of chaos",
    "kumar": "Kumar 2017",
    "torch_gain": "torch gain^2",
}


SHORT = {"stable": "ok", "power-law": "pow", "vanishing": "van", "exploding": "exp",
         "saturated": "sat", "overflow": "ovf", "unknown": "?"}  # fmt: skip


def short_verdicts(i) -> str:
    """A named init's two verdicts in a narrow column: ``stable`` or ``van/van``."""
    if i.verdict == "stable":
        return "stable"
    return f"{SHORT.get(i.forward, i.forward)}/{SHORT.get(i.backward, i.backward)}"


def recommend_table(result) -> Group:
    """Criteria, then every named initializer against the activation, then the answer."""
    criteria_title = Text(
        f"sigma_w^2 for {result.act} (sigma_b^2 = {num(result.bias_var)}), by criterion",
        style="bold",
    )
    criteria = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify in (
        ("criterion", "left"),
        ("sigma_w^2", "right"),
        ("q*", "right"),
        ("stable", "left"),
        ("chi_1", "right"),
        ("phase", "left"),
    ):
        criteria.add_column(name, justify=justify, no_wrap=True)
    notes = Text()
    for c in result.criteria:
        stable = {True: Text("yes", "green"), False: Text("NO", "bold red")}.get(
            c.stable, Text("-")
        )
        best = c.name == result.best_criterion
        criteria.add_row(
            Text(("* " if best else "  ") + CRITERION_TITLES.get(c.name, c.name), "bold" * best),
            num(c.sigma_w2, 4),
            num(c.q_star, 3),
            stable,
            num(c.chi_1, 4),
            c.phase or "-",
        )
        if c.note:
            notes.append(f"{c.name}: ", style="bold")
            notes.append(c.note + "\n")
    inits_title = Text(
        f"named initializers with {result.act} (theory, width {result.width}, "
        f"{result.depth} layers)",
        style="bold",
    )
    inits = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("init", "sigma_w^2", "Var x/layer", "RMS(δ) x/layer", "q*", "fwd/bwd"):
        inits.add_column(name, justify="left" if name in ("init", "fwd/bwd") else "right")
    for i in result.inits:
        good = i.verdict == "stable"
        inits.add_row(
            Text(("✓ " if good else "  ") + i.init, "bold green" if good else ""),
            num(i.sigma_w2, 4),
            num(i.forward_factor, 3),
            num(i.grad_factor, 3),
            num(i.q_star, 3),
            Text(short_verdicts(i), VERDICT_STYLE.get(i.forward, "")),
        )
    answer = Text("best: ", style="bold")
    if result.best is None:
        answer.append("no criterion has an answer for this activation")
    else:
        answer.append(fix_text(result.best))
        expect = ", ".join(f"{k} {v}" for k, v in result.best.expect.items())
        answer.append(f"\n      expect: {expect}", style="dim")
    return Group(criteria_title, criteria, notes, inits_title, inits, answer)


def recommend_csv(result) -> str:
    """Tidy: one row per criterion, then one per named initializer."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["kind", "name", "sigma_w2", "q_star", "stable", "chi_1", "phase", "forward_factor",
         "grad_factor", "verdict", "note"]
    )  # fmt: skip
    for c in result.criteria:
        stable = "" if c.stable is None else str(c.stable).lower()
        values = map(_csv_value, (c.sigma_w2, c.q_star))
        writer.writerow(
            ["criterion", c.name, *values, stable, _csv_value(c.chi_1), c.phase or "",
             "", "", "", c.note]
        )  # fmt: skip
    for i in result.inits:
        values = (i.sigma_w2, i.q_star, None, i.chi_1)
        writer.writerow(
            ["init", i.init, *map(_csv_value, values), "",
             *map(_csv_value, (i.forward_factor, i.grad_factor)), i.verdict, ""]
        )  # fmt: skip
    return buf.getvalue()
