"""Normalized and residual blocks, and LSUV: the engine beyond the plain MLP.

DESIGN.md ("Blocks").  A plain block with a norm ``N`` is ``h_l = a_{l-1} @ W_l + b_l``,
``a_l = phi(N(h_l))``; the figures reported are those of ``h_l`` (before the norm) and
the gradient is ``dl/dh_l``.  A residual block keeps a stream ``x`` (``x_0`` = input)::

    x_l = x_{l-1} + alpha (phi(N(x_{l-1})) @ W_l + b_l)

(``N`` the identity for ``--norm none``), reports ``x_l`` and ``dl/dx_l``, and the
per-sample loss is ``<x_L, g>`` with the probe ``g``.  ``act_mean``/``act_var`` of block
``l`` are those of its branch activation ``phi(N(x_{l-1}))``.

Exactness as in :mod:`varprop.network`: every array is ``stored * 2**e``; the stream and
the branch are brought to a common exponent before they are added (exact, except that
a term below the other by more than the dtype's precision is dropped, as in any sum);
the norms take the exponent into account (:mod:`varprop.norms`).  One array per layer
is kept for the backward pass: the normalized input of phi, ``u_l`` (for a residual
block without a norm, ``x_{l-1}`` itself), plus a vector of the norm's scales.

LSUV (Mishkin & Matas 2015, "All you need is a good init", Algorithm 1): orthogonal
weights, then for each layer in turn, on the run's own batch, ``W_l <- W_l /
sqrt(Var(h_l))`` until ``|Var(h_l) - 1| < 0.1`` or 10 iterations.  ``h_l`` is the
pre-activation (plain) or the branch's ``phi(N(x_{l-1})) W_l + b_l`` (residual).  The
factor is kept as a scalar per layer (the weights themselves are shared with other runs
and never written): ``h = c (a W) + b``.  Every iteration is evaluated exactly from the
batch's sufficient statistics (mean square of ``a W``, its column means and the bias),
so no matrix product is repeated.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from varprop import norms
from varprop.errors import VarpropError
from varprop.network import (
    BIG_SQUARE,
    DTYPES,
    SMALL_SQUARE,
    RawStats,
    _dphi_scaled,
    _draw_bias,
    _mean_and_square,
    _mean_square,
    _phi_scaled,
    _record,
    _scale,
    _weight_grad_norm,
)
from varprop.network import _ldexp_or_nan as _plain
from varprop.network import _log10_scaled as _log10
from varprop.network import _rescale_exponent as _drift

BLOCKS = ("plain", "residual")
# alpha multiplies float32 arrays: keep it (and 1/alpha) far inside float32's range.
MAX_BRANCH_SCALE = 1e15
LSUV_TOLERANCE = 0.1
LSUV_MAX_ITERATIONS = 10


def check(block, norm, branch_scale, widths: tuple[int, ...], batch: int | None):
    """Validate the block options; return ``(block, norm, alpha)``.

    ``branch_scale`` is alpha of a residual branch: a finite number > 0, ``"auto"``
    (1/sqrt(depth)) or None (1).  A residual stream adds x_{l-1} to the branch, so every
    width, the input's included, must be the same; BatchNorm needs two samples or more.
    """
    block = str(block).strip().lower()
    if block not in BLOCKS:
        raise VarpropError(
            f"unknown block {block!r}; choose one of {', '.join(BLOCKS)}", param="--block"
        )
    norm = str(norm).strip().lower()
    if norm not in norms.NORMS:
        raise VarpropError(
            f"unknown norm {norm!r}; choose one of {', '.join(norms.NORMS)}", param="--norm"
        )
    alpha = branch_alpha(branch_scale, len(widths) - 1)
    if block == "plain" and alpha != 1.0:
        raise VarpropError(
            f"branch scale {branch_scale!r} applies to residual blocks only; "
            "add --block residual (or @residual to a pair)",
            param="--branch-scale",
        )
    if block == "residual" and len(set(widths)) > 1:
        shown = ",".join(map(str, widths[1:])) if len(widths) <= 9 else "..."
        raise VarpropError(
            f"residual blocks add x_(l-1) to the branch, so every width must equal the "
            f"input's {widths[0]} (got widths {shown}); give equal widths (and --width = "
            "the data's columns), or use --block plain",
            param="--widths" if len(set(widths[1:])) > 1 else "--width",
        )
    if norm == "batch" and batch is not None and batch < 2:
        raise VarpropError(
            f"--norm batch normalizes each unit over the batch, which needs --batch >= 2 "
            f"(got {batch}); or choose one of layer, rms, none",
            param="--norm",
        )
    return block, norm, alpha


def branch_alpha(branch_scale, depth: int) -> float:
    """alpha from ``--branch-scale``: a finite number > 0, ``auto`` = 1/sqrt(depth), or 1."""
    if branch_scale is None:
        return 1.0
    if isinstance(branch_scale, str):
        text = branch_scale.strip().lower()
        if text == "auto":
            return 1.0 / math.sqrt(depth)
        try:
            branch_scale = float(text)
        except ValueError:
            branch_scale = math.nan
    ok = isinstance(branch_scale, int | float | np.number) and not isinstance(branch_scale, bool)
    if not (ok and math.isfinite(branch_scale) and 0 < branch_scale <= MAX_BRANCH_SCALE):
        raise VarpropError(
            f"branch scale must be a number > 0 (up to {MAX_BRANCH_SCALE:g}) or 'auto' "
            f"(1/sqrt(depth)), got {branch_scale!r}",
            param="--branch-scale",
        )
    return float(branch_scale)


class Layer(NamedTuple):
    """What the backward pass keeps of one block: phi's input ``u * 2**eu`` and the norm."""

    u: np.ndarray
    eu: int
    direct: bool  # phi applied to u as it is (else through _phi_scaled)
    norm: norms.NormState | None


