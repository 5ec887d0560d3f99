"""Gaussian expectations of one activation: E[phi], E[phi^2], E[phi'^2], Var[phi], dE[phi^2]/dq.

All for ``phi(sqrt(q) z)``, ``z ~ N(0, 1)``.  Closed forms where the registry has them;
otherwise Gauss-Legendre quadrature (12 nodes per piece) on pieces cut at the
activation's kinks, at 0, on a geometric grid of the activation's own scale
(``2^-3 .. 2^6``) and on one of the Gaussian's scale (``sqrt(q) * (1/8 .. 14)``),
truncated at 14 standard deviations.  No weighted node sits on a kink and every piece is
smooth, so one rule serves q from 1e-30 to 1e30 (it agrees with adaptive quadrature to
~1e-13 relative for q in [1e-8, 1e8], and with the closed forms to 1e-11 over the whole
range).  Deep recursions read the same quantities from Chebyshev interpolants in ``ln q``
(17 nodes on panels 2 wide, accurate to ~1e-10), built lazily panel by panel: depth
10,000 takes tens of milliseconds.

Beyond the tables (q below 4e-31 or above 2.5e30) phi is linear to 1e-15 over the
Gaussian, on the activation's own asymptotes (:attr:`Activation.asymptotes`, shared with
the engine): ``q -> 0`` uses the slopes phi'(0+-), ``q -> inf`` the far slopes.

Nothing here imports scipy at module level; the ELU family's closed forms use
``scipy.special`` lazily, and so does GELU's phi when theory evaluates it in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from varprop.activations import Activation, get_activation
from varprop.errors import VarpropError

SQRT_2PI = math.sqrt(2 * math.pi)

# Quadrature (see the module docstring).
GL_NODES = 12
ACT_POINTS = tuple(2.0**k for k in range(-3, 7))
GAUSS_POINTS = (0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0)
CUTOFF = GAUSS_POINTS[-1]  # in standard deviations: the mass beyond is 1e-44
CHUNK = 256  # q values per vectorised quadrature call

# Interpolation tables: Chebyshev panels in t = ln q over [T_LO, T_HI].  Outside, q is
# so small or so large that phi is linear (or constant) to 1e-15 over the Gaussian.
PANEL = 2.0
PANEL_NODES = 17
T_LO, T_HI = -70.0, 70.0  # q from 4e-31 to 2.5e30
# Below this q, phi(0) != 0 makes E[(phi - phi(0))^2] lose its digits to rounding and
# the small-q series (relative error O(q)) takes over for the variance and the mean.
Q_SERIES = 1e-12
# The grid of t = ln q on which fixed points and the edge of chaos are scanned.
SCAN_STEP = 0.25


class Moments(NamedTuple):
    """Gaussian moments of ``phi(sqrt(q) z)``: floats at one q, or arrays over many."""

    m1: np.ndarray  # E[phi]
    m2: np.ndarray  # E[phi^2]
    d2: np.ndarray  # E[phi'^2]
    var: np.ndarray  # Var[phi]
    slope: np.ndarray  # d E[phi^2] / dq (Stein: E[phi'^2 + phi phi''])


class LogMoments(NamedTuple):
    """The same in the log form the recursion carries, at ``t = ln q``."""

    ln_m2: np.ndarray
    ln_d2: np.ndarray
    ln_var: np.ndarray
    m1: np.ndarray


class Scan(NamedTuple):
    """:class:`Moments` on the grid ``t = ln q = T_LO, T_LO + SCAN_STEP, ..., T_HI``."""

    t: np.ndarray
    q: np.ndarray
    m2: np.ndarray
    d2: np.ndarray
    slope: np.ndarray


@lru_cache(maxsize=1)
def _legendre() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(GL_NODES)


def _nodes(q: np.ndarray, kinks: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes ``x`` and weights ``w`` with ``sum(w f(x)) = E[f(sqrt(q) z)]``.

    ``q`` (m,) > 0.  Returns arrays of shape (m, pieces * GL_NODES).
    """
    xg, wg = _legendre()
    s = np.sqrt(q)[:, None]  # (m, 1)
    fixed = np.array([*kinks, 0.0, *ACT_POINTS, *(-p for p in ACT_POINTS)])
    scaled = s * np.array([*GAUSS_POINTS, *(-p for p in GAUSS_POINTS)])
    cuts = np.concatenate([np.broadcast_to(fixed, (len(q), fixed.size)), scaled], axis=1)
    cuts = np.sort(np.clip(cuts, -CUTOFF * s, CUTOFF * s), axis=1)  # (m, pieces + 1)
    mid = 0.5 * (cuts[:, 1:] + cuts[:, :-1])
    half = 0.5 * (cuts[:, 1:] - cuts[:, :-1])  # zero-width pieces just weigh nothing
    x = mid[..., None] + half[..., None] * xg  # (m, pieces, GL_NODES)
    z = x / s[..., None]
    w = half[..., None] * wg * np.exp(-0.5 * z * z) / (s[..., None] * SQRT_2PI)
    return x.reshape(len(q), -1), w.reshape(len(q), -1)


