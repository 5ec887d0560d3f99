"""``varprop.theory(...)``: the simulate shape for a whole stack, at infinite width.

Validates the arguments into a :class:`~varprop.network.Network`, runs the layer
recursion (:mod:`varprop.meanfield.recursion`) and summarises it with the fixed point the
map reaches (:mod:`varprop.meanfield.fixedpoints`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from varprop.activations import Activation, get_activation
from varprop.errors import VarpropError, is_count
from varprop.initializers import Initializer, get_initializer
from varprop.initializers import weight_var as explicit_init
from varprop.judge import judge
from varprop.meanfield.correlation import CorrelationFixedPoint, correlation_fixed_point
from varprop.meanfield.fixedpoints import FixedPoint, fixed_point, phase
from varprop.meanfield.recursion import Prediction, predict
from varprop.network import Network, hidden_widths
from varprop.results import (
    TheoryConfig,
    TheoryLayer,
    TheoryResult,
    TheorySummary,
    finite_or_none,
    ratio_fields,
)

# Deepest stack ``theory`` accepts: a million layers take about ten seconds.
MAX_THEORY_DEPTH = 1_000_000
# Largest sigma_w^2 or sigma_b^2 accepted (the engine's bound on weight variance).
MAX_VAR = 1e30


def check_var(value, name: str, param: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and 0 <= v <= MAX_VAR):
        raise VarpropError(
            f"{name} must be a number from 0 to {MAX_VAR:g}, got {value!r}", param=param
        )
    return v


def check_int(value, name: str, param: str, high: int | None = None) -> int:
    if not is_count(value) or (high is not None and value > high):
        limit = f"from 1 to {high:,}" if high else ">= 1"
        raise VarpropError(f"{name} must be an integer {limit}, got {value!r}", param=param)
    return int(value)


def build_network(
    act: str | Activation = "relu",
    weight_var: float | None = None,
    bias_var: float | None = None,
    depth: int = 50,
    width: int = 512,
    *,
    init: str | float | Initializer | None = None,
    widths: Sequence[int] | None = None,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
) -> Network:
    """Validate :func:`theory`'s arguments; return the Network they describe."""
    activation = get_activation(act)
    if weight_var is not None and init is not None:
        raise VarpropError(
            f"give either an initializer or a weight variance, not both "
            f"(got init={init!r}, weight_var={weight_var!r})",
            param="--weight-var",
        )
    if weight_var is not None:
        initializer = explicit_init(check_var(weight_var, "weight variance", "--weight-var"))
    else:
        initializer = get_initializer("he" if init is None else init, gain=gain, fan_mode=fan_mode)
    bvar = check_var(bias_var, "bias variance", "--bias-var", allow_none=True)
    depth = check_int(depth, "depth", "--depth", MAX_THEORY_DEPTH)
    width = check_int(width, "width", "--width")
    hidden = hidden_widths(widths, width, depth)
    if len(hidden) > MAX_THEORY_DEPTH:
        raise VarpropError(
            f"at most {MAX_THEORY_DEPTH:,} layers, got {len(hidden)}", param="--widths"
        )
    bias_std = None if bvar is None else math.sqrt(bvar)
    net = Network(initializer, activation, (width, *hidden), bias_std)
    worst = max(initializer.sigma_w2(a, b) for a, b in pairwise(net.widths))
    if worst > MAX_VAR:
        raise VarpropError(
            f"weight variance sigma_w^2 = {worst:g} is above {MAX_VAR:g}", param="--init"
        )
    return net


def theory(
    act: str | Activation = "relu",
    weight_var: float | None = None,
    bias_var: float | None = None,
    depth: int = 50,
    width: int = 512,
    *,
    init: str | float | Initializer | None = None,
    widths: Sequence[int] | None = None,
    input_second_moment: float = 1.0,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
) -> TheoryResult:
    """Mean-field prediction for a stack of ``depth`` layers at infinite width.

    Give either ``weight_var`` (an explicit sigma_w^2, weights of variance
    sigma_w^2 / fan_in) or ``init`` (any initializer name, ``he`` by default).
    ``bias_var`` is sigma_b^2 (None: the initializer's own biases, zero except for presets
    such as ``torch-default``).  ``width`` sets the input width n_0 and every hidden
    width unless ``widths = [n_1, ..., n_L]`` is given; it matters for width-dependent
    initializers (``xavier`` on non-square layers, ``normal``, ``torch-default``'s bias).
    ``input_second_moment`` is E[a_0^2] (1 for N(0, 1) inputs).

    >>> r = theory(act="tanh", weight_var=1.0, depth=100)
    >>> r.summary.phase, r.summary.q_star
    ('critical', 0.0)
    """
    net = build_network(
        act,
        weight_var,
        bias_var,
        depth,
        width,
        init=init,
        widths=widths,
        gain=gain,
        fan_mode=fan_mode,
    )
    m0 = check_var(input_second_moment, "input second moment", "--input-second-moment")
    pred = predict(net, m0)
    layers = theory_layers(pred)
    config = theory_config(net, pred, width, m0)
    sw2, sb2 = config.weight_var, config.bias_var
    from varprop import __version__

    # Layers 2..L share sigma_w^2 and sigma_b^2 on uniform stacks; the map from q_1 on
    # is the last layer's.  q_1 beyond float range starts the analysis at 1e+-300.
    q1 = float(pred.preact_var[0])
    if not math.isfinite(q1):
        q1 = 1e-300 if pred.log10_preact_var[0] < 0 else 1e300
    fp = fixed_point(net.act, sw2, sb2, q_start=q1)
    if fp.kind == "every":  # q* is wherever the input put q_1 (None beyond float range)
        fp = FixedPoint(
            fp.kind, finite_or_none(pred.preact_var[0]), fp.slope, fp.chi_1, fp.stable, fp.note
        )
    return TheoryResult(
        version=__version__,
        config=config,
        layers=layers,
        summary=_theory_summary(layers, pred, net, fp, _correlation(net.act, sw2, sb2, fp)),
    )


