"""The sentences of ``recommend`` and of a simulation's fix line: text only, no numerics.

Every function here takes facts already computed (by :mod:`varprop.meanfield.criteria`
and :mod:`varprop.meanfield.recommendation`) and returns a string, so that the wording can
move to the rendering layer without touching the theory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

# How a simulate fix line says what the best criterion does.
CRITERION_WORDS = {
    "forward": "keeps its variance",
    "edge_of_chaos": "sits at the edge of chaos",
    "kumar": "follows Kumar (2017)",
    "torch_gain": "follows PyTorch's gain",
}


class UnstableFacts(NamedTuple):
    """Why q = 1 is an unstable fixed point (GELU, SiLU, Mish), and what would fix it."""

    label: str
    eps: float  # d ln E[phi^2] / d ln q at q = 1
    he_ratio: float  # q_2 / q_1 at q = 1 under He's sigma_w^2 = 2
    no_stable_zero_bias: bool  # no zero-bias sigma_w^2 has a stable q* > 0
    # (need, example sigma_b^2, sigma_w^2, slope, chi_1) of a bias that stabilises q = 1
    bias_fix: tuple[float, float, float, float, float] | None
    # (sigma_b^2, sigma_w^2, q*) of the first edge of chaos with a stable q*
    eoc_with_bias: tuple[float, float, float] | None


def unstable_advice(f: UnstableFacts) -> str:
    """What to do when q = 1 is an unstable fixed point."""
    parts = [
        f"{f.label}'s E[phi^2](q) / q grows through q = 1 (d ln E[phi^2] / d ln q = "
        f"{f.eps:.3g} > 1), so q = 1 repels: above it the signal explodes, below it the "
        f"signal decays to 0; "
        f"He's sigma_w^2 = 2 gives q_2/q_1 = {f.he_ratio:.3g} at q = 1, so signals vanish"
    ]
    if f.no_stable_zero_bias:
        parts.append("no zero-bias sigma_w^2 has a stable q* > 0")
    if f.bias_fix is not None:
        need, example, sw2, slope, chi = f.bias_fix
        parts.append(
            f"a bias variance makes q = 1 stable: any sigma_b^2 > {need:.3g}, e.g. "
            f"--bias-var {example:g} with sigma_w^2 = {sw2:.4g} (slope {slope:.3g}, "
            f"chi_1 = {chi:.3g})"
        )
    if f.eoc_with_bias is not None:
        sb2, sw2, q = f.eoc_with_bias
        parts.append(
            f"the edge of chaos has a stable q* = {q:.3g} from sigma_b^2 = {sb2:g} "
            f"(sigma_w^2 = {sw2:.4g})"
        )
    return "; ".join(parts)


def recommend_note(
    label: str,
    best,  # the best Criterion, or None
    bias_var: float,
    depth: int,
    *,
    critical: bool,
    scores: dict[str, tuple[bool, float]],
    order: Sequence[str],
    unstable: str | None,
) -> str:
    """The summary line of ``recommend``: which criterion won, and why."""
    if best is None:
        return f"no criterion has an answer for {label} at sigma_b^2 = {bias_var:g}"
    sat, drift = scores[best.name]
    how = (
        f"critical (chi_1 = {best.chi_1:.3g}, the gradient neither grows nor shrinks per layer)"
        if critical
        else "the flattest curves"
    )
    note = (
        f"best: {best.name} (sigma_w^2 = {best.sigma_w2:.4g}), {how}: over {depth} layers "
        f"its Var(h) and gradient RMS move by at most {drift:.2g} decades in theory"
    )
    if sat:
        note += ", with most units saturated (every criterion saturates)"
    others = [
        f"{n} {scores[n][1]:.2g}" + (" saturated" if scores[n][0] else "")
        for n in order
        if n in scores and n != best.name
    ]
    if others:
        note += f" (others: {', '.join(others)})"
    if unstable is not None:
        note += f"; but its fixed point is UNSTABLE: {unstable}"
    return note


def init_summary(forward: str, backward: str) -> str:
    """One phrase for a named init's two verdicts."""
    if forward == backward:
        return forward
    if backward == "stable":
        return f"{forward} signal"
    if forward == "stable":
        return f"{backward} gradients"
    return f"{forward} signal, {backward} gradients"


