"""Frozen result records.  ``to_dict()`` gives exactly the JSON objects of DESIGN.md.

Every float field is either a finite float or ``None`` ("cannot be stated"): the records
never hold ``nan`` or ``inf``, so JSON and CSV never print them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a plain float, or None when it is missing, nan or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def ratio_fields(layers) -> dict:
    """The total and per-layer ratios shared by every summary, from per-layer records.

    Var(h) goes layer L over layer 1 (the way the signal travels), grad RMS layer 1 over
    layer L (the way the gradient travels); both in log10 always, plainly where float64
    holds them, and per layer as geometric means.
    """
    first, last, L = layers[0], layers[-1], len(layers)
    fwd = _diff(last.log10_preact_var, first.log10_preact_var)
    bwd = _diff(first.log10_grad_rms, last.log10_grad_rms)
    return {
        "preact_var_ratio": pow10(fwd),
        "grad_rms_ratio": pow10(bwd),
        "log10_preact_var_ratio": fwd,
        "log10_grad_rms_ratio": bwd,
        "forward_factor": pow10(fwd / (L - 1)) if fwd is not None and L > 1 else None,
        "backward_factor": pow10(bwd / (L - 1)) if bwd is not None and L > 1 else None,
    }


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def pow10(x: float | None) -> float | None:
    """10**x, or None where float64 cannot hold it."""
    if x is None or not -307 < x < 307:
        return None
    return 10.0**x


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer ``l`` (1-based), over the batch and the layer's units.

    Plain fields are None where the value leaves float64 range; the ``log10_*`` forms
    are stated whenever the value is known, however small or large.
    """

    layer: int
    preact_mean: float | None  # mean of h_l
    preact_var: float | None  # variance of h_l
    act_mean: float | None  # mean of a_l = phi(h_l)
    act_var: float | None  # variance of a_l
    saturated_frac: float | None  # flat part (bounded phi) or dead units (ReLU-like)
    grad_rms: float | None  # sqrt(mean(delta_l^2)), delta_l = dL/dh_l per sample
    weight_grad_norm: float | None  # ||dL/dW_l||_F of the batch-mean loss
    theory_preact_var: float | None = None  # mean-field q_l (infinite width)
    theory_grad_rms: float | None = None  # mean-field sqrt(E[delta_l^2])
    log10_preact_var: float | None = None
    log10_grad_rms: float | None = None
    # The other figures in log10 too, so a table can state them beyond float64 range.
    log10_weight_grad_norm: float | None = None
    log10_theory_preact_var: float | None = None
    log10_theory_grad_rms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Stack:
    """The pair and the shape every run and prediction states first.

    Subclasses add ``widths`` (n_0, n_1, ..., n_L), written to JSON as a list.
    """

    init: str
    act: str
    depth: int
    width: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(d["widths"])
        return d


@dataclass(frozen=True)
class Config(Stack):
    """What was run.  ``weight_var`` is sigma_w^2 of the hidden (width x width) layers."""

    batch: int
    seed: int
    dtype: str
    weight_var: float
    bias_std: float
    widths: tuple[int, ...] = ()  # n_0, n_1, ..., n_L
    input: str = "normal"
    input_second_moment: float = 1.0
    fan_mode: str = "fan_in"
    gain: float = 1.0
    block: str = "plain"  # plain | residual
    norm: str = "none"  # none | layer | rms | batch
    branch_scale: float = 1.0  # alpha of a residual branch (1 for plain blocks)