def _clenshaw(coef: Sequence, u):
    """sum_k coef[k] T_k(u) (Chebyshev series), for a float ``u`` and float coefficients
    or an array ``u`` and coefficients that broadcast with it."""
    b1 = b2 = 0.0
    u2 = 2.0 * u
    for c in reversed(coef[1:]):
        b1, b2 = c + u2 * b1 - b2, b1
    return coef[0] + u * b1 - b2


class Kernel:
    """Everything the theory needs to know about one activation's Gaussian moments.

    ``phi0`` is phi(0); ``beta2`` the mean square of phi'(0+-) (the q -> 0 slope) and
    ``alpha2`` that of the far slopes (q -> inf; 0 for bounded phi).  ``unit`` holds the
    :class:`Moments` at q = 1 and ``top`` at the top of the tables.
    """

    def __init__(self, act: Activation) -> None:
        self.act = act
        asym = act.asymptotes
        self.phi0 = asym.phi0
        b_plus, b_minus = asym.slope0_pos, asym.slope0_neg
        a_plus, a_minus = asym.slope_pos, asym.slope_neg
        # q -> 0: phi(x) ~ phi(0) + b_+- x on either side of 0.
        self.beta2 = (b_plus**2 + b_minus**2) / 2
        self.small_mean = (b_plus - b_minus) / SQRT_2PI
        self.small_var = self.beta2 - self.small_mean**2
        # q -> inf: phi(x) ~ a_+- x far out (a = 0 for bounded activations).
        self.alpha2 = (a_plus**2 + a_minus**2) / 2
        self.large_mean = (a_plus - a_minus) / SQRT_2PI
        self.large_var = self.alpha2 - self.large_mean**2
        self._panels: dict[int, tuple[np.ndarray, list[float]]] = {}
        self._scan: Scan | None = None
        ends = self.direct(np.array([1.0, math.exp(T_HI)]))
        self.unit = Moments(*(float(v[0]) for v in ends))  # at q = 1
        self.top = Moments(*(float(v[1]) for v in ends))  # at the table's top

    # -- direct evaluation ------------------------------------------------------------

    def direct(self, q: np.ndarray) -> Moments:
        """:class:`Moments` at every ``q`` (m,), any values >= 0; outside [e^T_LO,
        e^T_HI] the limits apply."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        out = Moments(*(np.empty(q.size) for _ in Moments._fields))
        inside = (q >= math.exp(T_LO)) & (q <= math.exp(T_HI))
        for start in range(0, q.size, CHUNK):
            part = np.flatnonzero(inside[start : start + CHUNK]) + start
            if part.size:
                for dst, v in zip(out, self._quadrature(q[part]), strict=True):
                    dst[part] = v
        outside = np.flatnonzero(~inside)
        if outside.size:
            with np.errstate(all="ignore"):
                t = np.log(q[outside])  # -inf for q = 0: the limit q -> 0
                lim = self._limits(t)
                out.m1[outside] = lim.m1
                out.m2[outside] = np.exp(lim.ln_m2)
                out.d2[outside] = np.exp(lim.ln_d2)
                out.var[outside] = np.exp(lim.ln_var)
                out.slope[outside] = self._limit_slope(q[outside])
        return out

    def _quadrature(self, q: np.ndarray) -> Moments:
        act, phi0 = self.act, self.phi0
        x, w = _nodes(q, act.kinks)
        with np.errstate(all="ignore"):
            f = act.fn(x)
            d = act.derivative(x)
        m1 = np.einsum("ij,ij->i", w, f)
        fc = f - phi0
        m2c = np.einsum("ij,ij->i", w, fc * fc)  # E[(phi - phi(0))^2]
        m2 = m2c + phi0 * (2 * m1 - phi0)
        var = np.maximum(m2c - (m1 - phi0) ** 2, 0.0)
        d2 = np.einsum("ij,ij->i", w, d * d)
        # Stein: d/dq E[phi(sqrt(q) z)^2] = E[x phi(x) phi'(x)] / q with x = sqrt(q) z.
        slope = np.einsum("ij,ij->i", w, x * f * d) / q
        if phi0 != 0.0:
            # The variance is a small difference of O(phi(0)^2) terms at tiny q; use the
            # series phi ~ phi(0) + phi'(0) x instead (relative error O(q)).
            tiny = q < Q_SERIES
            var[tiny] = q[tiny] * self.small_var
            m1[tiny] = phi0 + np.sqrt(q[tiny]) * self.small_mean
            # The slope's odd part cancels likewise; it is smooth, so hold its value.
            if tiny.any():
                slope[tiny] = self._quadrature(np.array([Q_SERIES])).slope[0]
        if act.second_moment is not None:
            m2 = np.array([act.second_moment(float(v)) for v in q])
        if act.derivative_second_moment is not None:
            d2 = np.array([act.derivative_second_moment(float(v)) for v in q])
        return Moments(m1=m1, m2=m2, d2=d2, var=var, slope=slope)

    # -- limits beyond the table --------------------------------------------------------

    def _limits(self, t: np.ndarray) -> LogMoments:
        """:class:`LogMoments` for t = ln q outside [T_LO, T_HI] (or q = 0)."""
        small = t < T_LO
        with np.errstate(over="ignore"):
            s = np.exp(0.5 * t)  # inf past float range: m1 is then not stated
        ln_m2 = np.empty_like(t)
        ln_d2 = np.empty_like(t)
        ln_var = np.empty_like(t)
        m1 = np.empty_like(t)
        # q -> 0: phi(x) = phi(0) + b_+- x + O(x^2).
        if self.phi0 != 0.0:
            ln_m2[small] = math.log(self.phi0**2)
        else:
            ln_m2[small] = t[small] + math.log(self.beta2) if self.beta2 > 0 else -math.inf
        ln_d2[small] = math.log(self.beta2) if self.beta2 > 0 else -math.inf
        ln_var[small] = t[small] + (math.log(self.small_var) if self.small_var > 0 else -math.inf)
        m1[small] = self.phi0 + s[small] * self.small_mean
        big = ~small
        if self.alpha2 > 0:  # phi(x) = a_+- x + o(x): homogeneous in the limit
            ln_m2[big] = t[big] + math.log(self.alpha2)
            ln_d2[big] = math.log(self.alpha2)
            ln_var[big] = t[big] + math.log(self.large_var)
            m1[big] = s[big] * self.large_mean
        else:  # bounded: phi(sqrt(q) z) -> a step; phi'^2 has mass ~ 1/sqrt(q)
            top = self.top
            ln_m2[big] = math.log(top.m2)
            ln_var[big] = math.log(top.var)
            m1[big] = top.m1
            ln_d2[big] = math.log(top.d2) - 0.5 * (t[big] - T_HI)
        return LogMoments(ln_m2=ln_m2, ln_d2=ln_d2, ln_var=ln_var, m1=m1)

    def _limit_slope(self, q: np.ndarray) -> np.ndarray:
        """dm2/dq outside the table: its value at the near end of the table's smooth regime
        (phi(0) != 0), beta2 or alpha2 (linear limits), or the bounded tail ~ q^(-3/2)."""
        if self.phi0 != 0.0:
            small = float(self._quadrature(np.array([Q_SERIES])).slope[0])
        else:
            small = self.beta2
        if self.alpha2 > 0:
            large = np.full_like(q, self.alpha2)
        else:  # m2 = A - B / sqrt(q) + ...: slope B / (2 q^(3/2))
            large = self.top.slope * (math.exp(T_HI) / q) ** 1.5
        return np.where(q < 1.0, small, large)

    # -- interpolation tables ------------------------------------------------------------

    def _panel(self, k: int) -> tuple[np.ndarray, list[float]]:
        """Chebyshev coefficients of (ln m2, ln d2, ln var, m1) on panel k, built once:
        the (4, n) array, and ln m2's as floats for the scalar forward recursion."""
        found = self._panels.get(k)
        if found is not None:
            return found
        n = PANEL_NODES
        u = np.cos(np.pi * (np.arange(n) + 0.5) / n)  # first-kind Chebyshev points
        t = T_LO + PANEL * (k + 0.5 + 0.5 * u)
        v = self.direct(np.exp(t))
        tiny = np.finfo(float).tiny
        values = np.stack(
            [
                np.log(np.maximum(v.m2, tiny)),
                np.log(np.maximum(v.d2, tiny)),
                np.log(np.maximum(v.var, tiny)),
                v.m1,
            ]
        )  # (4, n)
        basis = np.cos(np.pi * np.outer(np.arange(n), np.arange(n) + 0.5) / n)  # (k, j)
        coef = values @ basis.T * (2.0 / n)  # (4, n)
        coef[:, 0] /= 2
        found = (coef, coef[0].tolist())
        self._panels[k] = found
        return found

    def ln_m2(self, t: float) -> float:
        """ln E[phi(sqrt(q) z)^2] at t = ln q: the forward recursion's one scalar call."""
        if self.act.homogeneous:
            return t + math.log(self.unit.m2)
        if t < T_LO:  # phi(x) ~ phi(0) + b_+- x: the same limits as _limits, as scalars
            if self.phi0 != 0.0:
                return math.log(self.phi0**2)
            return t + math.log(self.beta2) if self.beta2 > 0 else -math.inf
        if t >= T_HI:
            return t + math.log(self.alpha2) if self.alpha2 > 0 else math.log(self.top.m2)
        k = int((t - T_LO) // PANEL)
        u = 2.0 * (t - T_LO - PANEL * k) / PANEL - 1.0
        return _clenshaw(self._panel(k)[1], u)

    def evaluate(self, t: np.ndarray) -> LogMoments:
        """:class:`LogMoments` at every t = ln q (any real, or -inf for q = 0)."""
        t = np.asarray(t, dtype=np.float64)
        if self.act.homogeneous:
            u = self.unit
            with np.errstate(all="ignore"):
                return LogMoments(
                    ln_m2=t + math.log(u.m2),
                    ln_d2=np.full_like(t, math.log(u.d2)),
                    ln_var=t + math.log(u.var),
                    m1=np.exp(0.5 * t) * u.m1,
                )
        out = LogMoments(*(np.empty_like(t) for _ in LogMoments._fields))
        mid = (t >= T_LO) & (t < T_HI)
        if (~mid).any():
            with np.errstate(all="ignore"):
                lim = self._limits(t[~mid])
            for dst, v in zip(out, lim, strict=True):
                dst[~mid] = v
        if mid.any():
            tm = t[mid]
            k = ((tm - T_LO) // PANEL).astype(int)
            val = np.empty((4, tm.size))
            for panel in np.unique(k):  # one Clenshaw sweep per panel, O(points) memory
                sel = k == panel
                coef = self._panel(int(panel))[0]  # (4, n)
                u = 2.0 * (tm[sel] - T_LO - PANEL * panel) / PANEL - 1.0  # (m,)
                val[:, sel] = _clenshaw(list(coef.T[:, :, None]), u)  # (n of (4, 1)) -> (4, m)
            for dst, v in zip(out, val, strict=True):
                dst[mid] = v
        return out

    # -- the variance map on a grid, for fixed points ------------------------------------

    def scan(self) -> Scan:
        """m2, d2 and the slope on a grid of t = ln q every 0.25 over [T_LO, T_HI]."""
        if self._scan is None:
            t = np.arange(T_LO, T_HI + 1e-9, SCAN_STEP)
            v = self.direct(np.exp(t))
            self._scan = Scan(t=t, q=np.exp(t), m2=v.m2, d2=v.d2, slope=v.slope)
        return self._scan


@lru_cache(maxsize=64)
def kernel(act: Activation) -> Kernel:
    """The (cached) :class:`Kernel` of one activation."""
    return Kernel(act)


def _as_q(q) -> tuple[np.ndarray, bool]:
    arr = np.asarray(q, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise VarpropError(f"q must be finite and >= 0, got {q!r}", param="q")
    return arr, arr.ndim == 0


def _moment(act: str | Activation, q, field: str):
    arr, scalar = _as_q(q)
    moments = kernel(get_activation(act)).direct(arr.reshape(-1))
    value = getattr(moments, field).reshape(arr.shape)
    return float(value) if scalar else value


def mean(act: str | Activation, q: float | np.ndarray) -> float | np.ndarray:
    """E[phi(sqrt(q) z)], z ~ N(0, 1): the mean of a unit's output at infinite width."""
    return _moment(act, q, "m1")


def second_moment(act: str | Activation, q: float | np.ndarray) -> float | np.ndarray:
    """E[phi(sqrt(q) z)^2]: what the variance map multiplies by sigma_w^2."""
    return _moment(act, q, "m2")


def derivative_second_moment(act: str | Activation, q: float | np.ndarray) -> float | np.ndarray:
    """E[phi'(sqrt(q) z)^2]: chi / sigma_w^2 (for kinked phi, the limit from q > 0 at 0)."""
    return _moment(act, q, "d2")


def variance(act: str | Activation, q: float | np.ndarray) -> float | np.ndarray:
    """Var[phi(sqrt(q) z)]: the theory's ``act_var``."""
    return _moment(act, q, "var")


def second_moment_slope(act: str | Activation, q: float | np.ndarray) -> float | np.ndarray:
    """d/dq E[phi(sqrt(q) z)^2] = E[phi'^2 + phi phi''] (Stein), the slope of the q map
    per unit sigma_w^2.  For phi(0) != 0 below q = 1e-12 it returns the value at 1e-12."""
    return _moment(act, q, "slope")