def suggest_line(
    label: str,
    criterion: str,
    *,
    best_init: str,
    best_w2: float,
    display: str | None,
    current: float,
    already: bool,
    unstable: bool,
) -> str:
    """ "relu keeps its variance with He (sigma_w^2 = 2): try --init he"."""
    words = CRITERION_WORDS[criterion]
    if already:
        return (
            f"{label} already {words} with sigma_w^2 = {current:.3g}: no init does "
            f"better in theory; where the theory column drifts too, the drift is the "
            f"activation's own at this depth, elsewhere it is finite width; see "
            f"varprop recommend --act {label}"
        )
    if display is not None:
        line = f"{label} {words} with {display} (sigma_w^2 = {best_w2:.3g}): try --init {best_init}"
    else:
        line = f"{label} {words} with sigma_w^2 = {best_w2:.3g}: try --init {best_init}"
    if unstable:
        line += f" (an unstable fixed point: see varprop recommend --act {label})"
    return line


# -- the criteria's notes (criteria.py states the numbers, these the words) --------------


def forward_note(sigma_w2: float | None, sigma_b2: float) -> str:
    """``sigma_w2`` None: no sigma_w^2 makes q = 1 a fixed point (sigma_b^2 >= 1)."""
    if sigma_w2 is None:
        return f"no sigma_w^2 makes q = 1 a fixed point: sigma_b^2 = {sigma_b2:g} >= 1 already"
    return f"q = 1 is a fixed point: sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2] = {sigma_w2:.6g}"


def eoc_note(case: str, *, label: str, sigma_w2: float | None, sigma_b2: float, others=()) -> str:
    """``case``: "homogeneous" (chi_1 = 1 at every q), "at_infinity" (only as q* -> inf),
    "none" (no sigma_w^2) or "found" (at a finite q*; ``others`` the other roots)."""
    if case == "homogeneous":
        return (
            f"chi_1 = sigma_w^2 E[phi'(z)^2] = 1 at every q for homogeneous {label}: "
            f"sigma_w^2 = {sigma_w2:.6g}"
        )
    if case == "at_infinity":
        return (
            f"chi_1 < 1 at every finite fixed point and -> 1 as q* -> inf, where "
            f"sigma_w^2 -> 1 / E[phi'^2](inf) = {sigma_w2:.6g}: there q grows without bound "
            "but slower than geometrically, and chi -> 1 (the transition is at q* = inf)"
        )
    if case == "none":
        return f"no sigma_w^2 gives chi_1 = 1 at sigma_b^2 = {sigma_b2:g}"
    note = (
        f"chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] = 1 at sigma_w^2 = {sigma_w2:.6g}, "
        f"sigma_b^2 = {sigma_b2:g}"
    )
    if others:
        note += f" (also at sigma_w^2 = {', '.join(f'{w:.4g}' for w in others)})"
    return note


def kumar_note(
    rule: str, *, label: str, sigma_w2: float | None, d0: float | None, phi0: float
) -> str:
    """Kumar (2017)'s rule ``rule`` for this activation; ``sigma_w2`` None: no answer."""
    if rule == "relu":
        return (
            "Kumar (2017) derives 2/N for ReLU separately (the differentiable-at-0 rule "
            "does not apply)"
        )
    if rule == "sigmoid":
        return (
            f"Kumar (2017) gives about 3.6^2/N = 12.96/N for sigmoid.  Reproduced as: "
            f"with phi(h) ~ phi(0) + phi'(0) h, keep the activation variance at the "
            f"input's 1, i.e. phi'(0)^2 sigma_w^2 (1 + phi(0)^2) = 1, so sigma_w^2 = "
            f"16/1.25 = {sigma_w2:.4g} (sigma_w = {math.sqrt(sigma_w2):.3f}; 3.6 is it "
            f"rounded).  The exact mean-field map disagrees: q* is far from 1 and chi_1 << 1"
        )
    if sigma_w2 is None:
        return (
            f"{label} is not differentiable at 0, and Kumar (2017) treats only ReLU "
            "among such activations"
        )
    note = f"Kumar (2017): 1 / phi'(0)^2 = 1 / {d0:.4g}^2 = {sigma_w2:.6g}"
    if phi0 != 0:
        note += (
            f" (his rule assumes phi(0) = 0; here phi(0) = {phi0:.4g}, and his "
            f"sigmoid-style correction 1 / (phi'(0)^2 (1 + phi(0)^2)) would give "
            f"{1 / (d0 * d0 * (1 + phi0**2)):.4g})"
        )
    return note


def torch_note(label: str, gain: float | None, *, empirical: bool) -> str:
    """PyTorch's calculate_gain for this activation (``gain`` None: it has none)."""
    if gain is None:
        return f"torch.nn.init.calculate_gain has no entry for {label}"
    note = f"torch.nn.init.calculate_gain = {gain:.6g}, squared: {gain**2:.6g}"
    if empirical:
        note += " (a value PyTorch's docs call empirical)"
    return note
