"""The sentences varprop prints about advice and verdicts (the rendering layer's words).

The numeric core returns facts (:class:`varprop.results.Fix`, verdict words, limits);
every sentence built from them, and every command-line option named in one, is here.
"""

from __future__ import annotations

from varprop.results import Fix

# Display names of the named initializers (the registry names are what --init takes).
DISPLAY = {
    "he": "He",
    "lecun": "LeCun",
    "xavier": "Xavier",
    "orthogonal": "orthogonal",
    "normal": "N(0, 1)",
    "keras-default": "Keras' default",
    "flax-default": "Flax's default",
    "torch-default": "PyTorch's default",
}

SOURCES = {
    "forward": "keeps q = 1 a fixed point",
    "edge_of_chaos": "sits at the edge of chaos",
    "kumar": "follows Kumar (2017)",
    "torch_gain": "follows PyTorch's gain",
    "sweep": "is the best of a sweep",
}


def fix_args(fix: Fix) -> list[str]:
    """The options that replace the run's init / bias / standardize options."""
    args = ["--standardize"] if fix.standardize else []
    args += ["--init", fix.init]
    if fix.bias_var != 0 or fix.replaces_bias:
        args += ["--bias-var", f"{fix.bias_var:g}"]
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
    setting = f"sigma_w^2 = {fix.sigma_w2:.4g}"
    if fix.bias_var:
        setting += f", sigma_b^2 = {fix.bias_var:g}"
    name = DISPLAY.get(fix.init)
    how = f"{name} ({setting})" if name else setting
    command = " ".join(fix_args(fix))
    first = "standardize the input, then " if fix.standardize else ""
    if fix.kind == "stable":
        return (
            f"{first}{how} keeps {fix.act} stable both ways over {fix.depth} layers "
            f"in theory: {command}"
        )
    return (
        f"no setting keeps both stable for {fix.act} over {fix.depth} layers; "
        f"{first}the best trade-off, {how}, keeps the signal ({fix.expect_forward}) and "
        f"changes the gradient by {_decades(fix.log10_backward_change)} "
        f"({fix.expect_backward}): {command}"
    )


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