@dataclass(frozen=True)
class Verdicts:
    """Verdicts and overall factors of a run.

    ``preact_var_ratio`` is Var(h) at layer L over layer 1, the way the signal travels;
    ``grad_rms_ratio`` is the gradient RMS at layer 1 over layer L, the way the gradient
    travels.  Both read < 1 when their signal shrinks.  ``forward_factor`` and
    ``backward_factor`` are the same ratios per layer (geometric means).
    ``overflow_layer`` is the first layer whose values left floating-point range
    (``overflow_kind`` says which way), or None.
    """

    forward: str  # a word of varprop.judge.WORDS (stable, power-law, vanishing, ...)
    backward: str
    preact_var_ratio: float | None
    grad_rms_ratio: float | None
    log10_preact_var_ratio: float | None = None
    log10_grad_rms_ratio: float | None = None
    forward_factor: float | None = None  # per layer, variance
    backward_factor: float | None = None  # per layer, gradient RMS (toward the input)
    overflow_layer: int | None = None
    overflow_kind: str | None = None  # "overflow" | "underflow"
    # A power law's exponent p (the curve goes as l^p, l the layer index), else None.
    forward_exponent: float | None = None
    backward_exponent: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fix:
    """A setting that replaces a run's init / bias / standardize options, and what
    theory predicts the run will then show (``expect_*``: verdict words).

    ``kind``: ``"stable"`` (both verdicts stable) or ``"trade-off"`` (no setting keeps
    both: the one that keeps the signal and loses the least gradient).  ``init`` is the
    value ``--init`` takes (a registry name or a number), ``bias_var`` sigma_b^2 (stated
    in the options when non-zero or when it replaces the run's non-zero bias),
    ``standardize`` whether the input must be standardized first.  ``source`` is the
    candidate it came from (an init name, a criterion, ``edge_of_chaos``, ``sweep``).
    ``to_dict`` is DESIGN.md's ``{"args", "expect", "text"}``.
    """

    kind: str
    act: str
    depth: int
    init: str | None  # None: keep the run's init (a block fix)
    sigma_w2: float
    bias_var: float
    standardize: bool
    expect_forward: str
    expect_backward: str
    source: str
    replaces_bias: bool = False
    log10_forward_change: float | None = None
    log10_backward_change: float | None = None
    input_second_moment: float = 1.0
    # Block options a residual or normalized stack changes instead: (flag, value) pairs.
    options: tuple[tuple[str, str], ...] = ()

    @property
    def expect(self) -> dict[str, str]:
        return {"forward": self.expect_forward, "backward": self.expect_backward}

    def to_dict(self) -> dict:
        from varprop.words import fix_args, fix_text

        return {"args": fix_args(self), "expect": self.expect, "text": fix_text(self)}


@dataclass(frozen=True)
class Summary(Verdicts):
    """A simulation's verdicts (see :class:`Verdicts`), advice and distance to theory.

    ``theory_forward``/``theory_backward`` are theory's verdicts for the same stack (the
    mean-field curves judged by the same rule).  ``fix`` is None when both measured
    verdicts are stable; otherwise a :class:`Fix`, or None with ``limit`` saying why
    there is none: ``"finite-width"`` (theory calls this very setting stable: the drift
    is finite width, Hanin & Rolnick 2018) or ``"no-stable-setting"`` (no setting keeps
    both, and this one is already the best trade-off).
    """

    fix: Fix | None = None
    limit: str | None = None
    theory_forward: str | None = None
    theory_backward: str | None = None
    theory_max_log10_error: float | None = None  # max |log10(measured / theory)|
    # --init lsuv: {"tolerance", "max_iterations", "converged", "layers": [{"layer",
    # "scale", "sigma_w2", "iterations", "var"}, ...]}; None for every other init.
    lsuv: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fix"] = None if self.fix is None else self.fix.to_dict()
        return d


@dataclass(frozen=True)
class Result:
    """A config, one record per layer and a summary: the JSON object of DESIGN.md."""

    version: str
    config: Stack
    layers: tuple
    summary: Verdicts

    def to_dict(self) -> dict:
        return {
            "varprop_version": self.version,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "summary": self.summary.to_dict(),
        }


@dataclass(frozen=True)
class SimulationResult(Result):
    """One Monte-Carlo run: its config, one :class:`LayerStats` per layer, a summary,
    and the distributions asked for (``hist_layers``; see :mod:`varprop.histograms`)."""

    config: Config
    layers: tuple[LayerStats, ...]
    summary: Summary
    histograms: tuple = ()  # varprop.histograms.Histogram, by layer then h, a, delta

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.histograms:  # absent, not empty, when none were asked: JSON as before
            d["histograms"] = [h.to_dict() for h in self.histograms]
        return d


