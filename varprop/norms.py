"""Normalization layers and their exact backward pass, on ``stored * 2**e`` arrays.

DESIGN.md ("Blocks"): ``layer`` normalizes each sample over its units to mean 0 and
variance 1, ``rms`` each sample to mean square 1, ``batch`` each unit over the batch to
mean 0 and variance 1; ``eps = 1e-5`` is added to the variance (or mean square) and
there is no learned scale or shift.  With ``c = h - mean`` (``c = h`` for rms),
``s = sqrt(mean(c^2) + eps)`` and ``u = c / s``, the exact vector-Jacobian product is::

    layer, batch:  dl/dh = (1/s) (g - mean(g) - u mean(g u))
    rms:           dl/dh = (1/s) (g - u mean(g u))

with ``g = dl/du`` and the means over the normalized axis (units for layer and rms,
the batch for batch).  It holds with eps included: d s / d h_j = c_j / (n s), so
``du_i/dh_j = (delta_ij - 1/n) / s - c_i c_j / (n s^3)`` and ``c / s = u``.

Exactness.  ``h`` arrives as ``stored * 2**e``; then ``u = c_stored / s_stored`` with
``s_stored^2 = mean(c_stored^2) + eps * 4**-e``: the power of two cancels, and eps is
kept at its true size relative to the signal however far ``e`` is from 0.  Where eps
dominates (a signal far below sqrt(eps)) u itself is tiny, so it comes back as
``u_stored * 2**eu`` too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

NORMS = ("none", "layer", "rms", "batch")
EPS = 1e-5
LN2 = math.log(2.0)


class NormState(NamedTuple):
    """What the backward pass needs of one normalization.

    ``inv`` is 1/s in stored units, up to ``2**eu``: the true ``1/s = inv * 2**(eu - e)``
    where ``e`` was the input's exponent; shape (B, 1) for layer/rms, (1, n) for batch.
    """

    kind: str
    inv: np.ndarray
    eu: int
    e: int

    @property
    def axis(self) -> int:
        return 0 if self.kind == "batch" else 1


def normalize(h: np.ndarray, e: int, kind: str, out: np.ndarray) -> tuple[np.ndarray, NormState]:
    """``u = N(h * 2**e)`` into ``out`` (may be ``h``) as ``u_stored * 2**eu``.

    Returns ``(u_stored, state)``; the true normalized array is ``u_stored * 2**state.eu``.
    """
    axis = 0 if kind == "batch" else 1
    h64 = h.astype(np.float64)  # (B, n): statistics and the division in float64
    if kind == "rms":
        c = h64
    else:
        c = h64 - h64.mean(axis=axis, keepdims=True)
    v = np.mean(np.square(c), axis=axis, keepdims=True)
    # ln s = 0.5 ln(v + eps 4^-e), written so that neither term overflows.
    with np.errstate(divide="ignore"):
        ln_s = 0.5 * np.logaddexp(np.log(v), math.log(EPS) - 2 * e * LN2)
    # One exponent for the whole layer keeps inv of order 1 (units and samples of one
    # layer share their scale to within far less than float range).
    eu = -round(float(np.mean(ln_s)) / LN2)
    inv = np.exp(-ln_s - eu * LN2)
    np.multiply(c, inv, out=c)
    np.copyto(out, c, casting="same_kind")
    del h64, c
    return out, NormState(kind, inv, eu, e)


def backward(g: np.ndarray, u: np.ndarray, state: NormState, out: np.ndarray) -> int:
    """dl/dh from ``g = dl/du`` (``g_stored``, exponent handled by the caller) into ``out``.

    ``u`` is the stored normalized array of the forward pass (true ``u * 2**eu``).
    Returns the exponent to add to g's: ``dl/dh = out * 2**(eg + shift)``.
    """
    axis = state.axis
    g64 = g.astype(np.float64)
    u64 = u.astype(np.float64)
    gu = np.mean(g64 * u64, axis=axis, keepdims=True)  # mean(g u) / 2^(eg + eu)
    # u mean(g u) relative to g: u_stored * gu * 2^(2 eu); underflows to 0 (correctly)
    # where eps dominates and u is tiny.
    coef = np.ldexp(gu, 2 * state.eu)
    r = g64 - u64 * coef
    if state.kind != "rms":
        r -= g64.mean(axis=axis, keepdims=True)
    r *= state.inv
    np.copyto(out, r, casting="same_kind")
    return state.eu - state.e
