"""``varprop.recommend(...)``: which init an activation needs, and how each named init
fares, judged by theory over the whole stack, both ways (facts only).

The candidates and the choice are :mod:`varprop.meanfield.candidates`'; ``recommend``
states them for a stack of ``depth`` square layers of ``width`` from an input of second
moment ``input_second_moment`` (1 for N(0, 1) input), at the bias variance given.
"""

from __future__ import annotations

from functools import lru_cache

from varprop.activations import Activation, get_activation
from varprop.meanfield.candidates import Candidate, as_fix, candidates, choose
from varprop.meanfield.criteria import all_criteria
from varprop.meanfield.fixedpoints import fixed_point
from varprop.meanfield.gaussian import kernel
from varprop.meanfield.stack import check_int, check_var
from varprop.results import InitVerdict, RecommendResult, finite_or_none, pow10

# Deepest stack ``recommend`` judges over (its --depth).
MAX_RECOMMEND_DEPTH = 10_000


def recommend(
    act: str | Activation = "relu",
    bias_var: float = 0.0,
    *,
    width: int = 512,
    depth: int = 50,
) -> RecommendResult:
    """Every criterion's sigma_w^2, every named init's verdicts, and the best setting.

    Criteria (each with the fixed point q* the variance map then reaches, whether it is
    stable, chi_1 and the phase): ``forward`` (q = 1 a fixed point), ``edge_of_chaos``
    (chi_1(q*) = 1; Poole et al. 2016, Schoenholz et al. 2017), ``kumar`` (Kumar 2017)
    and ``torch_gain`` (``torch.nn.init.calculate_gain(act)^2``).

    ``best`` (a :class:`~varprop.results.Fix`) is stable both ways over ``depth``
    layers from N(0, 1) input in theory, robustly at this width, at ``bias_var`` when
    such a setting exists and with a bias otherwise; where none is stable both ways, it
    is the best trade-off (``best.kind == "trade-off"``).
    """
    return _recommend(
        get_activation(act),
        check_var(bias_var, "bias variance", "--bias-var"),
        check_int(width, "width", "--width"),
        check_int(depth, "depth", "--depth", MAX_RECOMMEND_DEPTH),
    )


@lru_cache(maxsize=64)
def _recommend(act: Activation, bias_var: float, width: int, depth: int) -> RecommendResult:
    widths = (width,) * (depth + 1)
    found = candidates(act, widths, bias_var, 1.0)
    chosen, kind = choose(found, bias_var)
    best = None
    if chosen is not None:
        best = as_fix(chosen, kind, act=act, depth=depth, replaces_bias=bias_var != 0)
    from varprop import __version__

    return RecommendResult(
        version=__version__,
        act=act.label,
        bias_var=bias_var,
        width=width,
        depth=depth,
        criteria=all_criteria(kernel(act), bias_var),
        inits=tuple(_init_verdict(act, c, depth) for c in found if c.named),
        best_criterion=None if chosen is None else chosen.source,
        best_sigma_w2=None if chosen is None else chosen.sigma_w2,
        best_init=None if chosen is None else chosen.init,
        best=best,
    )


def _init_verdict(act: Activation, c: Candidate, depth: int) -> InitVerdict:
    """A named init's record: verdicts and the per-layer factors (geometric means over
    the stack, as in compare) of Var(h) and of the gradient RMS."""
    fp = fixed_point(act, c.sigma_w2, c.bias_var)
    j = c.judgement
    steps = max(depth - 1, 1)

    def per_layer(change: float | None) -> float | None:
        return None if change is None else pow10(change / steps)

    return InitVerdict(
        init=c.init,
        sigma_w2=c.sigma_w2,
        bias_var=c.bias_var,
        forward_factor=per_layer(j.forward.log10_change),
        grad_factor=per_layer(j.backward.log10_change),
        q_star=finite_or_none(fp.q),
        chi_1=finite_or_none(fp.chi_1),
        forward=j.forward.word,
        backward=j.backward.word,
        verdict="stable" if j.stable else f"{j.forward.word}, {j.backward.word}",
    )
