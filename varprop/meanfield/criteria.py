"""The four criteria ``recommend`` knows: which sigma_w^2 each asks of an activation.

- ``forward``: q = 1 is a fixed point, ``sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2]``.
- ``edge_of_chaos``: chi_1(q*) = 1 (Poole et al. 2016; Schoenholz et al. 2017).
- ``kumar``: Kumar (2017), by the activation's ``kumar_rule``.
- ``torch_gain``: ``torch.nn.init.calculate_gain(act)^2`` (the activation's ``torch_gain``).

Each is stated with the fixed point the variance map then reaches, its stability,
chi_1 and the phase (:mod:`varprop.meanfield.fixedpoints`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from varprop.meanfield.advice import (
    UnstableFacts,
    eoc_note,
    forward_note,
    kumar_note,
    torch_note,
    unstable_advice,
)
from varprop.meanfield.fixedpoints import MARGINAL, edge_of_chaos, fixed_point
from varprop.meanfield.gaussian import Kernel
from varprop.results import Criterion, finite_or_none

CRITERIA = ("forward", "edge_of_chaos", "kumar", "torch_gain")


def all_criteria(kern: Kernel, sigma_b2: float) -> tuple[Criterion, ...]:
    """Every criterion for this activation and bias variance, in :data:`CRITERIA` order."""
    return (
        _forward_criterion(kern, sigma_b2),
        _eoc_criterion(kern, sigma_b2),
        _kumar_criterion(kern, sigma_b2),
        _torch_criterion(kern, sigma_b2),
    )


def _criterion(name, kern, sigma_w2, sigma_b2, note, q_start=None) -> Criterion:
    if sigma_w2 is None:
        return Criterion(name, None, None, None, None, None, note)
    fp = fixed_point(kern.act, sigma_w2, sigma_b2, q_start=q_start)
    return Criterion(
        name=name,
        sigma_w2=sigma_w2,
        q_star=None if fp.kind == "every" else finite_or_none(fp.q),
        stable=fp.stable,
        chi_1=finite_or_none(fp.chi_1),
        phase=fp.phase,
        note=f"{note}; {fp.note}",
    )


def _forward_criterion(kern: Kernel, sigma_b2: float) -> Criterion:
    if sigma_b2 >= 1:
        return _criterion("forward", kern, None, sigma_b2, forward_note(None, sigma_b2))
    sw2 = (1 - sigma_b2) / kern.unit.m2
    c = _criterion("forward", kern, sw2, sigma_b2, forward_note(sw2, sigma_b2), q_start=1.0)
    if c.stable is False:
        c = replace(c, note=f"{c.note}; {unstable_advice(unstable_facts(kern, sigma_b2))}")
    return c


def unstable_facts(kern: Kernel, sigma_b2: float) -> UnstableFacts:
    """Why q = 1 is an unstable fixed point (GELU, SiLU, Mish), and what would fix it."""
    # d ln E[phi^2] / d ln q at q = 1: the forward criterion's slope is (1 - sigma_b^2) eps.
    eps = kern.unit.slope / kern.unit.m2
    bias_fix = None
    if eps > 1:
        need = 1 - 1 / eps
        example = min(0.95, math.ceil(2 * need * 20) / 20)
        sw2 = (1 - example) / kern.unit.m2
        bias_fix = (need, example, sw2, (1 - example) * eps, sw2 * kern.unit.d2)
    return UnstableFacts(
        label=kern.act.label,
        eps=eps,
        he_ratio=2.0 * kern.unit.m2,
        no_stable_zero_bias=sigma_b2 == 0 and _no_stable_zero_bias_fixed_point(kern),
        bias_fix=bias_fix,
        eoc_with_bias=_stable_eoc_with_bias(kern),
    )


def _no_stable_zero_bias_fixed_point(kern: Kernel) -> bool:
    """With sigma_b^2 = 0, q* > 0 is a fixed point of sigma_w^2 = q* / E[phi^2](q*) with
    slope d ln E[phi^2] / d ln q at q*: True when that exceeds 1 all along the scan."""
    if kern.phi0 != 0:
        return False
    grid = kern.scan()
    eps = grid.slope * grid.q / grid.m2
    # >= 1 everywhere (= 1 only in the q -> 0 limit, the marginal q* = 0), > 1 somewhere.
    return bool(np.all(eps > 1 - MARGINAL) and np.any(eps > 1 + MARGINAL))


def _stable_eoc_with_bias(kern: Kernel) -> tuple[float, float, float] | None:
    """The smallest sigma_b^2 (on a grid up to 1) whose edge of chaos has a stable q*."""
    for sb2 in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0):
        for sw2, fp in edge_of_chaos(kern.act, sb2):
            if fp.stable and fp.q is not None:
                return sb2, sw2, fp.q
    return None


def _eoc_criterion(kern: Kernel, sigma_b2: float) -> Criterion:
    label = kern.act.label
    found = edge_of_chaos(kern.act, sigma_b2)
    if kern.act.homogeneous and found:
        sw2, _ = found[0]
        note = eoc_note("homogeneous", label=label, sigma_w2=sw2, sigma_b2=sigma_b2)
        return _criterion("edge_of_chaos", kern, sw2, sigma_b2, note)
    if not found and kern.alpha2 > 0:
        # No finite q* has chi_1 = 1; along the fixed points chi_1 -> 1 as q* -> inf,
        # where sigma_w^2 -> 1 / alpha2.  If q grows there, that is the transition.
        sw2 = 1.0 / kern.alpha2
        fp = fixed_point(kern.act, sw2, sigma_b2)
        if fp.kind == "diverges":
            note = eoc_note("at_infinity", label=label, sigma_w2=sw2, sigma_b2=sigma_b2)
            return Criterion("edge_of_chaos", sw2, None, None, 1.0, "critical", note)
    if not found:
        note = eoc_note("none", label=label, sigma_w2=None, sigma_b2=sigma_b2)
        return Criterion("edge_of_chaos", None, None, None, None, None, note)

    def rank(item):  # stable first, then marginal, then unstable; then small sigma_w^2
        sw2, fp = item
        return ({True: 0, None: 1, False: 2}[fp.stable], sw2)

    sw2, fp = min(found, key=rank)
    others = [w for w, _ in found if w != sw2]
    note = eoc_note("found", label=label, sigma_w2=sw2, sigma_b2=sigma_b2, others=others)
    return Criterion(
        "edge_of_chaos",
        sw2,
        None if fp.kind == "every" else finite_or_none(fp.q),
        fp.stable,
        finite_or_none(fp.chi_1),
        fp.phase,
        f"{note}; {fp.note}",
    )


def _kumar_criterion(kern: Kernel, sigma_b2: float) -> Criterion:
    act = kern.act
    d0 = act.derivative_at_zero
    if act.kumar_rule == "relu":
        sw2 = 2.0
    elif act.kumar_rule == "sigmoid":
        # Kumar's separate sigmoid result, ~3.6^2 / N.  Reconstructed criterion: linearise
        # phi(h) ~ phi(0) + phi'(0) h and ask that the *activations* keep the input's
        # variance 1.  Var(a_{l+1}) = phi'(0)^2 Var(h_{l+1}) and Var(h_{l+1}) =
        # sigma_w^2 E[a_l^2] = sigma_w^2 (Var(a_l) + phi(0)^2), so Var(a) = 1 needs
        # sigma_w^2 = 1 / (phi'(0)^2 (1 + phi(0)^2)) = 16 / 1.25 = 12.8 = 3.58^2.
        sw2 = 1.0 / (d0 * d0 * (1 + kern.phi0 * kern.phi0))
    elif d0 is None or d0 == 0:
        sw2 = None  # the rule needs phi'(0)
    else:
        sw2 = 1.0 / (d0 * d0)
    note = kumar_note(act.kumar_rule, label=act.label, sigma_w2=sw2, d0=d0, phi0=kern.phi0)
    return _criterion("kumar", kern, sw2, sigma_b2, note)


def _torch_criterion(kern: Kernel, sigma_b2: float) -> Criterion:
    act = kern.act
    sw2 = None if act.torch_gain is None else act.torch_gain**2
    note = torch_note(act.label, act.torch_gain, empirical=act.gain_empirical)
    return _criterion("torch_gain", kern, sw2, sigma_b2, note)