class Lsuv(NamedTuple):
    """One layer's LSUV factor: the true weight scale is ``factor * 2**-shift``."""

    factor: float
    shift: int
    iterations: int
    var: float


def _phi(act, u, eu, out):
    """phi(u * 2**eu) into ``out``: ``(a, ea, direct)``, exactly at any exponent."""
    if act.homogeneous:
        return act.fn(u, out=out), eu, True
    if eu == 0:
        square = _mean_square(u, out)
        if SMALL_SQUARE <= square <= BIG_SQUARE:
            return act.fn(u, out=out), 0, True
    t, ea = _phi_scaled(act, u, eu)
    np.copyto(out, t, casting="same_kind")
    return out, ea, False


def _phi_again(act, layer: Layer, out):
    """phi(u_l) for the backward pass, as the forward pass computed it."""
    if layer.direct:
        return act.fn(layer.u, out=out), (layer.eu if act.homogeneous else 0)
    t, ea = _phi_scaled(act, layer.u, layer.eu)
    np.copyto(out, t, casting="same_kind")
    return out, ea


def _dphi(act, layer: Layer, out):
    if layer.direct:
        return act.derivative(layer.u, out=out)
    np.copyto(out, _dphi_scaled(act, layer.u, layer.eu), casting="same_kind")
    return out


def lsuv_fit(m: np.ndarray, em: int, bias: np.ndarray | None) -> Lsuv:
    """LSUV on one layer: the factor c with Var(c * m * 2**em + bias) within tolerance.

    Starts from c = 1 (the orthogonal draw as it is) and divides by sqrt(Var) until
    ``|Var - 1| < LSUV_TOLERANCE`` or LSUV_MAX_ITERATIONS, as Mishkin & Matas do.
    Returns the stored multiplier (applied to ``m``, giving exponent 0) and ``-em``.
    """
    col = m.mean(axis=0, dtype=np.float64)  # (n,) column means of the stored product
    mean_m = float(col.mean())
    square_m = _mean_and_square(m, np.empty_like(m))[1]
    if bias is None:
        mean_b = cross = square_b = 0.0
    else:
        b = bias.astype(np.float64)
        mean_b, cross, square_b = float(b.mean()), float(np.mean(col * b)), float(np.mean(b * b))

    def var(c: float) -> float:
        mean = c * mean_m + mean_b
        return max(c * c * square_m + 2 * c * cross + square_b - mean * mean, 0.0)

    c = math.ldexp(1.0, em)
    v = var(c)
    iterations = 0
    while abs(v - 1) >= LSUV_TOLERANCE and iterations < LSUV_MAX_ITERATIONS:
        if not (v > 0 and math.isfinite(v)):
            break
        c /= math.sqrt(v)
        iterations += 1
        v = var(c)
    return Lsuv(c, -em, iterations, v)


