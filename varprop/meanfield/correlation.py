"""The correlation map of two inputs (Poole et al. 2016; Schoenholz et al. 2017, §3).

Two inputs whose pre-activations both have variance q* (the fixed point of the length
map) and correlation ``c`` come out of the next layer with correlation

    c_{l+1} = f(c_l) = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q*,
    u_1 = sqrt(q*) z_1,  u_2 = sqrt(q*) (c z_1 + sqrt(1 - c^2) z_2),

(Poole et al. 2016, eq. (5); Schoenholz et al. 2017, eq. (4)).  ``c = 1`` is always a
fixed point, with slope ``chi_1 = sigma_w^2 E[phi'(u)^2]``; in the ordered phase
(chi_1 < 1) it is the stable one, so ``c* = 1`` and ``chi_c = chi_1``.  In the chaotic
phase (chi_1 > 1) it repels, and f has a second fixed point ``c* < 1`` that attracts;
its slope ``chi_c = sigma_w^2 E[phi'(u_1) phi'(u_2)]`` at ``c*`` (eq. (6) of
Schoenholz et al.) is below 1.  Either way ``xi_c = -1 / ln chi_c`` (their eq. (9)) is
the positive number of layers over which correlations approach c*; it diverges at
chi_1 = 1, the order-to-chaos transition.

Expectations over (z_1, z_2): a Gauss-Hermite product rule of ``NODES`` points per axis.
For activations with a kink (relu, leaky-relu, hardtanh, elu family) that converges
only algebraically; ReLU-like ones use the arc-cosine kernel in closed form instead (Cho
& Saul 2009): ``E[relu(u_1) relu(u_2)] = q (sin t + (pi - t) cos t) / (2 pi)`` and
``E[step(u_1) step(u_2)] = (pi - t) / (2 pi)`` with ``cos t = c``.  The quadrature
agrees with the arc-cosine forms to ~1e-4 at c in [0, 0.99] (tested), ample for c*
stated to 3 digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from varprop.activations import Activation, get_activation

NODES = 64
# |f(c) - c| below this counts as the fixed point c = 1 (rounding of the quadrature).
C_TOL = 1e-9


@lru_cache(maxsize=1)
def _hermite() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E over z ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(NODES)
    return x, w / math.sqrt(2 * math.pi)


def _pair(act: Activation, q: float, c: float, derivative: bool) -> float:
    """E[g(u_1) g(u_2)] with g = phi or phi', (u_1, u_2) as in the module docstring."""
    relu_like = act.homogeneous and act.kinks == (0.0,)
    if relu_like:
        slope = -float(act.fn(np.array([-1.0]))[0])  # leaky-relu's negative slope, relu's 0
        return _arccos(q, c, slope, derivative)
    x, w = _hermite()
    z1, z2 = np.meshgrid(x, x, indexing="ij")
    ww = np.outer(w, w)
    s = math.sqrt(q)
    u1 = s * z1
    u2 = s * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
    g = act.derivative if derivative else act.fn
    with np.errstate(all="ignore"):
        return float(np.sum(ww * g(u1) * g(u2)))


def _arccos(q: float, c: float, a: float, derivative: bool) -> float:
    """Leaky ReLU with negative slope ``a`` (relu: a = 0), in closed form.

    phi(u) = r(u) - a r(-u) with r = relu, and (-u_1, -u_2) has correlation c while
    (u_1, -u_2) has -c, so E[phi phi] = (1 + a^2) K1(c) - 2a K1(-c); likewise
    phi'(u) = s(u) + a s(-u), E[phi' phi'] = (1 + a^2) K0(c) + 2a K0(-c), with K1, K0
    the arc-cosine kernels of order 1 and 0 (Cho & Saul 2009).
    """

    def k(cc: float) -> float:
        t = math.acos(min(1.0, max(-1.0, cc)))
        if derivative:
            return (math.pi - t) / (2 * math.pi)
        return q * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)

    cross = 2 * a * k(-c)
    return (1 + a * a) * k(c) + (cross if derivative else -cross)


@dataclass(frozen=True)
class CorrelationFixedPoint:
    """The stable fixed point c* of the correlation map, its slope and depth scale."""

    c_star: float
    chi_c: float
    xi_c: float | None  # -1 / ln chi_c: layers; None where chi_c = 1 (infinite)


def correlation_map(act: str | Activation, sigma_w2: float, sigma_b2: float, q: float, c):
    """f(c) at the length map's fixed point q (vectorised over c).

    Normalised by the same quadrature's f(1) numerator, so that f(1) = 1 exactly and
    the slope at 1 is not lost to the rule's ~1e-7 error in E[phi^2].
    """
    a = get_activation(act)
    cs = np.atleast_1d(np.asarray(c, dtype=float))
    top = sigma_w2 * _pair(a, q, 1.0, False) + sigma_b2
    out = np.array([(sigma_w2 * _pair(a, q, float(x), False) + sigma_b2) / top for x in cs])
    return out if np.ndim(c) else float(out[0])


def correlation_fixed_point(
    act: str | Activation, sigma_w2: float, sigma_b2: float, q: float
) -> CorrelationFixedPoint | None:
    """c*, chi_c and xi_c at the length map's fixed point q > 0 (None for q <= 0)."""
    a = get_activation(act)
    if not (q > 0 and math.isfinite(q)):
        return None
    chi_1 = sigma_w2 * _pair(a, q, 1.0, True)
    c_star = 1.0 if chi_1 <= 1.0 else _chaotic_fixed_point(a, sigma_w2, sigma_b2, q)
    chi_c = sigma_w2 * _pair(a, q, c_star, True)
    xi = None if not 0.0 < chi_c < 1.0 else -1.0 / math.log(chi_c)
    return CorrelationFixedPoint(c_star, chi_c, xi)


# Where the chaotic fixed point is looked for: a grid in c, then bisection.
SCAN = np.linspace(-1.0, 0.999, 201)


def _chaotic_fixed_point(a: Activation, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """The largest root of g(c) = f(c) - c below 1: the attracting c* of the chaotic
    phase (g < 0 just below 1, where f's slope exceeds 1; g(-1) = f(-1) + 1 >= 0)."""

    def g(c: float) -> float:
        return float(correlation_map(a, sigma_w2, sigma_b2, q, c)) - c

    values = [g(float(c)) for c in SCAN]
    for i in range(len(SCAN) - 1, 0, -1):
        if values[i - 1] >= 0 > values[i]:
            lo, hi = float(SCAN[i - 1]), float(SCAN[i])
            break
    else:
        # f stays above the diagonal on the whole scan: chi_1 is so close to 1 that the
        # chaotic fixed point has not yet left c = 1 by a scan step (it moves off as
        # chi_1 - 1 grows from 0), so c* is 1 to the scan's resolution.
        return 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) >= 0 else (lo, mid)
    return 0.5 * (lo + hi)
