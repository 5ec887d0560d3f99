"""Which init (and bias) to use: every candidate judged by theory over the whole stack.

Facts only: candidates, their verdicts and the chosen :class:`~varprop.results.Fix`;
the rendering layer writes the sentences.

Candidates (each a ``(sigma_w^2, sigma_b^2)`` pair):

- every named initializer that recommend judges, at the run's bias variance;
- every criterion of :func:`varprop.meanfield.recommend` (forward q = 1, edge of chaos,
  Kumar 2017, PyTorch's gain), at the run's bias variance;
- the edge of chaos with a bias, where its fixed point q* is stable (Schoenholz et al.
  2017: chi_1 = 1 at a stable q* > 0, so neither signal nor gradient drifts);
- when none of those is stable both ways, a sweep of sigma_w^2 (and sigma_b^2).

Each is judged by :func:`varprop.judge.judge` on the mean-field curves of the run's own
stack (its widths and depth) from the run's real start, ``q_1 = sigma_w^2 E[a_0^2] +
sigma_b^2``: a fixed point that repels (GELU's q = 1 under sigma_w^2 = 2.35) shows up
as the drift it causes from there.  The best is stable both ways, at the run's bias
first; then with a bias; failing both, the best trade-off (forward stable, the least
drift of the gradient), flagged as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from varprop.activations import Activation
from varprop.initializers import Initializer, judged_by_recommend
from varprop.initializers import weight_var as explicit_init
from varprop.judge import SATURATED, Judgement, judge
from varprop.meanfield.criteria import all_criteria
from varprop.meanfield.fixedpoints import edge_of_chaos
from varprop.meanfield.gaussian import kernel
from varprop.meanfield.recursion import predict
from varprop.meanfield.stack import saturated_fraction
from varprop.network import Network
from varprop.results import Fix

# Bias variances the edge-of-chaos curve is searched at (smallest first: the least bias
# that makes q* stable is the gentlest change to a user's network).
BIAS_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
# The fallback sweep, when no named init, criterion or critical point is stable.
SWEEP_WEIGHT_VARS = tuple(float(x) for x in np.geomspace(0.25, 256.0, 31))
SWEEP_BIAS_VARS = (0.0, 0.1, 0.5)
# A named initializer wins over an unnamed number unless the number drifts at least this
# many decades less: a name is what users can carry to other tools.
NAME_BONUS = 0.5


@dataclass(frozen=True)
class Candidate:
    """One setting and what theory predicts for it over the stack.

    ``source``: a named initializer, a criterion name, ``"edge_of_chaos"`` (with a
    bias) or ``"sweep"``.  ``init`` is what ``--init`` takes for it (a registry name or
    the number).  ``drift`` is the larger of the two curves' changes, in decades.
    """

    source: str
    init: str
    sigma_w2: float
    bias_var: float
    judgement: Judgement

    @property
    def stable(self) -> bool:
        return self.judgement.stable

    @property
    def drift(self) -> float:
        changes = (self.judgement.forward.log10_change, self.judgement.backward.log10_change)
        return max(math.inf if c is None else abs(c) for c in changes)

    @property
    def named(self) -> bool:
        return self.source == self.init


def judge_setting(
    act: Activation,
    init: Initializer,
    widths: tuple[int, ...],
    bias_var: float,
    input_second_moment: float = 1.0,
) -> Judgement:
    """Theory's verdicts for one stack, from its real start."""
    net = Network(init, act, widths, math.sqrt(bias_var))
    return judge_prediction(act, predict(net, input_second_moment), widths)


def judge_prediction(act: Activation, p, widths: tuple[int, ...]) -> Judgement:
    """Theory's verdicts of a prediction (any block), with its robustness at the width."""
    q_last = float(p.preact_var[-1])
    sat = saturated_fraction(act, q_last) if math.isfinite(q_last) else None
    return judge(
        p.log10_preact_var.tolist(),
        p.log10_grad_rms.tolist(),
        saturated_frac=sat,
        bounded=act.saturation == "flat",
        noise=noise_decades(widths),
    )


