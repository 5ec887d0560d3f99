"""Fixed points of the variance map, their stability, the edge of chaos, phase, depth scales.

Fixed point and depth scales (Schoenholz et al. 2017, §3).  ``q*`` solves ``q* =
sigma_w^2 E[phi(sqrt(q*) z)^2] + sigma_b^2``.  The slope of the map there, ``chi_q =
sigma_w^2 E[phi'(h)^2 + phi(h) phi''(h)]`` (computed in the equivalent Stein form
``sigma_w^2 E[z phi(sqrt(q) z) phi'(sqrt(q) z)] / sqrt(q)``, which needs no phi''),
says whether ``q*`` is stable (``chi_q < 1``) and sets ``xi_q = -1 / ln chi_q``.
``chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]`` sets the phase (ordered ``chi_1 < 1``,
chaotic ``> 1``) and ``xi_c = -1 / ln chi_1``.  In the ordered phase that is the
correlation depth scale exactly (``c* = 1``, so ``chi_c = chi_1``); in the chaotic phase
``-1 / ln chi_1`` is negative: it is the gradient scale of §5 (``|xi|`` layers per
e-fold of growth), not Schoenholz's chaotic ``xi_c``, which needs the correlation fixed
point ``c* < 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from varprop.activations import Activation, get_activation
from varprop.meanfield.gaussian import Kernel, kernel
from varprop.meanfield.recursion import log_or_minus_inf

# chi within this of 1 is "critical"; a slope within MARGINAL of 1 is neither stable
# nor unstable (a homogeneous map at sigma_w^2 E[phi(z)^2] = 1, or tanh at q* = 0).
CRITICAL_TOL = 1e-3
MARGINAL = 1e-9
# |ln F(q) - ln q| below this is rounding, not a direction the map moves in.
GAP_NOISE = 1e-11
# Where a marginal q* = 0 is probed for the direction the map moves (above rounding).
PROBE_Q = 1e-6


@dataclass(frozen=True)
class FixedPoint:
    """Where ``q_{l+1} = F(q_l) = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2`` settles.

    ``kind``: ``"fixed"`` (a finite q* > 0), ``"zero"`` (q* = 0), ``"every"`` (F is the
    identity: every q is a fixed point) or ``"diverges"`` (q grows without bound; then
    ``q`` is None and ``chi_1`` is its limit as q -> inf).  ``slope`` is F'(q*), the
    Schoenholz chi_q; ``stable`` is ``slope < 1`` (None when the slope is 1).
    """

    kind: str
    q: float | None
    slope: float | None
    chi_1: float | None
    stable: bool | None
    note: str

    @property
    def phase(self) -> str | None:
        return phase(self.chi_1)

    @property
    def xi_q(self) -> float | None:
        return _depth_scale(self.slope)

    @property
    def xi_c(self) -> float | None:
        return _depth_scale(self.chi_1)


def phase(chi_1: float | None) -> str | None:
    """``ordered`` (chi_1 < 1), ``critical`` (within 1e-3 of 1) or ``chaotic``."""
    if chi_1 is None or not math.isfinite(chi_1):
        return None
    if abs(chi_1 - 1) <= CRITICAL_TOL:
        return "critical"
    return "ordered" if chi_1 < 1 else "chaotic"


def _depth_scale(factor: float | None) -> float | None:
    """-1 / ln(factor); None where it is infinite or undefined."""
    if factor is None or not (factor > 0 and math.isfinite(factor)):
        return None
    ln = math.log(factor)
    return None if abs(ln) < 1e-12 else -1.0 / ln


def _stability(slope: float) -> bool | None:
    if slope < 1 - MARGINAL:
        return True
    if slope > 1 + MARGINAL:
        return False
    return None


def _bisect(f, lo: float, hi: float, f_lo: float, iterations: int = 200) -> float:
    """A root of f in [lo, hi] given that f changes sign there (f_lo = f(lo))."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _gap(kern: Kernel, sigma_w2: float, sigma_b2: float, t: float) -> float:
    """ln F(e^t) - t: positive where the map pushes q up."""
    m2 = float(kern.direct(np.array([math.exp(t)])).m2[0])
    return log_or_minus_inf(sigma_w2 * m2 + sigma_b2) - t