LAYER_FIELDS = tuple(f.name for f in fields(LayerStats))


# --------------------------------------------------------------------------------------
# Mean-field theory (varprop.meanfield): the simulate shape with no sampling.


@dataclass(frozen=True)
class TheoryLayer:
    """Mean-field figures of layer ``l`` at infinite width.

    ``preact_var`` is q_l, ``chi`` is sigma_{w,l}^2 E[phi'(h_l)^2] and ``grad_rms`` is
    sqrt(E[delta_l^2]).  Plain fields are None where the value leaves float64 range; the
    ``log10_*`` forms are stated whenever the value is positive.
    """

    layer: int
    preact_mean: float | None  # 0: the weights have mean zero
    preact_var: float | None
    act_mean: float | None
    act_var: float | None
    chi: float | None
    grad_rms: float | None
    log10_preact_var: float | None = None
    log10_act_var: float | None = None
    log10_grad_rms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TheoryConfig(Stack):
    """What was predicted.  ``weight_var`` and ``bias_var`` are those of the last layer."""

    weight_var: float
    bias_var: float
    bias_std: float
    widths: tuple[int, ...] = ()
    input_second_moment: float = 1.0
    block: str = "plain"
    norm: str = "none"
    branch_scale: float = 1.0


@dataclass(frozen=True)
class TheorySummary(Verdicts):
    """Verdicts and ratios as for a simulation, plus the fixed-point analysis.

    ``q_star`` is the fixed point the variance map reaches from q_1 (None when q grows
    without bound), ``chi_1`` is chi there (its limit for q -> inf when q diverges),
    ``phase`` is ``ordered`` | ``critical`` | ``chaotic``.  ``xi_q = -1/ln(chi_q)`` with
    chi_q the slope of the length map at q* (layers per e-fold; negative: growth).
    ``c_star`` is the stable fixed point of the two-input correlation map (1 in the
    ordered phase, below 1 in the chaotic one), ``chi_c`` its slope there and ``xi_c =
    -1/ln(chi_c)`` the correlation depth scale of Schoenholz et al. (2017), eq. (9):
    positive in both phases, None where infinite (at criticality).  ``fixed_point`` says what
    kind of fixed point q* is (``fixed`` | ``zero`` | ``every`` | ``diverges``) and
    ``fixed_point_stable`` whether the map's slope there is below 1 (None at exactly 1).
    ``overflow_layer`` is the first layer whose plain figures leave float64 range (their
    log10 forms are still given).
    """

    q_star: float | None = None
    chi_1: float | None = None
    phase: str | None = None
    xi_q: float | None = None
    c_star: float | None = None
    chi_c: float | None = None
    xi_c: float | None = None
    fixed_point: str | None = None
    fixed_point_stable: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class TheoryResult(Result):
    """A mean-field prediction: config, one :class:`TheoryLayer` per layer, a summary."""

    config: TheoryConfig
    layers: tuple[TheoryLayer, ...]
    summary: TheorySummary


@dataclass(frozen=True)
class Criterion:
    """One rule for choosing sigma_w^2, and what the variance map then does.

    ``sigma_w2`` is None where the rule has no answer for the activation.  ``q_star``
    and ``stable`` describe the fixed point the map reaches (``stable``: slope below 1;
    None when the slope is exactly 1 or there is no fixed point).
    """

    name: str
    sigma_w2: float | None
    q_star: float | None
    stable: bool | None
    chi_1: float | None = None
    phase: str | None = None
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["name"]
        return d


