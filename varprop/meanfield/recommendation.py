"""``varprop.recommend(...)``: which sigma_w^2 an activation needs, and how each named
init fares; and the one-line fix a simulation that went wrong gets.

Facts only: the criteria (:mod:`varprop.meanfield.criteria`), their drift over a stack
in theory, the choice of the best, the named inits' verdicts.  The sentences come from
:mod:`varprop.meanfield.advice`.
"""

from __future__ import annotations

import math
from functools import lru_cache

from varprop.activations import Activation, get_activation
from varprop.initializers import Initializer, get_initializer, judged_by_recommend
from varprop.initializers import weight_var as explicit_init
from varprop.meanfield.advice import (
    init_summary,
    recommend_note,
    suggest_line,
    unstable_advice,
)
from varprop.meanfield.criteria import CRITERIA, all_criteria, unstable_facts
from varprop.meanfield.fixedpoints import fixed_point
from varprop.meanfield.gaussian import Kernel, kernel
from varprop.meanfield.recursion import predict
from varprop.meanfield.stack import check_int, check_var, saturated_fraction
from varprop.network import Network
from varprop.results import (
    SATURATED,
    InitVerdict,
    RecommendResult,
    finite_or_none,
    verdict,
)

# Deepest stack ``recommend`` judges over (its --depth).
MAX_RECOMMEND_DEPTH = 10_000
# suggest_init() judges over at most this many layers: deep enough for 10% off to show
# (1.1^200 is 10^8), cheap enough for every unstable simulate to afford.
MAX_SUGGEST_DEPTH = 200
# A named initializer stands for a number when their sigma_w^2 agree to 10%.
NAME_TOLERANCE = 0.1
# Scores (decades of drift) closer than this count as a tie; the earlier criterion wins.
SCORE_TIE = 0.05
# Input second moments the best criterion must cope with: 1, and a factor 2 either way,
# so that an unstable fixed point shows up as drift.
PROBE_INPUTS = (0.5, 1.0, 2.0)
# chi_1 within this factor of 1 counts as critical for the choice of the best criterion.
CRITICAL_BAND = 1.1


def recommend(
    act: str | Activation = "relu",
    bias_var: float = 0.0,
    *,
    width: int = 512,
    depth: int = 50,
) -> RecommendResult:
    """sigma_w^2 by every criterion varprop knows, and how each named init fares.

    Criteria (each with the fixed point q* the variance map then reaches from a unit
    input, whether it is stable, chi_1 and the phase):

    - ``forward``: q = 1 is a fixed point, ``sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2]``.
    - ``edge_of_chaos``: chi_1(q*) = 1 (Poole et al. 2016; Schoenholz et al. 2017).
    - ``kumar``: Kumar (2017), ``1 / phi'(0)^2`` for phi differentiable at 0, 2 for
      ReLU, and his separate sigmoid result (see the criterion's note).
    - ``torch_gain``: ``torch.nn.init.calculate_gain(act)^2``.

    ``best_init`` is the named initializer (on square layers of ``width``) within 10% of
    the best criterion's sigma_w^2, else that number as a string ("2.35"), which
    ``--init`` accepts.  The best criterion is the critical one (chi_1 within 10% of 1,
    fixed point not unstable, not saturated; see :func:`_critical_choice`), else the one
    whose ``depth``-layer stack keeps Var(h) and the gradient RMS closest to constant in
    theory, from inputs of second moment 0.5, 1 and 2 (so that an unstable fixed point
    counts as drift).
    """
    return _recommend(
        get_activation(act),
        check_var(bias_var, "bias variance", "--bias-var"),
        check_int(width, "width", "--width"),
        check_int(depth, "depth", "--depth", MAX_RECOMMEND_DEPTH),
    )


@lru_cache(maxsize=64)
def _recommend(act: Activation, bias_var: float, width: int, depth: int) -> RecommendResult:
    kern = kernel(act)
    found = all_criteria(kern, bias_var)
    scores = {
        c.name: _stack_drift(act, c.sigma_w2, bias_var, width, depth)
        for c in found
        if c.sigma_w2 is not None
    }
    best = critical = _critical_choice(kern, found, scores)
    for name in CRITERIA if best is None else ():  # earlier criteria win ties
        if name not in scores:
            continue
        if best is None or scores[name] < (scores[best][0], scores[best][1] - SCORE_TIE):
            best = name
    chosen = next((c for c in found if c.name == best), None)
    best_w2 = None if chosen is None else chosen.sigma_w2
    inits = tuple(
        _init_verdict(kern, init, bias_var, width, depth) for init in judged_by_recommend()
    )
    unstable = None
    if chosen is not None and chosen.stable is False:
        unstable = unstable_advice(unstable_facts(kern, bias_var))
    note = recommend_note(
        act.label,
        chosen,
        bias_var,
        depth,
        critical=critical is not None,
        scores=scores,
        order=CRITERIA,
        unstable=unstable,
    )
    from varprop import __version__

    return RecommendResult(
        version=__version__,
        act=act.label,
        bias_var=bias_var,
        width=width,
        depth=depth,
        criteria=found,
        inits=inits,
        best_criterion=best,
        best_sigma_w2=best_w2,
        best_init=None if best_w2 is None else _name_for(best_w2, width, inits),
        note=note,
    )