def _number(sigma_w2: float) -> str:
    """sigma_w^2 as ``--init`` takes it: four significant digits."""
    return f"{sigma_w2:.4g}"


def _candidate(act, source, init_name, init, widths, bias_var, m0) -> Candidate:
    sw2 = init.sigma_w2(widths[-2], widths[-1])
    return Candidate(
        source=source,
        init=init_name,
        sigma_w2=sw2,
        bias_var=bias_var,
        judgement=judge_setting(act, init, widths, bias_var, m0),
    )


def _numbered(act, source, sigma_w2, widths, bias_var, m0) -> Candidate:
    name = _number(sigma_w2)
    # The number as --init will read it back, so the judged stack is the followed one.
    return _candidate(act, source, name, explicit_init(float(name)), widths, bias_var, m0)


@lru_cache(maxsize=128)
def candidates(
    act: Activation,
    widths: tuple[int, ...],
    bias_var: float,
    input_second_moment: float,
) -> tuple[Candidate, ...]:
    """Every candidate for this stack, judged (see the module docstring)."""
    m0 = input_second_moment
    out = []
    for init in judged_by_recommend():
        bias = bias_var if init.bias_variance is None else init.bias_variance(widths[0])
        out.append(_candidate(act, init.name, init.name, init, widths, bias, m0))
    for c in all_criteria(kernel(act), bias_var):
        if c.sigma_w2 is not None and c.sigma_w2 > 0:
            out.append(_numbered(act, c.name, c.sigma_w2, widths, bias_var, m0))
    for sb2 in BIAS_GRID:
        if sb2 <= bias_var:
            continue
        for sw2, fp in edge_of_chaos(act, sb2):
            if fp.stable:
                out.append(_numbered(act, "edge_of_chaos", sw2, widths, sb2, m0))
    if not any(c.stable for c in out):
        for sb2 in sorted({bias_var, *SWEEP_BIAS_VARS}):
            if sb2 < bias_var:
                continue
            for sw2 in SWEEP_WEIGHT_VARS:
                out.append(_numbered(act, "sweep", sw2, widths, sb2, m0))
    return tuple(out)


def noise_decades(widths: tuple[int, ...]) -> float:
    """One standard deviation of a curve's log10 drift at finite width, across seeds.

    sd(log10 q_L) = 0.79 sqrt(L / width) per seed for He+ReLU (tests/test_engine.py);
    stable fixed points damp it, so this is an upper bound for the stable candidates.
    """
    return 0.8 * math.sqrt(sum(1.0 / n for n in widths[1:]))


def best(found: tuple[Candidate, ...], bias_var: float) -> Candidate | None:
    """Stable both ways at the run's bias, else with a bias, else None.

    Robust candidates (theory's words survive 3 finite-width sd, so a finite-width run
    shows what theory promises) come first, then the run's own bias before another and
    the smallest other bias (the gentlest change to a network), then the least drift (a
    named initializer counted ``NAME_BONUS`` decades flatter).
    """
    stable = [c for c in found if c.stable]
    if not stable:
        return None

    def key(c: Candidate):
        bonus = NAME_BONUS if c.named else 0.0
        return (not robust(c), c.bias_var != bias_var, c.bias_var, c.drift - bonus)

    return min(stable, key=key)


def robust(c: Candidate) -> bool:
    """Theory's words for ``c`` survive 3 finite-width sd (see varprop.judge.judge)."""
    return bool(c.judgement.robust)


def trade_off(found: tuple[Candidate, ...]) -> Candidate | None:
    """When nothing is stable both ways: forward stable (robustly, when one is) with the
    least gradient drift, else the least drift of all."""
    forward_ok = [c for c in found if c.judgement.forward.word == "stable"]
    pool = [c for c in forward_ok if robust(c)] or forward_ok or list(found)
    finite = [c for c in pool if math.isfinite(c.drift)]
    if not finite:
        return None
    return min(finite, key=lambda c: c.drift - (NAME_BONUS if c.named else 0.0))


