"""The sigma_w^2 x sigma_b^2 phase diagram (Poole et al. 2016; Schoenholz et al.
2017, Fig. 1): where deep random networks are ordered, critical or chaotic.

At every grid point, q* is the fixed point the variance map reaches from a unit-variance
input (``q_1 = sigma_w^2 + sigma_b^2``), the one :func:`~.fixedpoints.fixed_point` and
``varprop theory`` report; ``chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]`` there (its limit
``sigma_w^2 E[phi'^2] -> sigma_w^2 alpha^2`` where q grows without bound) and the phase
word of :func:`~.fixedpoints.phase` (``critical`` within 1e-3 of chi_1 = 1).

Homogeneous activations (relu, leaky-relu, linear) are closed forms: each point is one
:func:`fixed_point` call.  The others use the same search as :func:`fixed_point`,
vectorised over the grid: the map's ``ln F(q) - ln q`` on :meth:`Kernel.scan`'s grid of
``ln q`` gives, from ``q_1``, a bracket around the first fixed point in the direction
the map moves, refined by bisection on the Chebyshev tables (:meth:`Kernel.evaluate`,
~1e-10).  A 61 x 31 tanh grid takes ~0.2 s once the tables are built.

The order-to-chaos line: for each sigma_b^2, ``scipy.optimize.brentq`` on
``chi_1(sigma_w^2) - 1`` over the first grid cell where it changes sign (where chi_1
jumps between two fixed points, the crossing is the jump).  Only sign changes between
grid points are seen: gelu at sigma_b^2 = 0.3 crosses 1 at 1.956 and comes back to exactly
1 at 2.0 (q grows there), inside one cell of the default grid, whose line reads 2.0.

Default grid: sigma_b^2 from 0 to 0.3 in 31 steps (Schoenholz et al.'s Fig. 1 range);
sigma_w^2 from 0 to ``max(4, 2 sigma_w,c^2)`` rounded up to 1, 2, 2.5, 4, 5 or 8 times a
power of ten, in 61 steps, where ``sigma_w,c^2`` is the activation's zero-bias edge of
chaos (:func:`~.fixedpoints.edge_of_chaos`): 0..4 for tanh and relu, 0..8 for gelu,
0..250 for sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from varprop.activations import get_activation
from varprop.errors import VarpropError
from varprop.initializers import judged_by_recommend
from varprop.meanfield.fixedpoints import GAP_NOISE, edge_of_chaos, fixed_point, phase
from varprop.meanfield.gaussian import Kernel, kernel
from varprop.meanfield.stack import MAX_VAR, check_int
from varprop.results import PhaseInitPoint, PhaseLinePoint, PhaseResult, finite_or_none

DEFAULT_BIAS = (0.0, 0.3)
DEFAULT_WEIGHT_STEPS = 61
DEFAULT_BIAS_STEPS = 31
# Grid points per vectorised pass: the (points, scan) arrays stay ~20 MB.
CHUNK = 4096
MAX_POINTS = 1_000_000
# Bisection steps on a scan cell 0.25 wide in ln q: 0.25 / 2^48 ~ 1e-15.
BISECTIONS = 48
# Up to this many points, roots are refined one by one with brentq (the critical line).
SCALAR = 8
NICE = (1.0, 2.0, 2.5, 4.0, 5.0, 8.0, 10.0)


def grid_values(lo: float, hi: float, steps: int, *, name: str, param: str) -> tuple[float, ...]:
    """``steps`` evenly spaced values from ``lo`` to ``hi`` (0 <= lo < hi, finite)."""
    lo = _check_value(lo, name, param)
    hi = _check_value(hi, name, param)
    if not lo < hi:
        raise VarpropError(f"{name} range needs low < high, got {lo:g}:{hi:g}", param=param)
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 2):
        raise VarpropError(f"{name} steps must be an integer >= 2, got {steps!r}", param=param)
    return tuple(np.linspace(lo, hi, steps).tolist())


def default_weight_range(act) -> tuple[float, float]:
    """0 to max(4, twice the zero-bias edge of chaos), rounded up to a round number."""
    a = get_activation(act)
    found = [w for w, _ in edge_of_chaos(a, 0.0)]
    top = 2 * min(found) if found else 4.0
    if top <= 4:
        return 0.0, 4.0
    scale = 10.0 ** math.floor(math.log10(top))
    return 0.0, scale * next(n for n in NICE if n * scale >= top * (1 - 1e-12))


def phase_diagram(
    act,
    *,
    weight_vars: Sequence[float] | None = None,
    bias_vars: Sequence[float] | None = None,
    width: int = 512,
) -> PhaseResult:
    """The phase diagram of ``act`` over ``weight_vars`` x ``bias_vars``.

    ``weight_vars`` (sigma_w^2) and ``bias_vars`` (sigma_b^2): increasing values >= 0
    (defaults in the module docstring).  ``width`` sets the named initializers'
    sigma_w^2 (square layers; it matters for ``normal``, sigma_w^2 = width).

    >>> r = phase_diagram("relu", weight_vars=[1.0, 2.0, 3.0], bias_vars=[0.0])
    >>> r.phase[0], r.critical_line[0].sigma_w2
    (('ordered', 'critical', 'chaotic'), 2.0)
    """
    a = get_activation(act)
    width = check_int(width, "width", "--width")
    if weight_vars is None:
        lo, hi = default_weight_range(a)
        weight_vars = grid_values(
            lo, hi, DEFAULT_WEIGHT_STEPS, name="sigma_w^2", param="--weight-var-range"
        )
    if bias_vars is None:
        bias_vars = grid_values(
            *DEFAULT_BIAS, DEFAULT_BIAS_STEPS, name="sigma_b^2", param="--bias-var-range"
        )
    ws = _check_axis(weight_vars, "sigma_w^2", "--weight-var-range")
    bs = _check_axis(bias_vars, "sigma_b^2", "--bias-var-range")
    if ws.size * bs.size > MAX_POINTS:
        raise VarpropError(
            f"at most {MAX_POINTS:,} grid points, got {ws.size} x {bs.size}", param="--steps"
        )
    kern = kernel(a)
    w_grid, b_grid = np.meshgrid(ws, bs)  # (bias, weight)
    q, chi = solve(kern, w_grid.ravel(), b_grid.ravel())
    q, chi = q.reshape(w_grid.shape), chi.reshape(w_grid.shape)
    from varprop import __version__

    return PhaseResult(
        version=__version__,
        act=a.label,
        width=width,
        weight_vars=tuple(ws.tolist()),
        bias_vars=tuple(bs.tolist()),
        q_star=_nested(q),
        chi_1=_nested(chi),
        phase=tuple(tuple(phase(finite_or_none(c)) for c in row) for row in chi.tolist()),
        critical_line=tuple(
            _crossing(kern, ws, float(b), row) for b, row in zip(bs, chi, strict=True)
        ),
        inits=_init_points(a, width),
    )


def _check_value(value, name: str, param: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and 0 <= v <= MAX_VAR):
        raise VarpropError(
            f"{name} must be a number from 0 to {MAX_VAR:g}, got {value!r}", param=param
        )
    return v


def _check_axis(values, name: str, param: str) -> np.ndarray:
    """A non-empty, strictly increasing array of valid variances."""
    try:
        items = list(values)
    except TypeError:
        raise VarpropError(
            f"{name} values must be a sequence, got {values!r}", param=param
        ) from None
    if not items:
        raise VarpropError(f"{name} values must not be empty", param=param)
    arr = np.array([_check_value(v, name, param) for v in items])
    if np.any(np.diff(arr) <= 0):
        raise VarpropError(f"{name} values must be strictly increasing", param=param)
    return arr


def _nested(x: np.ndarray) -> tuple[tuple[float | None, ...], ...]:
    return tuple(tuple(finite_or_none(v) for v in row) for row in x.tolist())


# ---------------------------------------------------------------- q* and chi_1 on a grid


def solve(kern: Kernel, sw2: np.ndarray, sb2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q* and chi_1 of ``fixed_point(act, sw2, sb2)`` at every pair (m,): nan where q*
    is not stated (q grows without bound, or every q is a fixed point)."""
    sw2 = np.asarray(sw2, dtype=float).reshape(-1)
    sb2 = np.asarray(sb2, dtype=float).reshape(-1)
    if kern.act.homogeneous:  # closed forms: cheap one by one
        fps = [fixed_point(kern.act, w, b) for w, b in zip(sw2.tolist(), sb2.tolist(), strict=True)]
        q = [fp.q if fp.kind in ("fixed", "zero") else math.nan for fp in fps]
        chi = [math.nan if fp.chi_1 is None else fp.chi_1 for fp in fps]
        return np.array(q, dtype=float), np.array(chi, dtype=float)
    q, chi = np.empty(sw2.size), np.empty(sw2.size)
    for start in range(0, sw2.size, CHUNK):
        part = slice(start, start + CHUNK)
        q[part], chi[part] = _solve_chunk(kern, sw2[part], sb2[part])
    return q, chi