def fixed_points(act: str | Activation, sigma_w2: float, sigma_b2: float = 0.0) -> list[float]:
    """Every q* in [0, 2.5e30] of the variance map, ascending (non-homogeneous phi).

    Homogeneous activations have q* = sigma_b^2 / (1 - sigma_w^2 E[phi(z)^2]) at most (or
    every q, see :func:`fixed_point`); they are answered in closed form there.
    """
    kern = kernel(get_activation(act))
    if kern.act.homogeneous:
        g = sigma_w2 * kern.unit.m2
        if sigma_b2 == 0:
            return [0.0]
        return [sigma_b2 / (1 - g)] if g < 1 else []
    grid = kern.scan()
    with np.errstate(divide="ignore"):
        gap = np.log(sigma_w2 * grid.m2 + sigma_b2) - grid.t
    roots = [0.0] if sigma_b2 == 0 and kern.phi0 == 0 else []
    for lo, hi in _sign_changes(gap):
        t = _bisect(
            lambda x: _gap(kern, sigma_w2, sigma_b2, x),
            float(grid.t[lo]),
            float(grid.t[hi]),
            float(gap[lo]),
        )
        roots.append(math.exp(t))
    return sorted(set(roots))


def _sign_changes(values: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (i, j) of consecutive entries above the noise level, of opposite signs.

    Values within GAP_NOISE of zero are skipped: where the map is the identity to
    rounding (tanh at q -> 0 with sigma_w^2 = 1) their signs are noise, not roots.
    """
    keep = np.flatnonzero(np.abs(values) > GAP_NOISE)
    signs = np.sign(values[keep])
    flips = np.flatnonzero(signs[:-1] != signs[1:])
    return [(int(keep[i]), int(keep[i + 1])) for i in flips]


def fixed_point(
    act: str | Activation,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    q_start: float | None = None,
) -> FixedPoint:
    """The fixed point the variance map reaches from ``q_start`` (default: the first
    layer's q for a unit input, ``sigma_w^2 + sigma_b^2``).

    The map is increasing in q, so from ``q_start`` it moves monotonically to the
    nearest fixed point in the direction of ``F(q_start) - q_start``.
    """
    a = get_activation(act)
    kern = kernel(a)
    if q_start is None:
        q_start = sigma_w2 + sigma_b2
    if a.homogeneous:
        return _homogeneous_fixed_point(kern, sigma_w2, sigma_b2, q_start)
    roots = fixed_points(a, sigma_w2, sigma_b2)
    if q_start > 0:
        gap = _gap(kern, sigma_w2, sigma_b2, math.log(q_start))
    else:
        gap = 1.0 if (sigma_b2 > 0 or kern.phi0 != 0) else sigma_w2 * kern.beta2 - 1
    if abs(gap) < GAP_NOISE:
        return _at(kern, sigma_w2, sigma_b2, q_start)
    if gap > 0:
        above = [r for r in roots if r > q_start]
        if above:
            return _at(kern, sigma_w2, sigma_b2, above[0])
        chi = sigma_w2 * kern.alpha2
        return FixedPoint(
            kind="diverges",
            q=None,
            slope=None,
            chi_1=chi,
            stable=None,
            note=(
                f"no fixed point above q = {q_start:.4g}: q grows without bound, by "
                f"sigma_w^2 E[phi'^2] -> {chi:.4g} per layer once phi is linear over the "
                "Gaussian; chi_1 is that limit"
            ),
        )
    below = [r for r in roots if r < q_start]
    if below:
        return _at(kern, sigma_w2, sigma_b2, below[-1])
    # F(0) > 0 here, so a fixed point lies below the scanned range; phi is linear there.
    q0 = (sigma_b2 + sigma_w2 * kern.phi0**2) / max(1 - sigma_w2 * kern.beta2, 1e-300)
    return _at(kern, sigma_w2, sigma_b2, q0)


def _at(kern: Kernel, sigma_w2: float, sigma_b2: float, q: float) -> FixedPoint:
    """The FixedPoint record of a fixed point q >= 0."""
    if q == 0:
        slope = chi = sigma_w2 * kern.beta2
        stable = _stability(slope)
        how = {
            True: f"q decays to it, by {slope:.4g} per layer once q is small",
            False: "unstable: any q > 0 grows away from it",
            None: "marginal (slope 1): q decays to it algebraically, not geometrically",
        }[stable]
        if stable is None and _gap(kern, sigma_w2, sigma_b2, math.log(PROBE_Q)) > 0:
            how = "marginal (slope 1), and any q > 0 creeps away from it"
            stable = False
        return FixedPoint("zero", 0.0, slope, chi, stable, f"q* = 0: {how}")
    v = kern.direct(np.array([q]))
    slope = sigma_w2 * float(v.slope[0])
    chi = sigma_w2 * float(v.d2[0])
    stable = _stability(slope)
    how = {
        True: "stable: q returns to it after a perturbation",
        False: "UNSTABLE: q drifts away from it, to vanish below it or explode above",
        None: "marginal (slope 1)",
    }[stable]
    return FixedPoint("fixed", q, slope, chi, stable, f"q* = {q:.6g}, slope {slope:.4g}: {how}")


def _homogeneous_fixed_point(kern, sigma_w2, sigma_b2, q_start) -> FixedPoint:
    """phi(c x) = c phi(x): the map is affine, q -> g q + sigma_b^2 with g below."""
    g = sigma_w2 * kern.unit.m2
    chi = sigma_w2 * kern.unit.d2
    name = kern.act.label
    if abs(g - 1) <= MARGINAL:
        if sigma_b2 == 0:
            return FixedPoint(
                "every",
                q_start,
                1.0,
                chi,
                None,
                f"every q is a fixed point: {name} is homogeneous and sigma_w^2 E[phi(z)^2] "
                "= 1, so q keeps whatever value the input gives it (neutral, slope 1)",
            )
        return FixedPoint(
            "diverges",
            None,
            None,
            chi,
            None,
            f"no fixed point: sigma_w^2 E[phi(z)^2] = 1, so each layer adds sigma_b^2 = "
            f"{sigma_b2:.4g} to q, which grows linearly with depth",
        )
    if g < 1:
        q = sigma_b2 / (1 - g)
        where = "q* = 0" if q == 0 else f"q* = sigma_b^2 / (1 - {g:.4g}) = {q:.6g}"
        return FixedPoint(
            "zero" if q == 0 else "fixed",
            q,
            g,
            chi,
            True,
            f"{where}: stable, q approaches it by a factor {g:.4g} per layer",
        )
    return FixedPoint(
        "diverges",
        None,
        None,
        chi,
        None,
        f"no fixed point above 0: sigma_w^2 E[phi(z)^2] = {g:.4g} > 1, so q grows by that "
        "factor per layer without bound",
    )


def edge_of_chaos(act: str | Activation, sigma_b2: float = 0.0) -> list[tuple[float, FixedPoint]]:
    """Every (sigma_w^2, fixed point) with chi_1(q*) = 1 at this bias variance.

    Along the curve of fixed points, sigma_w^2(q*) = (q* - sigma_b^2) / E[phi^2](q*), so
    chi_1 = (q* - sigma_b^2) E[phi'^2] / E[phi^2] is a function of q* alone: its roots
    are the order-to-chaos transitions (Poole et al. 2016, Fig. 2; Schoenholz et al.
    2017, §3).  Returns (sigma_w^2, FixedPoint) pairs.
    """
    kern = kernel(get_activation(act))
    out: list = []
    if kern.act.homogeneous:
        d = kern.unit.d2
        if d > 0:
            sw2 = 1.0 / d
            out.append((sw2, _homogeneous_fixed_point(kern, sw2, sigma_b2, 1.0)))
        return out
    if sigma_b2 == 0 and kern.phi0 == 0 and kern.beta2 > 0:
        sw2 = 1.0 / kern.beta2  # chi at q* = 0 is sigma_w^2 phi'(0)^2
        out.append((sw2, _at(kern, sw2, 0.0, 0.0)))
    grid = kern.scan()
    ok = grid.q > sigma_b2 * (1 + 1e-9)
    t, q = grid.t[ok], grid.q[ok]
    gap = (q - sigma_b2) * grid.d2[ok] / grid.m2[ok] - 1

    def chi_minus_1(x: float) -> float:
        v = kern.direct(np.array([math.exp(x)]))
        return (math.exp(x) - sigma_b2) * float(v.d2[0]) / float(v.m2[0]) - 1

    for lo, hi in _sign_changes(gap):
        x = _bisect(chi_minus_1, float(t[lo]), float(t[hi]), float(gap[lo]))
        q_star = math.exp(x)
        m2 = float(kern.direct(np.array([q_star])).m2[0])
        sw2 = (q_star - sigma_b2) / m2
        out.append((sw2, _at(kern, sw2, sigma_b2, q_star)))
    return out
