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

from varprop.meanfield.advice import UnstableFacts, unstable_advice
from varprop.meanfield.fixedpoints import MARGINAL, edge_of_chaos, fixed_point
from varprop.meanfield.gaussian import Kernel
from varprop.results import Criterion, finite_or_none

CRITERIA = ("forward", "edge_of_chaos", "kumar", "torch_gain")


def criteria(kern: Kernel, sigma_b2: float) -> tuple[Criterion, ...]:
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
    m2 = kern.unit.m2
    if sigma_b2 >= 1:
        return _criterion(
            "forward",
            kern,
            None,
            sigma_b2,
            f"no sigma_w^2 makes q = 1 a fixed point: sigma_b^2 = {sigma_b2:g} >= 1 already",
        )
    sw2 = (1 - sigma_b2) / m2
    note = f"q = 1 is a fixed point: sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2] = {sw2:.6g}"
    c = _criterion("forward", kern, sw2, sigma_b2, note, q_start=1.0)
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
    found = edge_of_chaos(kern.act, sigma_b2)
    if kern.act.homogeneous and found:
        sw2, _ = found[0]
        note = (
            f"chi_1 = sigma_w^2 E[phi'(z)^2] = 1 at every q for homogeneous {kern.act.label}: "
            f"sigma_w^2 = {sw2:.6g}"
        )
        return _criterion("edge_of_chaos", kern, sw2, sigma_b2, note)
    if not found and kern.alpha2 > 0:
        # No finite q* has chi_1 = 1; along the fixed points chi_1 -> 1 as q* -> inf,
        # where sigma_w^2 -> 1 / alpha2.  If q grows there, that is the transition.
        sw2 = 1.0 / kern.alpha2
        fp = fixed_point(kern.act, sw2, sigma_b2)
        if fp.kind == "diverges":
            return Criterion(
                "edge_of_chaos",
                sw2,
                None,
                None,
                1.0,
                "critical",
                f"chi_1 < 1 at every finite fixed point and -> 1 as q* -> inf, where "
                f"sigma_w^2 -> 1 / E[phi'^2](inf) = {sw2:.6g}: there q grows without bound "
                "but slower than geometrically, and chi -> 1 (the transition is at q* = inf)",
            )
    if not found:
        return Criterion(
            "edge_of_chaos",
            None,
            None,
            None,
            None,
            None,
            f"no sigma_w^2 gives chi_1 = 1 at sigma_b^2 = {sigma_b2:g}",
        )

    def rank(item):  # stable first, then marginal, then unstable; then small sigma_w^2
        sw2, fp = item
        return ({True: 0, None: 1, False: 2}[fp.stable], sw2)

    sw2, fp = min(found, key=rank)
    others = [f"{w:.4g}" for w, _ in found if w != sw2]
    note = (
        f"chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] = 1 at sigma_w^2 = {sw2:.6g}, "
        f"sigma_b^2 = {sigma_b2:g}"
    )
    if others:
        note += f" (also at sigma_w^2 = {', '.join(others)})"
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
    if act.kumar_rule == "relu":
        return _criterion(
            "kumar",
            kern,
            2.0,
            sigma_b2,
            "Kumar (2017) derives 2/N for ReLU separately (the differentiable-at-0 rule "
            "does not apply)",
        )
    if act.kumar_rule == "sigmoid":
        # Kumar's separate sigmoid result, ~3.6^2 / N.  Reconstructed criterion: linearise
        # phi(h) ~ phi(0) + phi'(0) h and ask that the *activations* keep the input's
        # variance 1.  Var(a_{l+1}) = phi'(0)^2 Var(h_{l+1}) and Var(h_{l+1}) =
        # sigma_w^2 E[a_l^2] = sigma_w^2 (Var(a_l) + phi(0)^2), so Var(a) = 1 needs
        # sigma_w^2 = 1 / (phi'(0)^2 (1 + phi(0)^2)) = 16 / 1.25 = 12.8 = 3.58^2.
        d0, p0 = act.derivative_at_zero, kern.phi0
        sw2 = 1.0 / (d0 * d0 * (1 + p0 * p0))
        return _criterion(
            "kumar",
            kern,
            sw2,
            sigma_b2,
            f"Kumar (2017) gives about 3.6^2/N = 12.96/N for sigmoid.  Reproduced as: "
            f"with phi(h) ~ phi(0) + phi'(0) h, keep the activation variance at the "
            f"input's 1, i.e. phi'(0)^2 sigma_w^2 (1 + phi(0)^2) = 1, so sigma_w^2 = "
            f"16/1.25 = {sw2:.4g} (sigma_w = {math.sqrt(sw2):.3f}; 3.6 is it rounded).  "
            f"The exact mean-field map disagrees: q* is far from 1 and chi_1 << 1",
            q_start=None,
        )
    d0 = act.derivative_at_zero
    if d0 is None or d0 == 0:
        return _criterion(
            "kumar",
            kern,
            None,
            sigma_b2,
            f"{act.label} is not differentiable at 0, and Kumar (2017) treats only ReLU "
            "among such activations",
        )
    sw2 = 1.0 / (d0 * d0)
    note = f"Kumar (2017): 1 / phi'(0)^2 = 1 / {d0:.4g}^2 = {sw2:.6g}"
    if kern.phi0 != 0:
        note += (
            f" (his rule assumes phi(0) = 0; here phi(0) = {kern.phi0:.4g}, and his "
            f"sigmoid-style correction 1 / (phi'(0)^2 (1 + phi(0)^2)) would give "
            f"{1 / (d0 * d0 * (1 + kern.phi0**2)):.4g})"
        )
    return _criterion("kumar", kern, sw2, sigma_b2, note)


def _torch_criterion(kern: Kernel, sigma_b2: float) -> Criterion:
    act = kern.act
    if act.torch_gain is None:
        return _criterion(
            "torch_gain",
            kern,
            None,
            sigma_b2,
            f"torch.nn.init.calculate_gain has no entry for {act.label}",
        )
    sw2 = act.torch_gain**2
    note = f"torch.nn.init.calculate_gain = {act.torch_gain:.6g}, squared: {sw2:.6g}"
    if act.gain_empirical:
        note += " (a value PyTorch's docs call empirical)"
    return _criterion("torch_gain", kern, sw2, sigma_b2, note)
