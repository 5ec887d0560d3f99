"""Mean-field theory of deep random networks: q_l, chi, fixed points, depth scales.

Conventions are DESIGN.md's (``h_l = a_{l-1} @ W_l + b_l``, ``a_l = phi(h_l)``,
``Var(W_l) = sigma_{w,l}^2 / n_{l-1}``, ``Var(b_l) = sigma_{b,l}^2``), ``z ~ N(0, 1)``,
and layers ``l = 1..L`` are indexed as in the simulation.  At infinite width every
pre-activation ``h_l`` is Gaussian with variance ``q_l``, and

    q_1     = sigma_{w,1}^2 E[a_0^2] + sigma_{b,1}^2
    q_{l+1} = sigma_{w,l+1}^2 E[phi(sqrt(q_l) z)^2] + sigma_{b,l+1}^2
    chi_l   = sigma_{w,l}^2 E[phi'(sqrt(q_l) z)^2]

(Poole et al. 2016, "Exponential expressivity in deep neural networks through transient
chaos": the length map, eq. (3), and chi_1, eq. (7); restated by Schoenholz et al.
2017, "Deep information propagation", §2-3.)

Backward pass.  With the probe ``g ~ N(0, 1)``, ``delta_L = g * phi'(h_L)``, so
``E[delta_L^2] = E[phi'(sqrt(q_L) z)^2]``.  Below it ``delta_l = (delta_{l+1} @
W_{l+1}^T) * phi'(h_l)``: unit ``i`` of layer ``l`` gets ``phi'(h_{l,i}) sum_j
W_{l+1,ij} delta_{l+1,j}``, summed over the ``n_{l+1}`` units ``j`` above.  Taking the
weights of the backward pass independent of ``h_l`` (the gradient-independence
assumption of Schoenholz et al. 2017, §5)::

    E[delta_l^2] = E[phi'(h_l)^2] * n_{l+1} * Var(W_{l+1}) * E[delta_{l+1}^2]
                 = (n_{l+1} / n_l) * sigma_{w,l+1}^2 * E[phi'(sqrt(q_l) z)^2] * E[delta_{l+1}^2]

This is Schoenholz et al.'s ``q~^l_a = q~^{l+1}_a (N_{l+1} / N_l) chi_1`` (§5), with
the weight variance of the layer *above* (``W_{l+1}``, fan-in ``n_l``): that is what
matters when sigma_w^2 changes from layer to layer (Xavier on non-square layers).  The
``n_{l+1} Var(W_{l+1})`` form also holds for orthogonal weights, whose entries have
mean square ``gain^2 / max(n_l, n_{l+1})``.  ``grad_rms`` is ``sqrt(E[delta_l^2])``.

Log form.  The backward recursion is a product, carried as a sum of logarithms: exact
at any depth.  The forward one carries ``ln q``: homogeneous activations (relu,
leaky-relu, linear) give ``q_{l+1} = sigma_w^2 E[phi(z)^2] q_l + sigma_b^2`` exactly;
for the others ``q`` stays within [4e-31, 2.5e30], or beyond it phi is linear to 1e-15
over the Gaussian (``q -> 0``: slopes phi'(0+-); ``q -> inf``: the asymptotic slopes)
and the same log form applies.

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

Gaussian expectations.  Closed forms where the registry has them; otherwise
Gauss-Legendre quadrature (12 nodes per piece) on pieces cut at the activation's kinks,
at 0, on a geometric grid of the activation's own scale (``2^-3 .. 2^6``) and on one of
the Gaussian's scale (``sqrt(q) * (1/8 .. 14)``), truncated at 14 standard deviations.
No weighted node sits on a kink and every piece is smooth, so one rule serves q from
1e-30 to 1e30 (it agrees with adaptive quadrature to ~1e-13 relative for q in
[1e-8, 1e8], and with the closed forms to 1e-11 over the whole range).  Deep recursions
read the same quantities from Chebyshev interpolants in ``ln q`` (17 nodes on panels 2
wide, accurate to ~1e-10), built lazily panel by panel: depth 10,000 takes tens of
milliseconds.

Nothing here imports scipy at module level; the ELU family's closed forms use
``scipy.special`` lazily, and so does GELU's phi when theory evaluates it in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise

import numpy as np

from varprop.activations import Activation, get_activation
from varprop.errors import VarpropError, is_count
from varprop.initializers import BASES, Initializer, get_initializer
from varprop.initializers import weight_var as explicit_init
from varprop.network import Network, hidden_widths
from varprop.judge import SATURATED, judge
from varprop.results import (
    Criterion,
    InitVerdict,
    RecommendResult,
    TheoryConfig,
    TheoryLayer,
    TheoryResult,
    TheorySummary,
    finite_or_none,
    ratio_fields,
)

LN10 = math.log(10.0)
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

# Probe points for the slopes of phi: just either side of 0, and far out.
TINY, FAR = 1e-300, 1e6

# chi within this of 1 is "critical"; a slope within MARGINAL of 1 is neither stable
# nor unstable (a homogeneous map at sigma_w^2 E[phi(z)^2] = 1, or tanh at q* = 0).
CRITICAL_TOL = 1e-3
MARGINAL = 1e-9
# |ln F(q) - ln q| below this is rounding, not a direction the map moves in.
GAP_NOISE = 1e-11
# Where a marginal q* = 0 is probed for the direction the map moves (above rounding).
PROBE_Q = 1e-6
# Deepest stack ``theory`` accepts: a million layers take about ten seconds.
MAX_DEPTH = 1_000_000
# Largest sigma_w^2 or sigma_b^2 accepted (the engine's bound on weight variance).
MAX_VAR = 1e30


# --------------------------------------------------------------------------------------
# Gaussian expectations


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


class _Kernel:
    """Everything the theory needs to know about one activation's Gaussian moments."""

    def __init__(self, act: Activation) -> None:
        self.act = act
        with np.errstate(all="ignore"):
            self.phi0 = float(act.fn(np.zeros(1))[0])
            b_plus, b_minus = (float(v) for v in act.derivative(np.array([TINY, -TINY])))
            a_plus, a_minus = (float(v) for v in act.derivative(np.array([FAR, -FAR])))
        # q -> 0: phi(x) ~ phi(0) + b_+- x on either side of 0.
        self.beta2 = (b_plus**2 + b_minus**2) / 2
        self.small_mean = (b_plus - b_minus) / SQRT_2PI
        self.small_var = self.beta2 - self.small_mean**2
        # q -> inf: phi(x) ~ a_+- x far out (a = 0 for bounded activations).
        self.alpha2 = (a_plus**2 + a_minus**2) / 2
        self.large_mean = (a_plus - a_minus) / SQRT_2PI
        self.large_var = self.alpha2 - self.large_mean**2
        self._panels: dict[int, tuple[np.ndarray, list[list[float]]]] = {}
        self._scan: dict[str, np.ndarray] | None = None
        ends = self.direct(np.array([1.0, math.exp(T_HI)]))
        self.unit = {k: float(v[0]) for k, v in ends.items()}  # at q = 1
        self.top = {k: float(v[1]) for k, v in ends.items()}  # at the table's top

    # -- direct evaluation ------------------------------------------------------------

    def direct(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """m1 = E[phi], m2 = E[phi^2], d2 = E[phi'^2], var = Var[phi], slope = dm2/dq.

        ``q`` (m,) may be any values >= 0; outside [e^T_LO, e^T_HI] the limits apply.
        """
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        out = {k: np.empty(q.size) for k in ("m1", "m2", "d2", "var", "slope")}
        inside = (q >= math.exp(T_LO)) & (q <= math.exp(T_HI))
        for start in range(0, q.size, CHUNK):
            part = np.flatnonzero(inside[start : start + CHUNK]) + start
            if part.size:
                for k, v in self._quadrature(q[part]).items():
                    out[k][part] = v
        outside = np.flatnonzero(~inside)
        if outside.size:
            with np.errstate(all="ignore"):
                t = np.log(q[outside])  # -inf for q = 0: the limit q -> 0
                lim = self._limits(t)
                out["m1"][outside] = lim["m1"]
                out["m2"][outside] = np.exp(lim["ln_m2"])
                out["d2"][outside] = np.exp(lim["ln_d2"])
                out["var"][outside] = np.exp(lim["ln_var"])
                out["slope"][outside] = self._limit_slope(q[outside])
        return out

    def _quadrature(self, q: np.ndarray) -> dict[str, np.ndarray]:
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
                slope[tiny] = self._quadrature(np.array([Q_SERIES]))["slope"][0]
        if act.second_moment is not None:
            m2 = np.array([act.second_moment(float(v)) for v in q])
        if act.derivative_second_moment is not None:
            d2 = np.array([act.derivative_second_moment(float(v)) for v in q])
        return {"m1": m1, "m2": m2, "d2": d2, "var": var, "slope": slope}

    # -- limits beyond the table --------------------------------------------------------

    def _limits(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """ln m2, ln d2, ln var and m1 for t = ln q outside [T_LO, T_HI] (or q = 0)."""
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
            ln_m2[big] = math.log(top["m2"])
            ln_var[big] = math.log(top["var"])
            m1[big] = top["m1"]
            ln_d2[big] = math.log(top["d2"]) - 0.5 * (t[big] - T_HI)
        return {"ln_m2": ln_m2, "ln_d2": ln_d2, "ln_var": ln_var, "m1": m1}

    def _limit_slope(self, q: np.ndarray) -> np.ndarray:
        """dm2/dq outside the table: its value at the near end of the table's smooth regime
        (phi(0) != 0), beta2 or alpha2 (linear limits), or the bounded tail ~ q^(-3/2)."""
        if self.phi0 != 0.0:
            small = float(self._quadrature(np.array([Q_SERIES]))["slope"][0])
        else:
            small = self.beta2
        if self.alpha2 > 0:
            large = np.full_like(q, self.alpha2)
        else:  # m2 = A - B / sqrt(q) + ...: slope B / (2 q^(3/2))
            large = self.top["slope"] * (math.exp(T_HI) / q) ** 1.5
        return np.where(q < 1.0, small, large)

    # -- interpolation tables ------------------------------------------------------------

    def _panel(self, k: int) -> tuple[np.ndarray, list[list[float]]]:
        """Chebyshev coefficients of (ln m2, ln d2, ln var, m1) on panel k, built once."""
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
                np.log(np.maximum(v["m2"], tiny)),
                np.log(np.maximum(v["d2"], tiny)),
                np.log(np.maximum(v["var"], tiny)),
                v["m1"],
            ]
        )  # (4, n)
        basis = np.cos(np.pi * np.outer(np.arange(n), np.arange(n) + 0.5) / n)  # (k, j)
        coef = values @ basis.T * (2.0 / n)  # (4, n)
        coef[:, 0] /= 2
        # Reversed lists for the scalar Clenshaw loop of the forward recursion.
        found = (coef, [list(reversed(row.tolist())) for row in coef])
        self._panels[k] = found
        return found

    def ln_m2(self, t: float) -> float:
        """ln E[phi(sqrt(q) z)^2] at t = ln q: the forward recursion's one scalar call."""
        if self.act.homogeneous:
            return t + math.log(self.unit["m2"])
        if t < T_LO:  # phi(x) ~ phi(0) + b_+- x: the same limits as _limits, as scalars
            if self.phi0 != 0.0:
                return math.log(self.phi0**2)
            return t + math.log(self.beta2) if self.beta2 > 0 else -math.inf
        if t >= T_HI:
            return t + math.log(self.alpha2) if self.alpha2 > 0 else math.log(self.top["m2"])
        k = int((t - T_LO) // PANEL)
        rev = self._panel(k)[1][0]
        u = 2.0 * (t - T_LO - PANEL * k) / PANEL - 1.0
        b1 = b2 = 0.0
        u2 = 2.0 * u
        for c in rev[:-1]:  # Clenshaw: sum_k c_k T_k(u)
            b1, b2 = c + u2 * b1 - b2, b1
        return rev[-1] + u * b1 - b2

    def evaluate(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """ln m2, ln d2, ln var and m1 at every t = ln q (any real, or -inf for q = 0)."""
        t = np.asarray(t, dtype=np.float64)
        if self.act.homogeneous:
            u = self.unit
            with np.errstate(all="ignore"):
                return {
                    "ln_m2": t + math.log(u["m2"]),
                    "ln_d2": np.full_like(t, math.log(u["d2"])),
                    "ln_var": t + math.log(u["var"]),
                    "m1": np.exp(0.5 * t) * u["m1"],
                }
        out = {k: np.empty_like(t) for k in ("ln_m2", "ln_d2", "ln_var", "m1")}
        mid = (t >= T_LO) & (t < T_HI)
        if (~mid).any():
            with np.errstate(all="ignore"):
                lim = self._limits(t[~mid])
            for k in out:
                out[k][~mid] = lim[k]
        if mid.any():
            tm = t[mid]
            k = ((tm - T_LO) // PANEL).astype(int)
            val = np.empty((4, tm.size))
            for panel in np.unique(k):  # one Clenshaw sweep per panel, O(points) memory
                sel = k == panel
                coef = self._panel(int(panel))[0]  # (4, n)
                u = 2.0 * (tm[sel] - T_LO - PANEL * panel) / PANEL - 1.0  # (m,)
                b1 = np.zeros((4, u.size))
                b2 = np.zeros((4, u.size))
                for j in range(coef.shape[1] - 1, 0, -1):
                    b1, b2 = coef[:, j : j + 1] + 2 * u * b1 - b2, b1
                val[:, sel] = coef[:, :1] + u * b1 - b2
            for i, key in enumerate(("ln_m2", "ln_d2", "ln_var", "m1")):
                out[key][mid] = val[i]
        return out

    # -- the variance map on a grid, for fixed points ------------------------------------

    def scan(self) -> dict[str, np.ndarray]:
        """m2, d2 on a grid of t = ln q every 0.25 over [T_LO, T_HI] (cached)."""
        if self._scan is None:
            t = np.arange(T_LO, T_HI + 1e-9, 0.25)
            v = self.direct(np.exp(t))
            self._scan = {"t": t, "q": np.exp(t), "m2": v["m2"], "d2": v["d2"]}
            self._scan["slope"] = v["slope"]
        return self._scan


@lru_cache(maxsize=64)
def _kernel(act: Activation) -> _Kernel:
    return _Kernel(act)


def _as_q(q) -> tuple[np.ndarray, bool]:
    arr = np.asarray(q, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise VarpropError(f"q must be finite and >= 0, got {q!r}", param="q")
    return arr, arr.ndim == 0


def _moment(act: str | Activation, q, key: str):
    arr, scalar = _as_q(q)
    value = _kernel(get_activation(act)).direct(arr.reshape(-1))[key].reshape(arr.shape)
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


# --------------------------------------------------------------------------------------
# Per-layer recursions


@dataclass(frozen=True)
class Prediction:
    """Per-layer mean-field figures, arrays of length L (layer l at index l - 1).

    Plain arrays hold ``nan`` where the value leaves float64's normal range (or cannot
    be stated); the ``log10_*`` arrays are finite whenever the value is positive.
    """

    preact_var: np.ndarray  # q_l
    log10_preact_var: np.ndarray
    act_mean: np.ndarray  # E[phi(h_l)]
    act_var: np.ndarray  # Var[phi(h_l)]
    log10_act_var: np.ndarray
    chi: np.ndarray  # sigma_{w,l}^2 E[phi'(h_l)^2]
    grad_rms: np.ndarray  # sqrt(E[delta_l^2])
    log10_grad_rms: np.ndarray
    sigma_w2: np.ndarray  # per layer
    sigma_b2: np.ndarray


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _plain(ln_x: np.ndarray) -> np.ndarray:
    """exp(ln_x), with nan where that leaves float64's normal range (0 stays 0)."""
    with np.errstate(all="ignore"):
        x = np.exp(ln_x)
    lost = (x == np.inf) | ((x < np.finfo(float).tiny) & (ln_x > -np.inf))
    return np.where(lost, np.nan, x)


def _log10(ln_x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(ln_x), ln_x / LN10, np.nan)


def _mean_or_zero(m1: np.ndarray, ln_m2: np.ndarray) -> np.ndarray:
    """E[phi], with quadrature rounding (|m1| < 1e-13 sqrt(E[phi^2])) shown as 0."""
    with np.errstate(all="ignore"):
        noise = np.abs(m1) < 1e-13 * np.exp(0.5 * ln_m2)
    return np.where(np.isfinite(m1), np.where(noise, 0.0, m1), np.nan)


def predict(net: Network, input_second_moment: float = 1.0) -> Prediction:
    """Mean-field q_l, act statistics and gradient RMS for every layer of ``net``.

    Uses each layer's own ``sigma_w^2 = init.sigma_w2(n_{l-1}, n_l)`` and bias variance
    (``net.layer_bias_std(l)^2``), and the backward recursion of the module docstring
    with ``n_{l+1} Var(W_{l+1})``.  ``input_second_moment`` is ``E[a_0^2]``.
    """
    L, widths, init = net.depth, net.widths, net.init
    kern = _kernel(net.act)
    sw2 = np.array([init.sigma_w2(widths[l - 1], widths[l]) for l in range(1, L + 1)])
    sb2 = np.array([net.layer_bias_std(l) ** 2 for l in range(1, L + 1)])
    ln_sw2 = [_log(v) for v in sw2.tolist()]
    ln_sb2 = [_log(v) for v in sb2.tolist()]

    # Forward: t_l = ln q_l.
    t = np.empty(L)
    t_l = _logaddexp(ln_sw2[0] + _log(input_second_moment), ln_sb2[0])
    t[0] = t_l
    for l in range(1, L):
        t_l = _logaddexp(ln_sw2[l] + kern.ln_m2(t_l), ln_sb2[l])
        t[l] = t_l
    ev = kern.evaluate(t)

    # Backward: ln E[delta_l^2] = ln d2_l + sum_{k > l} ln(n_k Var(W_k) d2_{k-1}) ...
    # written as a suffix sum of per-layer factors (layer L's factor is d2_L alone).
    fan = np.array(
        [widths[l + 1] * init.variance(widths[l], widths[l + 1]) for l in range(1, L)]
    )  # n_{l+1} Var(W_{l+1}) for l = 1..L-1
    with np.errstate(divide="ignore"):
        steps = np.concatenate([np.log(fan) + ev["ln_d2"][:-1], [ev["ln_d2"][-1]]])
    ln_grad2 = np.cumsum(steps[::-1])[::-1]
    ln_grad2 = np.where(np.isnan(ln_grad2), -np.inf, ln_grad2)

    with np.errstate(all="ignore"):
        chi = sw2 * np.exp(ev["ln_d2"])
    return Prediction(
        preact_var=_plain(t),
        log10_preact_var=_log10(t),
        act_mean=_mean_or_zero(ev["m1"], ev["ln_m2"]),
        act_var=_plain(ev["ln_var"]),
        log10_act_var=_log10(ev["ln_var"]),
        chi=np.where(np.isfinite(chi), chi, np.nan),
        grad_rms=_plain(0.5 * ln_grad2),
        log10_grad_rms=_log10(0.5 * ln_grad2),
        sigma_w2=sw2,
        sigma_b2=sb2,
    )


# --------------------------------------------------------------------------------------
# Fixed points of the variance map


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


def _gap(kern: _Kernel, sigma_w2: float, sigma_b2: float, t: float) -> float:
    """ln F(e^t) - t: positive where the map pushes q up."""
    m2 = float(kern.direct(np.array([math.exp(t)]))["m2"][0])
    return _log(sigma_w2 * m2 + sigma_b2) - t


def fixed_points(act: str | Activation, sigma_w2: float, sigma_b2: float = 0.0) -> list[float]:
    """Every q* in [0, 2.5e30] of the variance map, ascending (non-homogeneous phi).

    Homogeneous activations have q* = sigma_b^2 / (1 - sigma_w^2 E[phi(z)^2]) at most (or
    every q, see :func:`fixed_point`); they are answered in closed form there.
    """
    kern = _kernel(get_activation(act))
    if kern.act.homogeneous:
        g = sigma_w2 * kern.unit["m2"]
        if sigma_b2 == 0:
            return [0.0]
        return [sigma_b2 / (1 - g)] if g < 1 else []
    grid = kern.scan()
    with np.errstate(divide="ignore"):
        gap = np.log(sigma_w2 * grid["m2"] + sigma_b2) - grid["t"]
    roots = [0.0] if sigma_b2 == 0 and kern.phi0 == 0 else []
    for lo, hi in _sign_changes(gap):
        t = _bisect(
            lambda x: _gap(kern, sigma_w2, sigma_b2, x),
            float(grid["t"][lo]),
            float(grid["t"][hi]),
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
    kern = _kernel(a)
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


def _at(kern: _Kernel, sigma_w2: float, sigma_b2: float, q: float) -> FixedPoint:
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
    slope = sigma_w2 * float(v["slope"][0])
    chi = sigma_w2 * float(v["d2"][0])
    stable = _stability(slope)
    how = {
        True: "stable: q returns to it after a perturbation",
        False: "UNSTABLE: q drifts away from it, to vanish below it or explode above",
        None: "marginal (slope 1)",
    }[stable]
    return FixedPoint("fixed", q, slope, chi, stable, f"q* = {q:.6g}, slope {slope:.4g}: {how}")


def _homogeneous_fixed_point(kern, sigma_w2, sigma_b2, q_start) -> FixedPoint:
    """phi(c x) = c phi(x): the map is affine, q -> g q + sigma_b^2 with g below."""
    g = sigma_w2 * kern.unit["m2"]
    chi = sigma_w2 * kern.unit["d2"]
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
    kern = _kernel(get_activation(act))
    out: list = []
    if kern.act.homogeneous:
        d = kern.unit["d2"]
        if d > 0:
            sw2 = 1.0 / d
            out.append((sw2, _homogeneous_fixed_point(kern, sw2, sigma_b2, 1.0)))
        return out
    if sigma_b2 == 0 and kern.phi0 == 0 and kern.beta2 > 0:
        sw2 = 1.0 / kern.beta2  # chi at q* = 0 is sigma_w^2 phi'(0)^2
        out.append((sw2, _at(kern, sw2, 0.0, 0.0)))
    grid = kern.scan()
    ok = grid["q"] > sigma_b2 * (1 + 1e-9)
    t, q = grid["t"][ok], grid["q"][ok]
    gap = (q - sigma_b2) * grid["d2"][ok] / grid["m2"][ok] - 1

    def chi_minus_1(x: float) -> float:
        v = kern.direct(np.array([math.exp(x)]))
        return (math.exp(x) - sigma_b2) * float(v["d2"][0]) / float(v["m2"][0]) - 1

    for lo, hi in _sign_changes(gap):
        x = _bisect(chi_minus_1, float(t[lo]), float(t[hi]), float(gap[lo]))
        q_star = math.exp(x)
        m2 = float(kern.direct(np.array([q_star]))["m2"][0])
        sw2 = (q_star - sigma_b2) / m2
        out.append((sw2, _at(kern, sw2, sigma_b2, q_star)))
    return out


# --------------------------------------------------------------------------------------
# theory(...): the simulate shape, at infinite width


def _check_var(value, name: str, param: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and 0 <= v <= MAX_VAR):
        raise VarpropError(
            f"{name} must be a number from 0 to {MAX_VAR:g}, got {value!r}", param=param
        )
    return v


def _check_int(value, name: str, param: str, high: int | None = None) -> int:
    if not is_count(value) or (high is not None and value > high):
        limit = f"from 1 to {high:,}" if high else ">= 1"
        raise VarpropError(f"{name} must be an integer {limit}, got {value!r}", param=param)
    return int(value)


def build_network(
    act: str | Activation = "relu",
    weight_var: float | None = None,
    bias_var: float | None = None,
    depth: int = 50,
    width: int = 512,
    *,
    init: str | float | Initializer | None = None,
    widths: Sequence[int] | None = None,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
) -> Network:
    """Validate :func:`theory`'s arguments; return the Network they describe."""
    activation = get_activation(act)
    if weight_var is not None and init is not None:
        raise VarpropError(
            f"give either an initializer or a weight variance, not both "
            f"(got init={init!r}, weight_var={weight_var!r})",
            param="--weight-var",
        )
    if weight_var is not None:
        initializer = explicit_init(_check_var(weight_var, "weight variance", "--weight-var"))
    else:
        initializer = get_initializer("he" if init is None else init, gain=gain, fan_mode=fan_mode)
    bvar = _check_var(bias_var, "bias variance", "--bias-var", allow_none=True)
    depth = _check_int(depth, "depth", "--depth", MAX_DEPTH)
    width = _check_int(width, "width", "--width")
    hidden = hidden_widths(widths, width, depth)
    if len(hidden) > MAX_DEPTH:
        raise VarpropError(f"at most {MAX_DEPTH:,} layers, got {len(hidden)}", param="--widths")
    bias_std = None if bvar is None else math.sqrt(bvar)
    net = Network(initializer, activation, (width, *hidden), bias_std)
    worst = max(initializer.sigma_w2(a, b) for a, b in pairwise(net.widths))
    if worst > MAX_VAR:
        raise VarpropError(
            f"weight variance sigma_w^2 = {worst:g} is above {MAX_VAR:g}", param="--init"
        )
    return net


def theory(
    act: str | Activation = "relu",
    weight_var: float | None = None,
    bias_var: float | None = None,
    depth: int = 50,
    width: int = 512,
    *,
    init: str | float | Initializer | None = None,
    widths: Sequence[int] | None = None,
    input_second_moment: float = 1.0,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
) -> TheoryResult:
    """Mean-field prediction for a stack of ``depth`` layers at infinite width.

    Give either ``weight_var`` (an explicit sigma_w^2, weights of variance
    sigma_w^2 / fan_in) or ``init`` (any initializer name, ``he`` by default).
    ``bias_var`` is sigma_b^2 (None: the initializer's own biases, zero except for presets
    such as ``torch-default``).  ``width`` sets the input width n_0 and every hidden
    width unless ``widths = [n_1, ..., n_L]`` is given; it matters for width-dependent
    initializers (``xavier`` on non-square layers, ``normal``, ``torch-default``'s bias).
    ``input_second_moment`` is E[a_0^2] (1 for N(0, 1) inputs).

    >>> r = theory(act="tanh", weight_var=1.0, depth=100)
    >>> r.summary.phase, r.summary.q_star
    ('critical', 0.0)
    """
    net = build_network(
        act,
        weight_var,
        bias_var,
        depth,
        width,
        init=init,
        widths=widths,
        gain=gain,
        fan_mode=fan_mode,
    )
    m0 = _check_var(input_second_moment, "input second moment", "--input-second-moment")
    pred = predict(net, m0)
    layers = _theory_layers(pred)
    sw2, sb2 = float(pred.sigma_w2[-1]), float(pred.sigma_b2[-1])
    from varprop import __version__

    config = TheoryConfig(
        init=net.init.name,
        act=net.act.label,
        depth=net.depth,
        width=width,
        weight_var=sw2,
        bias_var=sb2,
        bias_std=math.sqrt(sb2),
        widths=net.widths,
        input_second_moment=m0,
    )
    # Layers 2..L share sigma_w^2 and sigma_b^2 on uniform stacks; the map from q_1 on
    # is the last layer's.  q_1 beyond float range starts the analysis at 1e+-300.
    q1 = float(pred.preact_var[0])
    if not math.isfinite(q1):
        q1 = 1e-300 if pred.log10_preact_var[0] < 0 else 1e300
    fp = fixed_point(net.act, sw2, sb2, q_start=q1)
    if fp.kind == "every":  # q* is wherever the input put q_1 (None beyond float range)
        fp = FixedPoint(
            fp.kind, finite_or_none(pred.preact_var[0]), fp.slope, fp.chi_1, fp.stable, fp.note
        )
    return TheoryResult(
        version=__version__,
        config=config,
        layers=layers,
        summary=_theory_summary(layers, pred, net, fp),
    )


def _theory_layers(pred: Prediction) -> tuple[TheoryLayer, ...]:
    f = finite_or_none
    cols = (
        pred.preact_var.tolist(),
        pred.act_mean.tolist(),
        pred.act_var.tolist(),
        pred.chi.tolist(),
        pred.grad_rms.tolist(),
        pred.log10_preact_var.tolist(),
        pred.log10_act_var.tolist(),
        pred.log10_grad_rms.tolist(),
    )
    return tuple(
        TheoryLayer(
            layer=i + 1,
            preact_mean=0.0,
            preact_var=f(q),
            act_mean=f(m),
            act_var=f(v),
            chi=f(c),
            grad_rms=f(g),
            log10_preact_var=f(lq),
            log10_act_var=f(lv),
            log10_grad_rms=f(lg),
        )
        for i, (q, m, v, c, g, lq, lv, lg) in enumerate(zip(*cols, strict=True))
    )


def _theory_summary(layers, pred: Prediction, net: Network, fp: FixedPoint) -> TheorySummary:
    last = layers[-1]
    ratios = ratio_fields(layers)
    verdicts = judge(
        [s.log10_preact_var for s in layers],
        [s.log10_grad_rms for s in layers],
        saturated_frac=None
        if last.preact_var is None
        else saturated_fraction(net.act, last.preact_var),
        bounded=net.act.saturation == "flat",
    )
    overflow_layer, overflow_kind = None, None
    for s in layers:
        for plain, log in ((s.preact_var, s.log10_preact_var), (s.grad_rms, s.log10_grad_rms)):
            if plain is None and log is not None:
                overflow_layer = s.layer
                overflow_kind = "overflow" if log > 0 else "underflow"
                break
        if overflow_layer is not None:
            break
    note = fp.note
    if fp.chi_1 is not None:
        per_layer = math.sqrt(fp.chi_1)
        p = phase(fp.chi_1)
        what = {
            "ordered": f"gradients shrink by {per_layer:.4g} per layer toward the input",
            "chaotic": f"gradients grow by {per_layer:.4g} per layer toward the input",
            "critical": "gradients keep their size",
        }[p]
        note += f"; chi_1 = {fp.chi_1:.4g}: {p}, {what}"
    if overflow_layer is not None:
        note += (
            f"; from layer {overflow_layer} the plain figures {overflow_kind} float64 "
            "(the log10 columns keep them)"
        )
    return TheorySummary(
        forward=verdicts.forward.word,
        backward=verdicts.backward.word,
        **ratios,
        forward_exponent=verdicts.forward.exponent,
        backward_exponent=verdicts.backward.exponent,
        overflow_layer=overflow_layer,
        overflow_kind=overflow_kind,
        q_star=finite_or_none(fp.q),
        chi_1=finite_or_none(fp.chi_1),
        phase=fp.phase,
        xi_q=finite_or_none(fp.xi_q),
        xi_c=finite_or_none(fp.xi_c),
        fixed_point=fp.kind,
        fixed_point_stable=fp.stable,
        note=note,
    )


def saturated_fraction(act: Activation, q: float) -> float:
    """P(flat(phi(sqrt(q) z))) for bounded activations: accurate to ~1e-3 (a verdict)."""
    if act.flat is None or not q > 0:
        return 0.0
    z = np.linspace(-9, 9, 3601)
    w = np.exp(-0.5 * z * z)
    with np.errstate(all="ignore"):
        flat = act.flat(act.fn(math.sqrt(q) * z))
    return float(np.sum(w * flat) / np.sum(w))


# --------------------------------------------------------------------------------------
# varprop.recommend(...): which sigma_w^2 an activation needs

CRITERIA = ("forward", "edge_of_chaos", "kumar", "torch_gain")
# Named initializers, in the order that breaks ties (lecun before xavier: on non-square
# layers it is lecun's fan_in scaling that keeps the forward variance).
NAMED = (
    "he",
    "lecun",
    "xavier",
    "orthogonal",
    "normal",
    "keras-default",
    "flax-default",
    "torch-default",
)
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
# suggest_init() judges over at most this many layers: deep enough for 10% off to show
# (1.1^200 is 10^8), cheap enough for every unstable simulate to afford.
MAX_RECOMMEND_DEPTH = 200
# A named initializer stands for a number when their sigma_w^2 agree to 10%.
NAME_TOLERANCE = 0.1
# Scores (decades of drift) closer than this count as a tie; the earlier criterion wins.
SCORE_TIE = 0.05
# Input second moments the best criterion must cope with: 1, and a factor 2 either way,
# so that an unstable fixed point shows up as drift.
PROBE_INPUTS = (0.5, 1.0, 2.0)


def recommend(
    act: str | Activation = "relu",
    bias_var: float = 0.0,
    *,
    width: int = 512,
    depth: int = 50,
) -> RecommendResult:
    """sigma_w^2 by every criterion varprop knows, and how each named init fares.

    Criteria (each with the fixed point q* the variance map then reaches from a unit
    input, whether it is stable, chi_1 and the phase):

    - ``forward``: q = 1 is a fixed point, ``sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2]``.
    - ``edge_of_chaos``: chi_1(q*) = 1 (Poole et al. 2016; Schoenholz et al. 2017).
    - ``kumar``: Kumar (2017), ``1 / phi'(0)^2`` for phi differentiable at 0, 2 for
      ReLU, and his separate sigmoid result (see the criterion's note).
    - ``torch_gain``: ``torch.nn.init.calculate_gain(act)^2``.

    ``best_init`` is the named initializer (on square layers of ``width``) within 10% of
    the best criterion's sigma_w^2, else that number as a string ("2.35"), which
    ``--init`` accepts.  The best criterion is the critical one (chi_1 within 10% of 1,
    fixed point not unstable, not saturated; see :func:`_critical_choice`), else the one
    whose ``depth``-layer stack keeps Var(h) and the gradient RMS closest to constant in
    theory, from inputs of second moment 0.5, 1 and 2 (so that an unstable fixed point
    counts as drift).
    """
    return _recommend(
        get_activation(act),
        _check_var(bias_var, "bias variance", "--bias-var"),
        _check_int(width, "width", "--width"),
        _check_int(depth, "depth", "--depth", 10_000),
    )


@lru_cache(maxsize=64)
def _recommend(act: Activation, bias_var: float, width: int, depth: int) -> RecommendResult:
    kern = _kernel(act)
    criteria = (
        _forward_criterion(kern, bias_var),
        _eoc_criterion(kern, bias_var),
        _kumar_criterion(kern, bias_var),
        _torch_criterion(kern, bias_var),
    )
    scores = {
        c.name: _drift(act, c.sigma_w2, bias_var, width, depth)
        for c in criteria
        if c.sigma_w2 is not None
    }
    best = _critical_choice(kern, criteria, scores)
    for name in CRITERIA if best is None else ():  # earlier criteria win ties
        if name not in scores:
            continue
        if best is None or scores[name] < (scores[best][0], scores[best][1] - SCORE_TIE):
            best = name
    best_w2 = next((c.sigma_w2 for c in criteria if c.name == best), None)
    inits = tuple(_init_verdict(kern, name, bias_var, width, depth) for name in NAMED)
    note = _recommend_note(kern, criteria, best, best_w2, scores, bias_var, depth)
    from varprop import __version__

    return RecommendResult(
        version=__version__,
        act=act.label,
        bias_var=bias_var,
        width=width,
        depth=depth,
        criteria=criteria,
        inits=inits,
        best_criterion=best,
        best_sigma_w2=best_w2,
        best_init=None if best_w2 is None else _name_for(best_w2, width, inits),
        note=note,
    )


# chi_1 within this factor of 1 counts as critical for the choice of the best criterion.
CRITICAL_BAND = 1.1


def _critical_choice(kern: _Kernel, criteria, scores) -> str | None:
    """The criterion at (or near) criticality, if one is: it wins over the drift ranking.

    Schoenholz et al. (2017): the depth over which gradients and correlations survive
    diverges as chi_1 -> 1, so a criterion with chi_1 within 10% of 1, a fixed point
    that is not unstable (relu's every-q and tanh's q* = 0 are marginal) and no
    saturation is the one a deep stack can be trained at, at any depth.  Among those,
    a fixed point of order 1 (a signal that keeps its size, SELU's q* = 1) comes before
    a small one, and q* = 0 (tanh at sigma_w^2 = 1: the signal fades as 1/l) comes last.
    """

    def size_rank(c) -> int:
        if c.q_star is None:
            return 0  # every q is a fixed point (homogeneous activations)
        if c.q_star == 0:
            return 2
        return 0 if 0.1 <= c.q_star <= 10 else 1

    candidates = [
        c
        for c in criteria
        if c.name in scores
        and not scores[c.name][0]
        and c.stable is not False
        and c.chi_1 is not None
        and abs(math.log(c.chi_1)) <= math.log(CRITICAL_BAND)
        and (c.q_star is not None or kern.act.homogeneous)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (size_rank(c), CRITERIA.index(c.name))).name


def _criterion(name, kern, sigma_w2, sigma_b2, note, q_start=None) -> Criterion:
    if sigma_w2 is None:
        return Criterion(name, None, None, None, None, None, note)
    fp = fixed_point(kern.act, sigma_w2, sigma_b2, q_start=q_start)
    return Criterion(
        name=name,
        sigma_w2=sigma_w2,
        q_star=None if fp.kind == "every" else finite_or_none(fp.q),
        stable=fp.stable,
        chi_1=finite_or_none(fp.chi_1),
        phase=fp.phase,
        note=f"{note}; {fp.note}",
    )


def _forward_criterion(kern: _Kernel, sigma_b2: float) -> Criterion:
    m2 = kern.unit["m2"]
    if sigma_b2 >= 1:
        return _criterion(
            "forward",
            kern,
            None,
            sigma_b2,
            f"no sigma_w^2 makes q = 1 a fixed point: sigma_b^2 = {sigma_b2:g} >= 1 already",
        )
    sw2 = (1 - sigma_b2) / m2
    note = f"q = 1 is a fixed point: sigma_w^2 = (1 - sigma_b^2) / E[phi(z)^2] = {sw2:.6g}"
    c = _criterion("forward", kern, sw2, sigma_b2, note, q_start=1.0)
    if c.stable is False:
        c = replace(c, note=f"{c.note}; {_unstable_advice(kern, sigma_b2)}")
    return c


def _unstable_advice(kern: _Kernel, sigma_b2: float) -> str:
    """What to do when q = 1 is an unstable fixed point (GELU, SiLU, Mish)."""
    # d ln E[phi^2] / d ln q at q = 1: the forward criterion's slope is (1 - sigma_b^2) eps.
    eps = kern.unit["slope"] / kern.unit["m2"]
    name = kern.act.label
    he = 2.0 * kern.unit["m2"]
    parts = [
        f"{name}'s E[phi^2](q) / q grows through q = 1 (d ln E[phi^2] / d ln q = {eps:.3g} "
        f"> 1), so q = 1 repels: above it the signal explodes, below it the signal decays "
        f"to 0; "
        f"He's sigma_w^2 = 2 gives q_2/q_1 = {he:.3g} at q = 1, so signals vanish"
    ]
    if sigma_b2 == 0 and _no_stable_zero_bias_fixed_point(kern):
        parts.append("no zero-bias sigma_w^2 has a stable q* > 0")
    if eps > 1:
        need = 1 - 1 / eps
        example = min(0.95, math.ceil(2 * need * 20) / 20)
        sw2 = (1 - example) / kern.unit["m2"]
        slope = (1 - example) * eps
        chi = sw2 * kern.unit["d2"]
        parts.append(
            f"a bias variance makes q = 1 stable: any sigma_b^2 > {need:.3g}, e.g. "
            f"--bias-var {example:g} with sigma_w^2 = {sw2:.4g} (slope {slope:.3g}, "
            f"chi_1 = {chi:.3g})"
        )
    found = _stable_eoc_with_bias(kern)
    if found is not None:
        sb2, sw2, q = found
        parts.append(
            f"the edge of chaos has a stable q* = {q:.3g} from sigma_b^2 = {sb2:g} "
            f"(sigma_w^2 = {sw2:.4g})"
        )
    return "; ".join(parts)


def _no_stable_zero_bias_fixed_point(kern: _Kernel) -> bool:
    """With sigma_b^2 = 0, q* > 0 is a fixed point of sigma_w^2 = q* / E[phi^2](q*) with
    slope d ln E[phi^2] / d ln q at q*: True when that exceeds 1 all along the scan."""
    if kern.phi0 != 0:
        return False
    grid = kern.scan()
    eps = grid["slope"] * grid["q"] / grid["m2"]
    # >= 1 everywhere (= 1 only in the q -> 0 limit, the marginal q* = 0), > 1 somewhere.
    return bool(np.all(eps > 1 - MARGINAL) and np.any(eps > 1 + MARGINAL))


def _stable_eoc_with_bias(kern: _Kernel) -> tuple[float, float, float] | None:
    """The smallest sigma_b^2 (on a grid up to 1) whose edge of chaos has a stable q*."""
    for sb2 in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0):
        for sw2, fp in edge_of_chaos(kern.act, sb2):
            if fp.stable and fp.q is not None:
                return sb2, sw2, fp.q
    return None


def _eoc_criterion(kern: _Kernel, sigma_b2: float) -> Criterion:
    found = edge_of_chaos(kern.act, sigma_b2)
    if kern.act.homogeneous and found:
        sw2, _ = found[0]
        note = (
            f"chi_1 = sigma_w^2 E[phi'(z)^2] = 1 at every q for homogeneous {kern.act.label}: "
            f"sigma_w^2 = {sw2:.6g}"
        )
        return _criterion("edge_of_chaos", kern, sw2, sigma_b2, note)
    if not found and kern.alpha2 > 0:
        # No finite q* has chi_1 = 1; along the fixed points chi_1 -> 1 as q* -> inf,
        # where sigma_w^2 -> 1 / alpha2.  If q grows there, that is the transition.
        sw2 = 1.0 / kern.alpha2
        fp = fixed_point(kern.act, sw2, sigma_b2)
        if fp.kind == "diverges":
            return Criterion(
                "edge_of_chaos",
                sw2,
                None,
                None,
                1.0,
                "critical",
                f"chi_1 < 1 at every finite fixed point and -> 1 as q* -> inf, where "
                f"sigma_w^2 -> 1 / E[phi'^2](inf) = {sw2:.6g}: there q grows without bound "
                "but slower than geometrically, and chi -> 1 (the transition is at q* = inf)",
            )
    if not found:
        return Criterion(
            "edge_of_chaos",
            None,
            None,
            None,
            None,
            None,
            f"no sigma_w^2 gives chi_1 = 1 at sigma_b^2 = {sigma_b2:g}",
        )

    def rank(item):  # stable first, then marginal, then unstable; then small sigma_w^2
        sw2, fp = item
        return ({True: 0, None: 1, False: 2}[fp.stable], sw2)

    sw2, fp = min(found, key=rank)
    others = [f"{w:.4g}" for w, _ in found if w != sw2]
    note = (
        f"chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] = 1 at sigma_w^2 = {sw2:.6g}, "
        f"sigma_b^2 = {sigma_b2:g}"
    )
    if others:
        note += f" (also at sigma_w^2 = {', '.join(others)})"
    return Criterion(
        "edge_of_chaos",
        sw2,
        None if fp.kind == "every" else finite_or_none(fp.q),
        fp.stable,
        finite_or_none(fp.chi_1),
        fp.phase,
        f"{note}; {fp.note}",
    )


def _kumar_criterion(kern: _Kernel, sigma_b2: float) -> Criterion:
    act = kern.act
    if act.name == "relu":
        return _criterion(
            "kumar",
            kern,
            2.0,
            sigma_b2,
            "Kumar (2017) derives 2/N for ReLU separately (the differentiable-at-0 rule "
            "does not apply)",
        )
    if act.name == "sigmoid":
        # Kumar's separate sigmoid result, ~3.6^2 / N.  Reconstructed criterion: linearise
        # phi(h) ~ phi(0) + phi'(0) h and ask that the *activations* keep the input's
        # variance 1.  Var(a_{l+1}) = phi'(0)^2 Var(h_{l+1}) and Var(h_{l+1}) =
        # sigma_w^2 E[a_l^2] = sigma_w^2 (Var(a_l) + phi(0)^2), so Var(a) = 1 needs
        # sigma_w^2 = 1 / (phi'(0)^2 (1 + phi(0)^2)) = 16 / 1.25 = 12.8 = 3.58^2.
        d0, p0 = act.derivative_at_zero, kern.phi0
        sw2 = 1.0 / (d0 * d0 * (1 + p0 * p0))
        return _criterion(
            "kumar",
            kern,
            sw2,
            sigma_b2,
            f"Kumar (2017) gives about 3.6^2/N = 12.96/N for sigmoid.  Reproduced as: "
            f"with phi(h) ~ phi(0) + phi'(0) h, keep the activation variance at the "
            f"input's 1, i.e. phi'(0)^2 sigma_w^2 (1 + phi(0)^2) = 1, so sigma_w^2 = "
            f"16/1.25 = {sw2:.4g} (sigma_w = {math.sqrt(sw2):.3f}; 3.6 is it rounded).  "
            f"The exact mean-field map disagrees: q* is far from 1 and chi_1 << 1",
            q_start=None,
        )
    d0 = act.derivative_at_zero
    if d0 is None or d0 == 0:
        return _criterion(
            "kumar",
            kern,
            None,
            sigma_b2,
            f"{act.label} is not differentiable at 0, and Kumar (2017) treats only ReLU "
            "among such activations",
        )
    sw2 = 1.0 / (d0 * d0)
    note = f"Kumar (2017): 1 / phi'(0)^2 = 1 / {d0:.4g}^2 = {sw2:.6g}"
    if kern.phi0 != 0:
        note += (
            f" (his rule assumes phi(0) = 0; here phi(0) = {kern.phi0:.4g}, and his "
            f"sigmoid-style correction 1 / (phi'(0)^2 (1 + phi(0)^2)) would give "
            f"{1 / (d0 * d0 * (1 + kern.phi0**2)):.4g})"
        )
    return _criterion("kumar", kern, sw2, sigma_b2, note)


def _torch_criterion(kern: _Kernel, sigma_b2: float) -> Criterion:
    act = kern.act
    if act.torch_gain is None:
        return _criterion(
            "torch_gain",
            kern,
            None,
            sigma_b2,
            f"torch.nn.init.calculate_gain has no entry for {act.label}",
        )
    sw2 = act.torch_gain**2
    note = f"torch.nn.init.calculate_gain = {act.torch_gain:.6g}, squared: {sw2:.6g}"
    if act.gain_empirical:
        note += " (a value PyTorch's docs call empirical)"
    return _criterion("torch_gain", kern, sw2, sigma_b2, note)


def _uniform(act, sigma_w2, sigma_b2, width, depth, init=None) -> Network:
    initializer = init if init is not None else explicit_init(sigma_w2)
    return Network(initializer, act, (width,) * (depth + 1), math.sqrt(sigma_b2))


def _drift(act, sigma_w2, sigma_b2, width, depth) -> tuple[bool, float]:
    """(saturated, worst change in decades of Var(h) or gradient RMS) over the stack.

    A bounded activation whose last layer is mostly in its flat part (the simulation's
    "saturated" verdict) ranks after every unsaturated choice, however flat its curves.
    """
    net = _uniform(act, sigma_w2, sigma_b2, width, depth)
    worst, saturated = 0.0, False
    for m0 in PROBE_INPUTS:
        p = predict(net, m0)
        q_last = p.preact_var[-1]
        if math.isfinite(q_last) and saturated_fraction(act, q_last) > SATURATED:
            saturated = True
        for a, b in (
            (p.log10_preact_var[-1], p.log10_preact_var[0]),
            (p.log10_grad_rms[0], p.log10_grad_rms[-1]),
        ):
            d = abs(a - b)
            worst = max(worst, d if math.isfinite(d) else math.inf)
    return saturated, worst


def _init_verdict(kern, name, bias_var, width, depth) -> InitVerdict:
    init = BASES[name]
    sw2 = init.sigma_w2(width, width)
    sb2 = bias_var if init.bias_variance is None else init.bias_variance(width)
    net = _uniform(kern.act, sw2, sb2, width, depth, init)
    p = predict(net, 1.0)
    q_last = p.preact_var[-1]
    verdicts = judge(
        p.log10_preact_var.tolist(),
        p.log10_grad_rms.tolist(),
        saturated_frac=saturated_fraction(kern.act, q_last) if math.isfinite(q_last) else None,
        bounded=kern.act.saturation == "flat",
    )
    forward, backward = verdicts.forward.word, verdicts.backward.word
    fp = fixed_point(kern.act, sw2, sb2)
    if forward == backward:
        summary = forward
    elif backward == "stable":
        summary = f"{forward} signal"
    elif forward == "stable":
        summary = f"{backward} gradients"
    else:
        summary = f"{forward} signal, {backward} gradients"
    return InitVerdict(
        init=name,
        sigma_w2=sw2,
        bias_var=sb2,
        forward_factor=finite_or_none(sw2 * kern.unit["m2"] + sb2),
        grad_factor=finite_or_none(sw2 * kern.unit["d2"]),
        q_star=finite_or_none(fp.q),
        chi_1=finite_or_none(fp.chi_1),
        forward=forward,
        backward=backward,
        verdict=summary,
    )


def _name_for(sigma_w2: float, width: int, verdicts=()) -> str:
    """The named initializer (zero bias, square layers) within 10% of sigma_w^2, or the
    number itself as ``--init`` accepts it.

    A name whose own verdict over the recommended depth is not stable does not stand for
    the number: 10% off compounds over depth (leaky-relu:0.3 needs 1.83, and He's 2
    explodes by 200 layers).
    """
    unstable = {v.init for v in verdicts if v.verdict != "stable"}
    best, gap = None, math.inf
    for name in NAMED:
        init = BASES[name]
        if init.bias_variance is not None:
            continue
        d = abs(math.log(init.sigma_w2(width, width) / sigma_w2))
        if d < gap:
            best, gap = name, d
    if best is not None and gap <= math.log1p(NAME_TOLERANCE) and best not in unstable:
        return best
    return f"{sigma_w2:.3g}"


def _recommend_note(kern, criteria, best, best_w2, scores, bias_var, depth) -> str:
    if best is None:
        return f"no criterion has an answer for {kern.act.label} at sigma_b^2 = {bias_var:g}"
    c = next(c for c in criteria if c.name == best)
    sat, drift = scores[best]
    how = (
        f"critical (chi_1 = {c.chi_1:.3g}, the gradient neither grows nor shrinks per layer)"
        if _critical_choice(kern, criteria, scores) == best
        else "the flattest curves"
    )
    note = (
        f"best: {best} (sigma_w^2 = {best_w2:.4g}), {how}: over {depth} layers its Var(h) "
        f"and gradient RMS move by at most {drift:.2g} decades in theory"
    )
    if sat:
        note += ", with most units saturated (every criterion saturates)"
    others = [
        f"{n} {scores[n][1]:.2g}" + (" saturated" if scores[n][0] else "")
        for n in CRITERIA
        if n in scores and n != best
    ]
    if others:
        note += f" (others: {', '.join(others)})"
    if c.stable is False:
        note += f"; but its fixed point is UNSTABLE: {_unstable_advice(kern, bias_var)}"
    return note


# --------------------------------------------------------------------------------------
# One line of advice for a simulation that went wrong

CRITERION_WORDS = {
    "forward": "keeps its variance",
    "edge_of_chaos": "sits at the edge of chaos",
    "kumar": "follows Kumar (2017)",
    "torch_gain": "follows PyTorch's gain",
}


def suggest_init(
    act: Activation | str,
    init: Initializer | str | float,
    *,
    width: int = 512,
    depth: int = 50,
    bias_var: float = 0.0,
) -> str | None:
    """One line: which init this activation needs, from :func:`recommend`'s best for a
    stack of this width, depth and bias variance.

    "relu keeps its variance with He (sigma_w^2 = 2): try --init he".
    """
    act = get_activation(act)
    init = get_initializer(init) if not isinstance(init, Initializer) else init
    rec = _recommend(act, bias_var, width, min(depth, MAX_RECOMMEND_DEPTH))
    best_w2 = rec.best_sigma_w2
    if best_w2 is None:
        return None
    c = next(c for c in rec.criteria if c.name == rec.best_criterion)
    name = rec.best_init
    words = CRITERION_WORDS[rec.best_criterion]
    current = init.sigma_w2(width, width)
    # "already" only when the gap, compounded over the depth, moves q by under a decade.
    if current > 0 and depth * abs(math.log(current / best_w2)) <= math.log(10):
        return (
            f"{act.label} already {words} with sigma_w^2 = {current:.3g}: no init does "
            f"better in theory; where the theory column drifts too, the drift is the "
            f"activation's own at this depth, elsewhere it is finite width; see "
            f"varprop recommend --act {act.label}"
        )
    if name in DISPLAY:
        line = (
            f"{act.label} {words} with {DISPLAY[name]} (sigma_w^2 = {best_w2:.3g}): "
            f"try --init {name}"
        )
    else:
        line = f"{act.label} {words} with sigma_w^2 = {best_w2:.3g}: try --init {name}"
    if c.stable is False:
        line += f" (an unstable fixed point: see varprop recommend --act {act.label})"
    return line