@dataclass(frozen=True)
class InitVerdict:
    """How one named initializer fares with the activation, on square layers.

    ``forward_factor`` and ``grad_factor`` are the per-layer factors of Var(h) and of
    the gradient RMS (toward the input) over the stack, geometric means as in compare;
    ``forward``/``backward`` are the theory's verdicts over ``RecommendResult.depth``
    layers from a unit-variance input.
    """

    init: str
    sigma_w2: float
    bias_var: float
    forward_factor: float | None
    grad_factor: float | None
    q_star: float | None
    chi_1: float | None
    forward: str
    backward: str
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RecommendResult:
    """Which weight variance an activation needs, by several criteria."""

    version: str
    act: str
    bias_var: float
    width: int
    depth: int
    criteria: tuple[Criterion, ...]
    inits: tuple[InitVerdict, ...]
    best_criterion: str | None  # where the best came from: an init, a criterion, ...
    best_sigma_w2: float | None
    best_init: str | None  # what --init takes for it
    best: Fix | None = None

    def to_dict(self) -> dict:
        return {
            "varprop_version": self.version,
            "act": self.act,
            "bias_var": self.bias_var,
            "width": self.width,
            "depth": self.depth,
            "criteria": {c.name: c.to_dict() for c in self.criteria},
            "best_init": self.best_init,
            "best_criterion": self.best_criterion,
            "best_sigma_w2": self.best_sigma_w2,
            "best_bias_var": None if self.best is None else self.best.bias_var,
            "best": None if self.best is None else self.best.to_dict(),
            "inits": [i.to_dict() for i in self.inits],
        }


@dataclass(frozen=True)
class PhaseLinePoint:
    """Where chi_1 crosses 1 along one row (fixed sigma_b^2) of a phase diagram.

    ``sigma_w2`` is None where chi_1 does not cross 1 inside the grid's sigma_w^2 range;
    ``q_star`` is the fixed point there (None where q grows without bound).
    """

    sigma_b2: float
    sigma_w2: float | None
    q_star: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PhaseInitPoint:
    """A named initializer's place on the phase diagram: its sigma_w^2 at the run's width,
    at sigma_b^2 = 0, with the fixed point, chi_1 and phase there."""

    init: str
    sigma_w2: float
    sigma_b2: float
    q_star: float | None
    chi_1: float | None
    phase: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PhaseResult:
    """The sigma_w^2 x sigma_b^2 phase diagram of one activation (mean field).

    ``q_star[b][w]``, ``chi_1[b][w]`` and ``phase[b][w]`` belong to
    ``(weight_vars[w], bias_vars[b])``: q* the fixed point the variance map reaches from a
    unit-variance input (None where there is none, or q grows without bound, or every q
    is one), chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] (its q -> inf limit where q grows),
    the phase ``ordered`` / ``critical`` / ``chaotic`` (None where chi_1 is undefined).
    ``critical_line`` has one point per sigma_b^2; ``inits`` the named initializers.
    """

    version: str
    act: str
    width: int
    weight_vars: tuple[float, ...]
    bias_vars: tuple[float, ...]
    q_star: tuple[tuple[float | None, ...], ...]
    chi_1: tuple[tuple[float | None, ...], ...]
    phase: tuple[tuple[str | None, ...], ...]
    critical_line: tuple[PhaseLinePoint, ...]
    inits: tuple[PhaseInitPoint, ...]

    def to_dict(self) -> dict:
        return {
            "varprop_version": self.version,
            "act": self.act,
            "width": self.width,
            "weight_vars": list(self.weight_vars),
            "bias_vars": list(self.bias_vars),
            "q_star": [list(row) for row in self.q_star],
            "chi_1": [list(row) for row in self.chi_1],
            "phase": [list(row) for row in self.phase],
            "critical_line": [p.to_dict() for p in self.critical_line],
            "inits": [i.to_dict() for i in self.inits],
        }

    def rows(self) -> list[dict]:
        """One tidy record per grid point (sigma_b^2 outer, sigma_w^2 inner), for CSV."""
        return [
            {
                "act": self.act,
                "sigma_w2": w,
                "sigma_b2": b,
                "q_star": self.q_star[i][j],
                "chi_1": self.chi_1[i][j],
                "phase": self.phase[i][j],
            }
            for i, b in enumerate(self.bias_vars)
            for j, w in enumerate(self.weight_vars)
        ]
