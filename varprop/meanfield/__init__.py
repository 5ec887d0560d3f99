"""Mean-field theory of deep random networks: q_l, chi, fixed points, depth scales, advice.

One concern a module:

- :mod:`~varprop.meanfield.gaussian`: Gaussian moments of one activation (:class:`Kernel`).
- :mod:`~varprop.meanfield.recursion`: the layer recursion, :func:`predict`.
- :mod:`~varprop.meanfield.fixedpoints`: fixed points, stability, edge of chaos, phase.
- :mod:`~varprop.meanfield.stack`: :func:`theory`, the simulate shape at infinite width.
- :mod:`~varprop.meanfield.criteria`: the sigma_w^2 each criterion asks for.
- :mod:`~varprop.meanfield.candidates`: every setting judged over the stack; the fix.
- :mod:`~varprop.meanfield.recommendation`: :func:`recommend` (facts; the sentences
  are the rendering layer's, :mod:`varprop.words`).
- :mod:`~varprop.meanfield.blocks`: residual and normalized blocks, LSUV (DESIGN "Blocks").

The names below are the package's public surface (and what the rest of varprop imports).
"""

from __future__ import annotations

from varprop.meanfield.candidates import RunFacts, fix_for, judge_prediction, noise_decades
from varprop.meanfield.fixedpoints import (
    FixedPoint,
    edge_of_chaos,
    fixed_point,
    fixed_points,
    phase,
)
from varprop.meanfield.gaussian import (
    Kernel,
    LogMoments,
    Moments,
    derivative_second_moment,
    kernel,
    mean,
    second_moment,
    second_moment_slope,
    variance,
)
from varprop.meanfield.recommendation import recommend
from varprop.meanfield.recursion import Prediction, predict
from varprop.meanfield.stack import MAX_THEORY_DEPTH, build_network, saturated_fraction, theory

__all__ = [
    "MAX_THEORY_DEPTH",
    "FixedPoint",
    "Kernel",
    "LogMoments",
    "Moments",
    "Prediction",
    "RunFacts",
    "build_network",
    "derivative_second_moment",
    "edge_of_chaos",
    "fix_for",
    "fixed_point",
    "fixed_points",
    "judge_prediction",
    "kernel",
    "mean",
    "noise_decades",
    "phase",
    "predict",
    "recommend",
    "saturated_fraction",
    "second_moment",
    "second_moment_slope",
    "theory",
    "variance",
]