def _linear_out(net, l, m, em, bias_rng, lsuv_out, dtype):
    """``m * 2**em`` becomes ``h_l = c m + b`` (LSUV) or ``m + b``: returns h's exponent."""
    bstd = net.layer_bias_std(l)
    b = _draw_bias(net, l, bias_rng, bstd, dtype) if bstd > 0 else None
    if lsuv_out is not None:
        fit = lsuv_fit(m, em, b)
        lsuv_out.append(fit)
        m *= dtype(fit.factor)
        if b is not None:
            m += b
        return 0
    if b is None:
        return em
    # true h = 2**em m + b; store it with eh = max(em, 0) so neither term overflows
    eh = max(em, 0)
    _scale(m, em - eh)
    _scale(b, -eh)
    m += b
    return eh


def _stats_act(net, st: RawStats, l, a, ea, u, w):
    """act_mean, act_var and the saturated fraction of a = phi(u) at layer l."""
    act = net.act
    mean, square = _mean_and_square(a, w)
    _record(st.act_mean, st.act_var, st.log10_act_var, l, mean, square, ea)
    if act.saturation == "dead":
        st.saturated_frac[l - 1] = 1.0 - np.count_nonzero(u.max(axis=0) > 0) / u.shape[1]
    elif act.saturation == "flat":
        true_a = a if ea == 0 else np.ldexp(a, ea, dtype=np.float64)
        st.saturated_frac[l - 1] = float(np.count_nonzero(act.flat(true_a))) / a.size
    else:
        st.saturated_frac[l - 1] = 0.0
    return square


def forward(net, x0, weights, st: RawStats, bias_seed, progress=None, *, x0_exp=0, lsuv=None):
    """Forward pass of a norm or residual stack; returns (layers kept, layers done)."""
    dtype = DTYPES[net.dtype]
    L, widths = net.depth, net.widths
    B = x0.shape[0]
    n_max = max(widths)
    work = np.empty(B * n_max, dtype=dtype)
    abuf = np.empty(B * n_max, dtype=dtype)
    bias_rng = np.random.Generator(np.random.SFC64(bias_seed))
    block = np.empty(B * sum(widths[1:]), dtype=dtype)  # one u_l per layer
    kept: list[Layer] = []
    residual = net.block == "residual"
    if residual:
        xs = np.array(x0, dtype=dtype, copy=True)  # the stream, (B, n)
        rbuf = np.empty_like(xs)
    x, ex = x0, x0_exp
    offset = 0
    for l in range(1, L + 1):
        n = widths[l]
        slot = block[offset : offset + B * n].reshape(B, n)
        offset += B * n
        w = work[: B * n].reshape(B, n)
        a_out = abuf[: B * n].reshape(B, n)
        if residual:
            np.copyto(slot, xs)
            u, eu, state = slot, ex, None
            if net.norm != "none":
                u, state = norms.normalize(slot, ex, net.norm, out=slot)
                eu = state.eu
            a, ea, direct = _phi(net.act, u, eu, a_out)
            _stats_act(net, st, l, a, ea, u, w)
            kept.append(Layer(u, eu, direct, state))
            r = rbuf
            np.matmul(a, weights[l], out=r)
            er = _linear_out(net, l, r, ea, bias_rng, lsuv, dtype)
            r *= dtype(net.branch_scale)
            e = max(ex, er)
            _scale(xs, ex - e)
            _scale(r, er - e)
            xs += r
            ex = e
            mean, square = _mean_and_square(xs, w)
            if not math.isfinite(square):
                st.overflow_kind = "overflow"
                return kept, l - 1
            _record(st.preact_mean, st.preact_var, st.log10_preact_var, l, mean, square, ex)
            k = _drift(square)
            _scale(xs, -k)
            ex += k
        else:
            h = slot
            np.matmul(x, weights[l], out=h)
            eh = _linear_out(net, l, h, ex, bias_rng, lsuv, dtype)
            mean, square = _mean_and_square(h, w)
            if not math.isfinite(square):
                st.overflow_kind = "overflow"
                return kept, l - 1
            _record(st.preact_mean, st.preact_var, st.log10_preact_var, l, mean, square, eh)
            u, state = norms.normalize(h, eh, net.norm, out=h)
            a, ea, direct = _phi(net.act, u, state.eu, a_out)
            square = _stats_act(net, st, l, a, ea, u, w)
            if net.act.homogeneous:
                k = _drift(square)
                _scale(a, -k)
                ea += k
            kept.append(Layer(u, state.eu, direct, state))
            x, ex = a, ea
        if progress is not None:
            progress(1)
    return kept, L