# The input's E[a_0^2] may be this far from 1 (either way) before the fix standardizes
# it first: a factor 10 moves q_1 by a decade, which an init cannot undo at every depth.
INPUT_SCALE = 10.0


@dataclass(frozen=True)
class RunFacts:
    """What the fix needs to know of a run (all from the run's own config and stats)."""

    act: Activation
    init: Initializer
    widths: tuple[int, ...]
    bias_var: float  # the user's sigma_b^2 (0 when none was given)
    user_bias: bool  # the user gave one
    input_second_moment: float
    raw_input: bool  # a file read with --no-standardize
    first_saturated: float | None  # layer 1's saturated fraction
    measured: Judgement
    theory: Judgement


def _same(c: Candidate, run: RunFacts) -> bool:
    """The candidate is the run's own setting."""
    sw2 = run.init.sigma_w2(run.widths[-2], run.widths[-1])
    return c.bias_var == run.bias_var and abs(c.sigma_w2 / sw2 - 1) < 1e-3 if sw2 > 0 else False


def choose(found: tuple[Candidate, ...], bias_var: float) -> tuple[Candidate | None, str]:
    """The best candidate and its kind: ``"stable"``, else the ``"trade-off"``."""
    chosen = best(found, bias_var)
    if chosen is not None:
        return chosen, "stable"
    return trade_off(found), "trade-off"


def as_fix(
    c: Candidate,
    kind: str,
    *,
    act: Activation,
    depth: int,
    standardize: bool = False,
    replaces_bias: bool = False,
    input_second_moment: float = 1.0,
) -> Fix:
    """The :class:`Fix` that sets up candidate ``c``."""
    j = c.judgement
    return Fix(
        kind=kind,
        act=act.label,
        depth=depth,
        init=c.init,
        sigma_w2=c.sigma_w2,
        bias_var=c.bias_var,
        standardize=standardize,
        expect_forward=j.forward.word,
        expect_backward=j.backward.word,
        source=c.source,
        replaces_bias=replaces_bias,
        log10_forward_change=j.forward.log10_change,
        log10_backward_change=j.backward.log10_change,
        input_second_moment=input_second_moment,
    )


def fix_for(run: RunFacts) -> tuple[Fix | None, str | None]:
    """The fix for an unstable run, or None with the reason there is none.

    Standardize first when raw input is far from unit scale or saturates layer 1; then
    the best candidate, judged from the run's start after that.  A run whose own setting
    theory robustly calls stable gets no fix (``"finite-width"``: the drift measured is
    finite width); a run already at the best trade-off neither (``"no-stable-setting"``).
    """
    if run.measured.stable:
        return None, None
    m0 = run.input_second_moment
    saturating = run.first_saturated is not None and run.first_saturated > SATURATED
    standardize = run.raw_input and (not 1 / INPUT_SCALE <= m0 <= INPUT_SCALE or saturating)
    if standardize:
        m0 = 1.0
    elif run.theory.stable and run.theory.robust:
        return None, "finite-width"
    chosen, kind = choose(candidates(run.act, run.widths, run.bias_var, m0), run.bias_var)
    if chosen is None:
        return None, "no-stable-setting"
    if not standardize and kind == "stable" and _same(chosen, run):
        return None, "finite-width"
    if not standardize and kind == "trade-off":
        current = max(
            math.inf if t.log10_change is None else abs(t.log10_change)
            for t in (run.theory.forward, run.theory.backward)
        )
        if chosen.drift > current - 1.0:
            return None, "no-stable-setting"
    fix = as_fix(
        chosen,
        kind,
        act=run.act,
        depth=len(run.widths) - 1,
        standardize=standardize,
        replaces_bias=run.user_bias or run.init.bias_variance is not None,
        input_second_moment=m0,
    )
    return fix, None
