"""Mean-field theory (Poole et al. 2016, Schoenholz et al. 2017).  Work in progress."""

from __future__ import annotations

from varprop.activations import Activation
from varprop.initializers import Initializer


def forward_sigma_w2(act: Activation) -> float | None:
    """sigma_w^2 that keeps q = 1 a fixed point with zero bias: 1 / E[phi(z)^2], z ~ N(0,1)."""
    if act.second_moment is not None:
        return 1.0 / act.second_moment(1.0)
    if act.derivative_at_zero:
        # Kumar (2017): 1 / phi'(0)^2 for activations differentiable at 0.
        return 1.0 / act.derivative_at_zero**2
    return None


NAMED = {"he": 2.0, "lecun": 1.0}


def suggest_init(act: Activation, init: Initializer) -> str | None:
    """One line: the init this activation needs to keep its variance."""
    s = forward_sigma_w2(act)
    if s is None:
        return None
    for name, value in NAMED.items():
        if abs(value - s) < 1e-9:
            return f"{act.name} keeps its variance with sigma_w^2 = {s:g}: try --init {name}"
    return f"{act.name} keeps its variance with sigma_w^2 = {s:.3g}: try --init {s:.3g}"