def _add(d, eg, t, et):
    """d * 2**eg + t * 2**et into d, at the larger exponent (returned)."""
    e = max(eg, et)
    _scale(d, eg - e)
    _scale(t, et - e)
    d += t
    return e


def backward(net, x0, weights, kept, st: RawStats, probe_seed, B, progress=None, *,
             x0_exp=0, lsuv=None):  # fmt: skip
    """Gradient statistics from layer L down to 1 (dl/dh_l plain, dl/dx_l residual)."""
    dtype = DTYPES[net.dtype]
    act, L, widths = net.act, net.depth, net.widths
    n_max = max(widths)
    residual = net.block == "residual"
    alpha = net.branch_scale if residual else 1.0
    buf = np.empty(B * n_max, dtype=dtype)
    wgrad = np.empty(n_max * n_max, dtype=dtype)
    bufs = (np.empty(B * n_max, dtype=dtype), np.empty(B * n_max, dtype=dtype))
    d = bufs[0][: B * widths[L]].reshape(B, widths[L])
    np.random.Generator(np.random.SFC64(probe_seed)).standard_normal(out=d, dtype=dtype)
    eg = 0
    if not residual:  # dl/du_L = g phi'(u_L), then back through the norm
        top = kept[L - 1]
        d *= _dphi(act, top, buf[: d.size].reshape(d.shape))
        eg += norms.backward(d, top.u, top.norm, out=d)
    for l in range(L, 0, -1):
        square = _mean_square(d, buf[: d.size].reshape(d.shape))
        k = _drift(square)
        _scale(d, -k)
        eg += k
        rms = math.sqrt(square)
        st.grad_rms[l - 1] = _plain(rms, eg - k)
        st.log10_grad_rms[l - 1] = _log10(rms, eg - k)

        # dL/dW_l = alpha a^T delta / B, a the input of W_l.
        if residual:
            prev, ep = _phi_again(act, kept[l - 1], buf[: d.size].reshape(d.shape))
        elif l == 1:
            prev, ep = x0, x0_exp
        else:
            layer = kept[l - 2]
            prev, ep = _phi_again(act, layer, buf[: layer.u.size].reshape(layer.u.shape))
        norm = _weight_grad_norm(prev, d, wgrad) * alpha / B
        st.weight_grad_norm[l - 1] = _plain(norm, ep + eg)
        st.log10_weight_grad_norm[l - 1] = _log10(norm, ep + eg)
        if progress is not None:
            progress(1)
        if l == 1:
            break

        # Through W_l (times its LSUV factor) and phi' of the layer below.
        below = kept[l - 1] if residual else kept[l - 2]
        n_in = widths[l - 1]
        t = bufs[1 if residual else (L - l + 1) % 2][: B * n_in].reshape(B, n_in)
        np.matmul(d, weights[l].T, out=t)
        et = eg
        if lsuv is not None:
            t *= dtype(lsuv[l - 1].factor)
            et += lsuv[l - 1].shift
        t *= _dphi(act, below, buf[: t.size].reshape(t.shape))
        if residual:
            t *= dtype(alpha)
        if below.norm is not None:
            et += norms.backward(t, below.u, below.norm, out=t)
        if residual:
            eg = _add(d, eg, t, et)
        else:
            d, eg = t, et
        kept[l - 1] = None  # free layer l's array as soon as it is used
    return st
