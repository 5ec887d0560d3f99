"""The csv format: tidy tables a DataFrame (or the csv module) reads directly.

- Runs (simulate, compare, grid, ``--seeds``): one row per (run, layer), keyed by the
  run's configuration (pair, init, act, depth, width, batch, seed, ...) and carrying the
  run's verdicts; with ``--summary``, one row per run with its summary figures.
- theory: one row per layer with the prediction's configuration and verdicts.
- recommend: one row per criterion, then one per named initializer.
- phase: one row per grid point; list: one row per initializer or activation.

Full precision (``repr`` of floats); a value that cannot be stated is an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import fields

from varprop.results import (
    LAYER_FIELDS,
    PhaseResult,
    RecommendResult,
    SimulationResult,
    TheoryResult,
)

# A run's key: what identifies it among the rows of a file.
RUN_KEYS = (
    "pair",
    "init",
    "act",
    "depth",
    "width",
    "batch",
    "seed",
    "dtype",
    "weight_var",
    "bias_var",
    "input",
    "block",
    "norm",
    "branch_scale",
)
VERDICTS = ("forward", "backward")
SUMMARY_FIELDS = (
    "forward",
    "backward",
    "preact_var_ratio",
    "grad_rms_ratio",
    "log10_preact_var_ratio",
    "log10_grad_rms_ratio",
    "forward_factor",
    "backward_factor",
    "forward_exponent",
    "backward_exponent",
    "overflow_layer",
    "overflow_kind",
    "theory_forward",
    "theory_backward",
    "theory_max_log10_error",
    "limit",
)
FIX_FIELDS = ("fix_args", "fix_expect_forward", "fix_expect_backward")


def render(result, view) -> str:
    from varprop.listing import Listing
    from varprop.sweep import Runs

    if isinstance(result, SimulationResult):
        result = Runs("simulate", ((result,),), (f"{result.config.init}:{result.config.act}",))
    if isinstance(result, Runs):
        return run_summaries(result) if view.summary else run_layers(result)
    if isinstance(result, TheoryResult):
        return theory_layers(result)
    if isinstance(result, RecommendResult):
        return recommendation(result)
    if isinstance(result, Listing):
        return listing(result)
    if isinstance(result, PhaseResult):  # tidy records already
        rows = result.rows()
        return _write(list(rows[0]), [list(r.values()) for r in rows])
    raise TypeError(f"no csv rendering for {type(result).__name__}")


def run_key(result: SimulationResult, label: str) -> list:
    c = result.config
    return [
        label,
        c.init,
        c.act,
        c.depth,
        c.width,
        c.batch,
        c.seed,
        c.dtype,
        c.weight_var,
        c.bias_std**2,
        c.input,
        c.block,
        c.norm,
        c.branch_scale,
    ]


def run_layers(runs) -> str:
    """One row per (run, layer)."""
    rows = []
    for label, group in zip(runs.labels, runs.groups, strict=True):
        for r in group:
            key = [*run_key(r, label), r.summary.forward, r.summary.backward]
            rows += [[*key, *(getattr(layer, f) for f in LAYER_FIELDS)] for layer in r.layers]
    return _write([*RUN_KEYS, *VERDICTS, *LAYER_FIELDS], rows)


def run_summaries(runs) -> str:
    """One row per run: its key, its summary figures and its fix."""
    rows = []
    for label, group in zip(runs.labels, runs.groups, strict=True):
        for r in group:
            s = r.summary
            fix = s.fix.to_dict() if s.fix else None
            fix_cells = (
                ["", "", ""]
                if fix is None
                else [" ".join(fix["args"]), fix["expect"]["forward"], fix["expect"]["backward"]]
            )
            rows.append([*run_key(r, label), *(getattr(s, f) for f in SUMMARY_FIELDS), *fix_cells])
    return _write([*RUN_KEYS, *SUMMARY_FIELDS, *FIX_FIELDS], rows)


def theory_layers(result: TheoryResult) -> str:
    from varprop.results import TheoryLayer

    c, s = result.config, result.summary
    names = [f.name for f in fields(TheoryLayer)]
    key = [
        c.init,
        c.act,
        c.depth,
        c.width,
        c.weight_var,
        c.bias_var,
        c.input_second_moment,
        c.block,
        c.norm,
        c.branch_scale,
        s.forward,
        s.backward,
    ]
    header = [
        "init",
        "act",
        "depth",
        "width",
        "weight_var",
        "bias_var",
        "input_second_moment",
        "block",
        "norm",
        "branch_scale",
        *VERDICTS,
        *names,
    ]
    return _write(header, [[*key, *(getattr(t, n) for n in names)] for t in result.layers])


def recommendation(result: RecommendResult) -> str:
    """One row per criterion, then one per named initializer."""
    header = [
        "act",
        "kind",
        "name",
        "sigma_w2",
        "q_star",
        "stable",
        "chi_1",
        "phase",
        "forward_factor",
        "grad_factor",
        "forward",
        "backward",
        "verdict",
        "note",
    ]
    rows = []
    for c in result.criteria:
        stable = None if c.stable is None else str(c.stable).lower()
        rows.append(
            [
                result.act,
                "criterion",
                c.name,
                c.sigma_w2,
                c.q_star,
                stable,
                c.chi_1,
                c.phase,
                None,
                None,
                None,
                None,
                None,
                c.note,
            ]
        )
    for i in result.inits:
        rows.append(
            [
                result.act,
                "init",
                i.init,
                i.sigma_w2,
                i.q_star,
                None,
                i.chi_1,
                None,
                i.forward_factor,
                i.grad_factor,
                i.forward,
                i.backward,
                i.verdict,
                None,
            ]
        )
    return _write(header, rows)


def listing(result) -> str:
    rows = [
        [kind, r["name"], " ".join(r["aliases"]), r["summary"]]
        for kind, records in (("initializer", result.inits), ("activation", result.acts))
        for r in records
    ]
    return _write(["kind", "name", "aliases", "summary"], rows)


def _write(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(x) for x in row] for row in rows)
    return buf.getvalue()


def _cell(x) -> str:
    if x is None:
        return ""
    return repr(x) if isinstance(x, float) else str(x)