def theory_config(net: Network, pred: Prediction, width: int, m0: float, **blocks) -> TheoryConfig:
    """What was predicted: the last layer's sigma_w^2 and sigma_b^2, and the stack."""
    sw2, sb2 = float(pred.sigma_w2[-1]), float(pred.sigma_b2[-1])
    return TheoryConfig(
        init=net.init.name,
        act=net.act.label,
        depth=net.depth,
        width=width,
        weight_var=sw2,
        bias_var=sb2,
        bias_std=math.sqrt(sb2),
        widths=net.widths,
        input_second_moment=m0,
        **blocks,
    )


def theory_layers(pred: Prediction) -> tuple[TheoryLayer, ...]:
    f = finite_or_none
    cols = (
        pred.preact_var.tolist(),
        pred.act_mean.tolist(),
        pred.act_var.tolist(),
        pred.chi.tolist(),
        pred.grad_rms.tolist(),
        pred.log10_preact_var.tolist(),
        pred.log10_act_var.tolist(),
        pred.log10_grad_rms.tolist(),
    )
    return tuple(
        TheoryLayer(
            layer=i + 1,
            preact_mean=0.0,
            preact_var=f(q),
            act_mean=f(m),
            act_var=f(v),
            chi=f(c),
            grad_rms=f(g),
            log10_preact_var=f(lq),
            log10_act_var=f(lv),
            log10_grad_rms=f(lg),
        )
        for i, (q, m, v, c, g, lq, lv, lg) in enumerate(zip(*cols, strict=True))
    )


def _correlation(act, sigma_w2: float, sigma_b2: float, fp: FixedPoint):
    """The correlation map's fixed point at q* (None where q has no fixed point)."""
    if fp.q is None or not math.isfinite(fp.q) or fp.kind == "diverges":
        return None
    if fp.q == 0:  # phi is linear there: chi_c = chi_1 and c* = 1 in the ordered phase
        if fp.chi_1 is None or fp.chi_1 > 1:
            return None
        xi = None if fp.chi_1 >= 1 or fp.chi_1 <= 0 else -1 / math.log(fp.chi_1)
        return CorrelationFixedPoint(1.0, fp.chi_1, xi)
    return correlation_fixed_point(act, sigma_w2, sigma_b2, fp.q)


def _theory_summary(
    layers, pred: Prediction, net: Network, fp: FixedPoint, corr: CorrelationFixedPoint | None
) -> TheorySummary:
    last = layers[-1]
    ratios = ratio_fields(layers)
    verdicts = judge(
        [s.log10_preact_var for s in layers],
        [s.log10_grad_rms for s in layers],
        saturated_frac=None
        if last.preact_var is None
        else saturated_fraction(net.act, last.preact_var),
        bounded=net.act.saturation == "flat",
    )
    overflow_layer, overflow_kind = None, None
    for s in layers:
        for plain, log in ((s.preact_var, s.log10_preact_var), (s.grad_rms, s.log10_grad_rms)):
            if plain is None and log is not None:
                overflow_layer = s.layer
                overflow_kind = "overflow" if log > 0 else "underflow"
                break
        if overflow_layer is not None:
            break
    note = fp.note
    if fp.chi_1 is not None:
        per_layer = math.sqrt(fp.chi_1)
        p = phase(fp.chi_1)
        what = {
            "ordered": f"gradients shrink by {per_layer:.4g} per layer toward the input",
            "chaotic": f"gradients grow by {per_layer:.4g} per layer toward the input",
            "critical": "gradients keep their size",
        }[p]
        note += f"; chi_1 = {fp.chi_1:.4g}: {p}, {what}"
    if overflow_layer is not None:
        note += (
            f"; from layer {overflow_layer} the plain figures {overflow_kind} float64 "
            "(the log10 columns keep them)"
        )
    return TheorySummary(
        forward=verdicts.forward.word,
        backward=verdicts.backward.word,
        **ratios,
        forward_exponent=verdicts.forward.exponent,
        backward_exponent=verdicts.backward.exponent,
        overflow_layer=overflow_layer,
        overflow_kind=overflow_kind,
        q_star=finite_or_none(fp.q),
        chi_1=finite_or_none(fp.chi_1),
        phase=fp.phase,
        xi_q=finite_or_none(fp.xi_q),
        c_star=None if corr is None else corr.c_star,
        chi_c=None if corr is None else finite_or_none(corr.chi_c),
        xi_c=None if corr is None else finite_or_none(corr.xi_c),
        fixed_point=fp.kind,
        fixed_point_stable=fp.stable,
        note=note,
    )


def saturated_fraction(act: Activation, q: float) -> float:
    """P(flat(phi(sqrt(q) z))) for bounded activations: accurate to ~1e-3 (a verdict)."""
    if act.flat is None or not q > 0:
        return 0.0
    z = np.linspace(-9, 9, 3601)
    w = np.exp(-0.5 * z * z)
    with np.errstate(all="ignore"):
        flat = act.flat(act.fn(math.sqrt(q) * z))
    return float(np.sum(w * flat) / np.sum(w))
