"""The sentences of ``recommend`` and of a simulation's fix line: text only, no numerics.

Every function here takes facts already computed (by :mod:`varprop.meanfield.criteria`
and :mod:`varprop.meanfield.recommend`) and returns a string, so that the wording can
move to the rendering layer without touching the theory.
"""

from __future__ import annotations

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
