"""The sentences varprop prints about advice and verdicts (the rendering layer's words).

The numeric core returns facts (:class:`varprop.results.Fix`, verdict words, limits);
every sentence built from them, and every command-line option named in one, is here.
"""

from __future__ import annotations

import math

from varprop.initializers import BASES
from varprop.results import Fix


def fix_args(fix: Fix) -> list[str]:
    """The options that replace the run's init / bias / standardize options."""
    args = ["--standardize"] if fix.standardize else []
    if fix.init is not None:
        args += ["--init", fix.init]
        if fix.bias_var != 0 or fix.replaces_bias:
            args += ["--bias-var", f"{fix.bias_var:g}"]
    for flag, value in fix.options:
        args += [flag, value]
    return args


def verdict_text(word: str, exponent: float | None = None) -> str:
    """A verdict word, with a power law's exponent: ``power-law (l^-1.00)``."""
    if word == "power-law" and exponent is not None:
        return f"power-law (l^{exponent:+.2f})"
    return word


def _decades(change: float | None) -> str:
    return "?" if change is None else f"10^{change:+.1f}"


def fix_text(fix: Fix) -> str:
    """One sentence: what to run and what it will show."""
    sentence, command = fix_parts(fix)
    return f"{sentence}: {command}" if command else sentence


def fix_parts(fix: Fix) -> tuple[str, str]:
    """The fix's sentence and the options to paste, which :func:`fix_text` joins with a
    colon (a table prints them on a line of their own, never broken).  A block fix names
    its options inside the sentence: then the second part is empty."""
    setting = f"sigma_w^2 = {fix.sigma_w2:.4g}"
    if fix.bias_var:
        setting += f", sigma_b^2 = {fix.bias_var:g}"
    named = BASES.get(fix.init or "")
    name = named.display if named is not None and named.display else None
    how = f"{name} ({setting})" if name else setting
    command = " ".join(fix_args(fix))
    if fix.options:
        why = BLOCK_REASONS.get(fix.source, "")
        return (
            f"{why}{command} keeps this {fix.act} stack stable both ways over {fix.depth} "
            "layers in theory"
        ), ""
    first = "standardize the input, then " if fix.standardize else ""
    if fix.kind == "stable":
        return (
            f"{first}{how} keeps {fix.act} stable both ways over {fix.depth} layers in theory"
        ), command
    return (
        f"no setting keeps both stable for {fix.act} over {fix.depth} layers; "
        f"{first}the best trade-off, {how}, keeps the signal ({fix.expect_forward}) and "
        f"changes the gradient by {_decades(fix.log10_backward_change)} "
        f"({fix.expect_backward})"
    ), command


BLOCK_REASONS = {
    "residual": "each residual block adds its branch's variance to the stream; ",
    "batch": (
        "BatchNorm multiplies the gradient by E[phi'^2]/Var[phi] per layer (Yang et al. 2019); "
    ),
}

LIMITS = {
    "finite-width": (
        "theory calls this setting stable: the drift here is finite width "
        "(it grows with depth/width, Hanin & Rolnick 2018): widen the layers"
    ),
    "no-stable-setting": (
        "no init or bias keeps both stable for this activation at this depth, and this "
        "setting is already the best trade-off: fewer layers, another activation, "
        "residual connections or normalization would help"
    ),
}


def limit_text(limit: str | None) -> str | None:
    return None if limit is None else LIMITS[limit]


# -- why q = 1 repels (GELU, SiLU, Mish) ----------------------------------------------


def unstable_advice(f) -> str:
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
