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


def _mean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` through BLAS, accumulated in x's dtype, returned in float64."""
    n = x.shape[axis]
    ones = np.ones(n, dtype=x.dtype)
    total = x @ ones if axis == 1 else ones @ x
    shape = (-1, 1) if axis == 1 else (1, -1)
    return (total.astype(np.float64) / n).reshape(shape)


def _mean_product(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """mean(x * y) over ``axis``, in float64, without an (B, n) temporary."""
    n = x.shape[axis]
    total = np.einsum("ij,ij->i" if axis == 1 else "ij,ij->j", x, y)
    shape = (-1, 1) if axis == 1 else (1, -1)
    return (total.astype(np.float64) / n).reshape(shape)


def normalize(h: np.ndarray, e: int, kind: str, out: np.ndarray) -> tuple[np.ndarray, NormState]:
    """``u = N(h * 2**e)`` into ``out`` (may be ``h``) as ``u_stored * 2**eu``.

    Returns ``(u_stored, state)``; the true normalized array is ``u_stored * 2**state.eu``.
    Works in h's dtype with the statistics accumulated per row or column in it and
    combined in float64 (float32 sums over one layer's units or batch: relative error
    ~1e-6, far below the finite-width spread); float64 runs are float64 throughout.
    """
    axis = 0 if kind == "batch" else 1
    dtype = h.dtype.type
    if out is not h:
        np.copyto(out, h)
    if kind != "rms":
        out -= _mean(out, axis).astype(dtype)  # c = h - mean
    v = _mean_product(out, out, axis)
    # ln s = 0.5 ln(v + eps 4^-e), written so that neither term overflows.
    with np.errstate(divide="ignore"):
        ln_s = 0.5 * np.logaddexp(np.log(v), math.log(EPS) - 2 * e * LN2)
    # One exponent for the whole layer: the RMS of the true u, mean(v / s^2) <= 1, so the
    # stored u has RMS ~1 (a unit constant over the batch, c = 0, does not pull it).
    with np.errstate(divide="ignore"):
        ln_ratio = (np.log(v) - 2 * ln_s).ravel()  # ln(v / s^2), in log form: may be -1e3
    ln_share = float(np.logaddexp.reduce(ln_ratio)) - math.log(ln_ratio.size)
    eu = round(0.5 * ln_share / LN2) if math.isfinite(ln_share) else 0
    # A unit constant over the batch has c = 0 exactly; keep its (huge) 1/s finite in
    # the dtype so that u stays 0, not 0 * inf.
    inv = np.minimum(np.exp(-ln_s - eu * LN2), float(np.finfo(dtype).max))
    out *= inv.astype(dtype)
    return out, NormState(kind, inv, eu, e)


def backward(g: np.ndarray, u: np.ndarray, state: NormState, out: np.ndarray) -> int:
    """dl/dh from ``g = dl/du`` (``g_stored``, exponent handled by the caller) into ``out``.

    ``u`` is the stored normalized array of the forward pass (true ``u * 2**eu``); ``out``
    may be ``g``.  Returns the exponent to add to g's: ``dl/dh = out * 2**(eg + shift)``.
    """
    axis = state.axis
    dtype = g.dtype.type
    gu = _mean_product(g, u, axis)  # mean(g u) / 2^(eg + eu)
    # u mean(g u) relative to g: u_stored * gu * 2^(2 eu); underflows to 0 (correctly)
    # where eps dominates and u is tiny.
    coef = np.ldexp(gu, 2 * state.eu)
    shift = None if state.kind == "rms" else _mean(g, axis)
    term = u * coef.astype(dtype)
    if out is not g:
        np.copyto(out, g)
    out -= term
    del term
    if shift is not None:
        out -= shift.astype(dtype)
    out *= state.inv.astype(dtype)
    return state.eu - state.e
