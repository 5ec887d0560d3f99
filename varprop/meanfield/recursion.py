"""The layer recursion: q_l, act statistics and gradient RMS per layer, in log form.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from varprop.meanfield.gaussian import kernel
from varprop.network import Network

LN10 = math.log(10.0)


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


def log_or_minus_inf(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _exp_or_nan(ln_x: np.ndarray) -> np.ndarray:
    """exp(ln_x), with nan where that leaves float64's normal range (0 stays 0)."""
    with np.errstate(all="ignore"):
        x = np.exp(ln_x)
    lost = (x == np.inf) | ((x < np.finfo(float).tiny) & (ln_x > -np.inf))
    return np.where(lost, np.nan, x)


def _log10_from_ln(ln_x: np.ndarray) -> np.ndarray:
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
    kern = kernel(net.act)
    sw2 = np.array([init.sigma_w2(widths[l - 1], widths[l]) for l in range(1, L + 1)])
    sb2 = np.array([net.layer_bias_std(l) ** 2 for l in range(1, L + 1)])
    ln_sw2 = [log_or_minus_inf(v) for v in sw2.tolist()]
    ln_sb2 = [log_or_minus_inf(v) for v in sb2.tolist()]

    # Forward: t_l = ln q_l.
    t = np.empty(L)
    t_l = _logaddexp(ln_sw2[0] + log_or_minus_inf(input_second_moment), ln_sb2[0])
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
        steps = np.concatenate([np.log(fan) + ev.ln_d2[:-1], [ev.ln_d2[-1]]])
    ln_grad2 = np.cumsum(steps[::-1])[::-1]
    ln_grad2 = np.where(np.isnan(ln_grad2), -np.inf, ln_grad2)

    with np.errstate(all="ignore"):
        chi = sw2 * np.exp(ev.ln_d2)
    return Prediction(
        preact_var=_exp_or_nan(t),
        log10_preact_var=_log10_from_ln(t),
        act_mean=_mean_or_zero(ev.m1, ev.ln_m2),
        act_var=_exp_or_nan(ev.ln_var),
        log10_act_var=_log10_from_ln(ev.ln_var),
        chi=np.where(np.isfinite(chi), chi, np.nan),
        grad_rms=_exp_or_nan(0.5 * ln_grad2),
        log10_grad_rms=_log10_from_ln(0.5 * ln_grad2),
        sigma_w2=sw2,
        sigma_b2=sb2,
    )