def _critical_choice(kern: Kernel, criteria, scores) -> str | None:
    """The criterion at (or near) criticality, if one is: it wins over the drift ranking.

    Schoenholz et al. (2017): the depth over which gradients and correlations survive
    diverges as chi_1 -> 1, so a criterion with chi_1 within 10% of 1, a fixed point
    that is not unstable (relu's every-q and tanh's q* = 0 are marginal) and no
    saturation is the one a deep stack can be trained at, at any depth.  Among those,
    a fixed point of order 1 (a signal that keeps its size, SELU's q* = 1) comes before
    a small one, and q* = 0 (tanh at sigma_w^2 = 1: the signal fades as 1/l) comes last.
    """

    def size_rank(c) -> int:
        if c.q_star is None:
            return 0  # every q is a fixed point (homogeneous activations)
        if c.q_star == 0:
            return 2
        return 0 if 0.1 <= c.q_star <= 10 else 1

    candidates = [
        c
        for c in criteria
        if c.name in scores
        and not scores[c.name][0]
        and c.stable is not False
        and c.chi_1 is not None
        and abs(math.log(c.chi_1)) <= math.log(CRITICAL_BAND)
        and (c.q_star is not None or kern.act.homogeneous)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (size_rank(c), CRITERIA.index(c.name))).name


def _uniform(act, sigma_w2, sigma_b2, width, depth, init=None) -> Network:
    initializer = init if init is not None else explicit_init(sigma_w2)
    return Network(initializer, act, (width,) * (depth + 1), math.sqrt(sigma_b2))


def _stack_drift(act, sigma_w2, sigma_b2, width, depth) -> tuple[bool, float]:
    """(saturated, worst change in decades of Var(h) or gradient RMS) over the stack.

    A bounded activation whose last layer is mostly in its flat part (the simulation's
    "saturated" verdict) ranks after every unsaturated choice, however flat its curves.
    """
    net = _uniform(act, sigma_w2, sigma_b2, width, depth)
    worst, saturated = 0.0, False
    for m0 in PROBE_INPUTS:
        p = predict(net, m0)
        q_last = p.preact_var[-1]
        if math.isfinite(q_last) and saturated_fraction(act, q_last) > SATURATED:
            saturated = True
        for a, b in (
            (p.log10_preact_var[-1], p.log10_preact_var[0]),
            (p.log10_grad_rms[0], p.log10_grad_rms[-1]),
        ):
            d = abs(a - b)
            worst = max(worst, d if math.isfinite(d) else math.inf)
    return saturated, worst


def _init_verdict(kern: Kernel, init: Initializer, bias_var, width, depth) -> InitVerdict:
    sw2 = init.sigma_w2(width, width)
    sb2 = bias_var if init.bias_variance is None else init.bias_variance(width)
    net = _uniform(kern.act, sw2, sb2, width, depth, init)
    p = predict(net, 1.0)
    forward = verdict(finite_or_none(p.log10_preact_var[-1] - p.log10_preact_var[0]))
    backward = verdict(finite_or_none(p.log10_grad_rms[0] - p.log10_grad_rms[-1]))
    q_last = p.preact_var[-1]
    if math.isfinite(q_last) and saturated_fraction(kern.act, q_last) > SATURATED:
        forward = "saturated"
    fp = fixed_point(kern.act, sw2, sb2)
    return InitVerdict(
        init=init.name,
        sigma_w2=sw2,
        bias_var=sb2,
        forward_factor=finite_or_none(sw2 * kern.unit.m2 + sb2),
        grad_factor=finite_or_none(sw2 * kern.unit.d2),
        q_star=finite_or_none(fp.q),
        chi_1=finite_or_none(fp.chi_1),
        forward=forward,
        backward=backward,
        verdict=init_summary(forward, backward),
    )


def _name_for(sigma_w2: float, width: int, verdicts=()) -> str:
    """The named initializer (zero bias, square layers) within 10% of sigma_w^2, or the
    number itself as ``--init`` accepts it.

    A name whose own verdict over the recommended depth is not stable does not stand for
    the number: 10% off compounds over depth (leaky-relu:0.3 needs 1.83, and He's 2
    explodes by 200 layers).
    """
    unstable = {v.init for v in verdicts if v.verdict != "stable"}
    best, gap = None, math.inf
    for init in judged_by_recommend():
        if init.bias_variance is not None:
            continue
        d = abs(math.log(init.sigma_w2(width, width) / sigma_w2))
        if d < gap:
            best, gap = init.name, d
    if best is not None and gap <= math.log1p(NAME_TOLERANCE) and best not in unstable:
        return best
    return f"{sigma_w2:.3g}"


def suggest_init(
    act: Activation | str,
    init: Initializer | str | float,
    *,
    width: int = 512,
    depth: int = 50,
    bias_var: float = 0.0,
) -> str | None:
    """One line: which init this activation needs, from :func:`recommend`'s best for a
    stack of this width, depth and bias variance.

    "relu keeps its variance with He (sigma_w^2 = 2): try --init he".
    """
    act = get_activation(act)
    init = get_initializer(init) if not isinstance(init, Initializer) else init
    rec = _recommend(act, bias_var, width, min(depth, MAX_SUGGEST_DEPTH))
    best_w2 = rec.best_sigma_w2
    if best_w2 is None:
        return None
    c = next(c for c in rec.criteria if c.name == rec.best_criterion)
    current = init.sigma_w2(width, width)
    named = next((i for i in judged_by_recommend() if i.name == rec.best_init), None)
    return suggest_line(
        act.label,
        rec.best_criterion,
        best_init=rec.best_init,
        best_w2=best_w2,
        display=None if named is None else named.display,
        current=current,
        # "already" only when the gap, compounded over the depth, moves q by under a decade.
        already=current > 0 and depth * abs(math.log(current / best_w2)) <= math.log(10),
        unstable=c.stable is False,
    )