def _map_gap(kern: Kernel, sw2: np.ndarray, sb2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """ln F(e^t) - t from the Chebyshev tables: positive where the map pushes q up."""
    with np.errstate(all="ignore"):
        return np.log(sw2 * np.exp(kern.evaluate(t).ln_m2) + sb2) - t


def _solve_chunk(kern: Kernel, sw2: np.ndarray, sb2: np.ndarray):
    """:func:`fixed_point`'s search (non-homogeneous phi), vectorised over the pairs."""
    m = sw2.size
    q, chi = np.full(m, np.nan), np.full(m, np.nan)
    grid = kern.scan()
    n = grid.t.size
    with np.errstate(divide="ignore"):
        t0 = np.log(sw2 + sb2)  # q_1 for a unit input
        gap = np.log(sw2[:, None] * grid.m2 + sb2[:, None]) - grid.t  # (m, n)
    g0 = _map_gap(kern, sw2, sb2, t0)
    pos, neg = gap > GAP_NOISE, gap < -GAP_NOISE  # signs above rounding (fixed_point's)
    after = grid.t[None, :] > t0[:, None]  # (m, n)
    idx = np.arange(n)

    flat = sw2 == 0  # F(q) = sigma_b^2 whatever q: reached in one layer, chi_1 = 0
    up = ~flat & (g0 > GAP_NOISE)
    down = ~flat & (g0 < -GAP_NOISE)
    still = ~flat & ~up & ~down  # q_1 is (to rounding) a fixed point
    q[flat], chi[flat] = sb2[flat], 0.0
    q[still] = np.exp(t0[still])

    # Up: the first cell above q_1 where the map turns down.
    hit = after & neg
    k_up = np.argmax(hit, axis=1)
    found_up = up & hit.any(axis=1)
    before = pos & after & (idx[None, :] < k_up[:, None])
    j_up = n - 1 - np.argmax(before[:, ::-1], axis=1)
    lo_up = np.where(before.any(axis=1), grid.t[j_up], t0)
    # Down: the last cell below q_1 where the map pushes up.
    hit = ~after & pos
    k_dn = n - 1 - np.argmax(hit[:, ::-1], axis=1)
    found_dn = down & hit.any(axis=1)
    beyond = neg & ~after & (idx[None, :] > k_dn[:, None])
    j_dn = np.argmax(beyond, axis=1)
    hi_dn = np.where(beyond.any(axis=1), grid.t[j_dn], t0)

    lo = np.where(found_up, lo_up, grid.t[k_dn])
    hi = np.where(found_up, grid.t[k_up], hi_dn)
    both = found_up | found_dn
    t_star = _bisect(kern, sw2[both], sb2[both], lo[both], hi[both])
    q[both] = np.exp(t_star)

    # No fixed point above q_1: q grows, chi_1 is its q -> inf limit.
    grows = up & ~found_up
    chi[grows] = sw2[grows] * kern.alpha2
    # None below q_1: q* = 0, or (phi(0) != 0 or a bias) below the scanned range.
    sinks = down & ~found_dn
    # phi is linear down there: q* = (sigma_b^2 + sigma_w^2 phi(0)^2) / (1 - sigma_w^2
    # phi'(0)^2), which is 0 for phi(0) = 0 without bias (fixed_point's q* = 0 root).
    q0 = (sb2 + sw2 * kern.phi0**2) / np.maximum(1 - sw2 * kern.beta2, 1e-300)
    q[sinks] = q0[sinks]

    stated = ~flat & ~grows
    with np.errstate(divide="ignore"):
        ln_d2 = kern.evaluate(np.log(q[stated])).ln_d2
    chi[stated] = np.where(q[stated] == 0, sw2[stated] * kern.beta2, sw2[stated] * np.exp(ln_d2))
    return q, chi


def _bisect(kern: Kernel, sw2, sb2, lo, hi) -> np.ndarray:
    """The root of ln F(e^t) - t in [lo, hi] (positive at lo, negative at hi)."""
    if sw2.size <= SCALAR:  # brentq on the scalar table lookup: ~10 calls, not 48
        return np.array([_brent(kern, *args) for args in zip(sw2, sb2, lo, hi, strict=True)])
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        push = _map_gap(kern, sw2, sb2, mid) > 0
        lo, hi = np.where(push, mid, lo), np.where(push, hi, mid)
    return 0.5 * (lo + hi)


def _brent(kern: Kernel, sw2: float, sb2: float, lo: float, hi: float) -> float:
    from scipy.optimize import brentq

    def gap(t: float) -> float:
        return math.log(sw2 * math.exp(kern.ln_m2(t)) + sb2) - t

    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo * g_hi > 0:  # the scan's signs were at the tables' rounding: the nearer end
        return lo if abs(g_lo) < abs(g_hi) else hi
    return brentq(gap, lo, hi, xtol=1e-15)


# ---------------------------------------------------------------- the critical line


def _crossing(kern: Kernel, ws: np.ndarray, sigma_b2: float, chi: np.ndarray) -> PhaseLinePoint:
    """The smallest sigma_w^2 in the row where chi_1 crosses 1 (brentq on a grid cell)."""
    from scipy.optimize import brentq

    d = chi - 1.0
    ok = np.isfinite(d)
    for i in range(ws.size):
        if ok[i] and d[i] == 0:
            return _line_point(kern, float(ws[i]), sigma_b2)
        if i + 1 < ws.size and ok[i] and ok[i + 1] and d[i] * d[i + 1] < 0:

            def f(w: float) -> float:
                c = solve(kern, np.array([w]), np.array([sigma_b2]))[1][0]
                return c - 1.0

            a, b = float(ws[i]), float(ws[i + 1])
            fa, fb = f(a), f(b)
            if fa * fb > 0:  # the grid's sign change was rounding: take the nearer end
                return _line_point(kern, a if abs(fa) < abs(fb) else b, sigma_b2)
            return _line_point(kern, brentq(f, a, b, xtol=1e-13), sigma_b2)
    return PhaseLinePoint(sigma_b2, None, None)


def _line_point(kern: Kernel, sigma_w2: float, sigma_b2: float) -> PhaseLinePoint:
    q = solve(kern, np.array([sigma_w2]), np.array([sigma_b2]))[0][0]
    return PhaseLinePoint(sigma_b2, sigma_w2, finite_or_none(q))


def _init_points(act, width: int) -> tuple[PhaseInitPoint, ...]:
    """Each named initializer recommend judges, at sigma_b^2 = 0 on square layers."""
    out = []
    for init in judged_by_recommend():
        w = init.sigma_w2(width, width)
        fp = fixed_point(act, w, 0.0)
        q = fp.q if fp.kind in ("fixed", "zero") else None
        chi = finite_or_none(fp.chi_1)
        out.append(PhaseInitPoint(init.name, w, 0.0, finite_or_none(q), chi, phase(chi)))
    return tuple(out)
