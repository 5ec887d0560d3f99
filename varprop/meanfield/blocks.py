"""Mean-field theory of normalized and residual blocks, and of LSUV.

Conventions of DESIGN.md ("Blocks") and :mod:`varprop.blocks`; ``z ~ N(0, 1)``,
``E[phi^2](v) = E[phi(sqrt(v) z)^2]``, ``E[phi'^2](v)`` likewise, ``eps = 1e-5``.  At
infinite width every pre-activation is Gaussian (Poole et al. 2016); the branch of a
residual block, ``phi(N(x)) W_l + b_l`` with ``W_l`` drawn afresh, is uncorrelated with
the stream ``x`` it is added to, so variances add (the argument of Hanin & Rolnick
2018, §4, for residual nets, and of Yang & Schoenholz 2017, "Mean field residual
networks", whose "full residual" recursions these are with ``alpha`` on the branch).

Two second moments are tracked per layer: ``q_l``, the variance over batch and units
that the simulation reports, and ``p_l``, the variance of one unit *over the batch* --
BatchNorm's scale.  They differ because every sample shares the weights: a unit's batch
mean ``sum_i W_ik mean_batch(a_i) + b_k`` is not zero when ``E[phi] != 0``.  So
``p = sigma_w^2 Var[phi] `` where ``q = sigma_w^2 E[phi^2] + sigma_b^2`` (the bias is
constant over the batch).  The norm's scale ``s^2`` and the variance ``v`` it leaves::

    none:        s^2 = 1           v = q            (plain: u = h; residual: u = x)
    layer, rms:  s^2 = q + eps     v = q / (q + eps)   (per sample: mean over units ~ 0)
    batch:       s^2 = p + eps     v = p / (p + eps)

Plain block ``h_l = phi(N(h_{l-1})) W_l + b_l``::

    q_1 = sigma_w1^2 E[a_0^2] + sigma_b1^2,       p_1 = sigma_w1^2 Var_batch(a_0)
    q_l = sigma_wl^2 E[phi^2](v_{l-1}) + sigma_bl^2,  p_l = sigma_wl^2 Var[phi](v_{l-1})
    E[delta_L^2] = E[phi'^2](v_L) / s_L^2
    E[delta_l^2] = (n_{l+1}/n_l) sigma_{w,l+1}^2 E[phi'^2](v_l) / s_l^2 * E[delta_{l+1}^2]

(with ``none`` this is meanfield's recursion, Schoenholz et al. 2017).  The norm's
backward is ``(1/s) (g - mean(g) - u mean(g u))``: the subtracted terms are
projections on 2 of n directions (layer; 1 for rms) or 2 of B (batch) and vanish at
infinite width and batch (the probe is independent across samples).

Residual block ``x_l = x_{l-1} + alpha (phi(N(x_{l-1})) W_l + b_l)``, ``q_0 = E[a_0^2]``::

    q_l = q_{l-1} + alpha^2 (sigma_wl^2 E[phi^2](v_{l-1}) + sigma_bl^2)
    p_l = p_{l-1} + alpha^2 sigma_wl^2 Var[phi](v_{l-1})
    E[delta_L^2] = 1     (dl/dx_L = g)
    E[delta_{l-1}^2] = E[delta_l^2] (1 + alpha^2 sigma_wl^2 E[phi'^2](v_{l-1}) / s_{l-1}^2)

Without a norm ``v = q`` and a ReLU stack under He doubles per block: ``q_l = q_{l-1}
(1 + alpha^2)``, and a linear one gives ``q_l = (1 + alpha^2 sigma_w^2)^l q_0``.  With a
pre-norm ``v ~ 1``, so the branch adds a constant ``alpha^2 (sigma_w^2 E[phi(z)^2] +
sigma_b^2)`` per block: linear growth, and the gradient factor ``1 + O(1 / q)`` --
grad RMS grows like sqrt(q_L / q_l), not geometrically.

BatchNorm in a plain stack (Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz 2019,
"A Mean Field Theory of Batch Normalization"): ``s^2 = p = sigma_w^2 Var[phi]`` while the
gradient carries ``sigma_w^2 E[phi'^2]``, so the factor per layer is ``E[phi'^2](1) /
Var[phi](1)``, whatever sigma_w^2 -- for ReLU ``(1/2) / ((pi - 1) / (2 pi)) = pi / (pi -
1) = 1.467`` in ``E[delta^2]``: gradients explode at infinite width *and* batch, as Yang et
al. find (their ReLU rate tends to pi/(pi-1) as B grows).  LayerNorm divides by ``q``,
which carries ``E[phi^2]``, and for ReLU the factor is exactly 1.  Finite batches change
the rate by O(1/B) (the projections above, and ``s^2`` estimated from B samples):
measured at width 512 (He + ReLU, layers 5-35 of 40, 4 seeds), B = 8: 1.80, 32: 1.52,
128: 1.467, 512: 1.449 -- small batches explode faster (tests/test_blocks.py).

Where it is an approximation.  Treating every unit's values over the batch as
N(0, v) assumes the batch's centred Gram matrix stays isotropic (Yang et al.'s "BSB1"
fixed point).  For ReLU the simulation stays on it (gaps below 0.07 decades per layer
at width 256, batch 128); GELU drifts off it after ~30 layers (0.3 decades of grad RMS
at depth 50), and the act statistics show it (mean(a) falls from 0.28 to 0.18).

LSUV (Mishkin & Matas 2015).  The simulation passes each layer's measured
``sigma_wl^2`` (``scale^2`` times ``fan_in / max(fan_in, fan_out)`` for orthogonal
weights).  Without data (``varprop theory --init lsuv``), the infinite-width LSUV sets
``sigma_wl^2 = (1 - sigma_bl^2) / E[phi^2](v_{l-1})`` (layer 1: ``/ E[a_0^2]``) so that
``Var(h_l) = 1``: the branch's, for a residual block.

Gaussian moments come from :mod:`varprop.meanfield.gaussian`'s ``second_moment``,
``derivative_second_moment`` and ``mean``, in log form beyond ``q in [1e-30, 1e30]``
where every registered phi is linear over the Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from varprop.activations import Activation
from varprop.blocks import branch_alpha, check
from varprop.judge import judge
from varprop.meanfield.fixedpoints import phase
from varprop.meanfield.gaussian import derivative_second_moment, mean, second_moment
from varprop.meanfield.recursion import Prediction
from varprop.meanfield.stack import build_network, theory_config, theory_layers
from varprop.network import Network
from varprop.norms import EPS
from varprop.results import (
    TheoryResult,
    TheorySummary,
    ratio_fields,
)

LN10 = math.log(10.0)
LN_EPS = math.log(EPS)
Q_LOW, Q_HIGH = 1e-30, 1e30
LN_LOW, LN_HIGH = math.log(Q_LOW), math.log(Q_HIGH)


def _ln(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _exp(x: float) -> float:
    """e^x, inf beyond float64 (stated as None later)."""
    return math.exp(x) if x < 709 else math.inf


def _add(a: float, b: float) -> float:
    """ln(e^a + e^b), -inf safe."""
    return float(np.logaddexp(a, b))


class BlockMoments:
    """ln E[phi^2], ln Var[phi], ln E[phi'^2] and E[phi] at ``v = e^t``, for any t.

    Inside [1e-30, 1e30] from meanfield's public functions (memoised: a normalized
    stack revisits the same v); outside, phi is linear over the Gaussian, so
    ``E[phi^2] = A + C v`` (A = phi(0)^2 below, 0 above) and E[phi'^2] is constant.
    """

    def __init__(self, act: Activation):
        self.act = act
        self._memo: dict[float, tuple[float, float, float, float]] = {}

    def _direct(self, v: float) -> tuple[float, float, float, float]:
        got = self._memo.get(v)
        if got is None:
            m2 = second_moment(self.act, v)
            m1 = mean(self.act, v)
            d2 = derivative_second_moment(self.act, v)
            got = (m2, m1, max(m2 - m1 * m1, 0.0), d2)
            if len(self._memo) < 100_000:
                self._memo[v] = got
        return got

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(ln E[phi^2], E[phi], ln Var[phi], ln E[phi'^2]) at v = e^t."""
        if self.act.homogeneous:  # phi(c x) = c phi(x): everything scales with v
            m2, m1, var, d2 = self._direct(1.0)
            half = 0.5 * t
            return t + _ln(m2), m1 * _exp(half) if m1 else 0.0, t + _ln(var), _ln(d2)
        if LN_LOW <= t <= LN_HIGH:
            m2, m1, var, d2 = self._direct(math.exp(t))
            return _ln(m2), m1, _ln(var), _ln(d2)
        edge = Q_HIGH if t > LN_HIGH else Q_LOW
        m2, m1, var, d2 = self._direct(edge)
        if t > LN_HIGH:  # linear in sqrt(v): moments grow like v
            scale = t - LN_HIGH
            return _ln(m2) + scale, m1 * _exp(0.5 * scale), _ln(var) + scale, _ln(d2)
        m2_0, m1_0, var_0, _ = self._direct(0.0)
        lin = (t - LN_LOW) + _ln(max(m2 - m2_0, 0.0))
        lin_var = (t - LN_LOW) + _ln(max(var - var_0, 0.0))
        return _add(_ln(m2_0), lin), m1_0, _add(_ln(var_0), lin_var), _ln(d2)


def _scale2(norm: str, ln_q: float, ln_p: float) -> tuple[float, float]:
    """(ln s^2, ln v): the norm's squared scale and the variance it leaves (see above)."""
    if norm == "none":
        return 0.0, ln_q
    base = ln_p if norm == "batch" else ln_q
    ln_s2 = _add(base, LN_EPS)
    return ln_s2, base - ln_s2


def predict_blocks(
    net: Network,
    input_second_moment: float = 1.0,
    *,
    input_batch_var: float | None = None,
    sigma_w2: Sequence[float] | None = None,
) -> Prediction:
    """Per-layer mean-field figures of any block stack (module docstring).

    ``input_batch_var`` is the mean over input columns of their variance over the batch
    (BatchNorm's first scale; default: ``input_second_moment``, zero-mean columns).
    ``sigma_w2`` overrides each layer's sigma_w^2 (LSUV's measured values); for an
    ``lsuv`` network without it, the infinite-width LSUV choice is used.
    """
    L, widths, init = net.depth, net.widths, net.init
    mom = BlockMoments(net.act)
    residual = net.block == "residual"
    ideal_lsuv = net.lsuv and sigma_w2 is None
    if sigma_w2 is None:
        sw2 = [init.sigma_w2(widths[l - 1], widths[l]) for l in range(1, L + 1)]
    else:
        sw2 = [float(x) if x is not None else math.inf for x in sigma_w2]
    sb2 = [net.layer_bias_std(l) ** 2 for l in range(1, L + 1)]
    ln_a2 = 2 * _ln(net.branch_scale) if residual else 0.0
    m0 = input_second_moment
    bv0 = m0 if input_batch_var is None else input_batch_var

    ln_q = np.empty(L)
    ln_s2 = np.zeros(L + 1)  # index l: the norm in front of the step from l (0: input)
    act = np.empty((L, 4))  # moments of phi's input of each layer's reported activation
    ln_d2_in = np.empty(L)  # ln E[phi'^2] at the phi feeding W_l (residual) / after h_l
    tq, tp = _ln(m0), _ln(bv0)  # the stream (residual) or the input
    for l in range(1, L + 1):
        i = l - 1
        if l == 1 and not residual:  # h_1 = a_0 W_1 + b_1: the input goes in as it is
            ln_m2, ln_var = _ln(m0), _ln(bv0)
            mom_in = None
        else:
            s2, ln_v = _scale2(net.norm, tq, tp)
            ln_s2[i] = s2
            mom_in = mom.at(ln_v)
            ln_m2, ln_var = mom_in[0], mom_in[2]
        if ideal_lsuv:  # Var(h_l) = 1: sigma_w^2 E[phi^2] + sigma_b^2 = 1
            sw2[i] = max(1.0 - sb2[i], 0.0) * math.exp(-ln_m2) if ln_m2 > -math.inf else 0.0
        ln_w = _ln(sw2[i])
        branch_q = _add(ln_w + ln_m2, _ln(sb2[i]))
        branch_p = ln_w + ln_var
        if residual:
            act[i] = mom_in
            ln_d2_in[i] = mom_in[3]
            tq, tp = _add(tq, ln_a2 + branch_q), _add(tp, ln_a2 + branch_p)
        else:
            tq, tp = branch_q, branch_p
            s2, ln_v = _scale2(net.norm, tq, tp)
            ln_s2[l] = s2
            act[i] = mom.at(ln_v)
            ln_d2_in[i] = act[i][3]
        ln_q[i] = tq

    # Backward, as ln E[delta_l^2]; chi_l is the factor of block l (module docstring).
    ln_g2 = np.empty(L)
    ln_chi = np.empty(L)
    if residual:
        acc = 0.0
        for l in range(L, 0, -1):
            ln_g2[l - 1] = acc
            branch = ln_a2 + _ln(sw2[l - 1]) + ln_d2_in[l - 1] - ln_s2[l - 1]
            ln_chi[l - 1] = _add(0.0, branch)
            acc += ln_chi[l - 1]
    else:
        acc = ln_d2_in[L - 1] - ln_s2[L]
        ln_g2[L - 1] = acc
        ln_chi[L - 1] = _ln(sw2[L - 1]) + ln_d2_in[L - 1] - ln_s2[L]
        for l in range(L - 1, 0, -1):
            fan = _ln(widths[l + 1] * sw2[l] / widths[l])
            step = fan + ln_d2_in[l - 1] - ln_s2[l]
            acc += step
            ln_g2[l - 1] = acc
            ln_chi[l - 1] = _ln(sw2[l - 1]) + ln_d2_in[l - 1] - ln_s2[l]

    with np.errstate(all="ignore"):
        return Prediction(
            preact_var=_plain(ln_q),
            log10_preact_var=_log10(ln_q),
            act_mean=np.array([a[1] for a in act]),
            act_var=_plain(act[:, 2]),
            log10_act_var=_log10(act[:, 2]),
            chi=_plain(ln_chi),
            grad_rms=_plain(0.5 * ln_g2),
            log10_grad_rms=_log10(0.5 * ln_g2),
            sigma_w2=np.array(sw2, dtype=float),
            sigma_b2=np.array(sb2, dtype=float),
        )


def _plain(ln_x: np.ndarray) -> np.ndarray:
    """exp(ln_x), nan where that leaves float64's normal range (0 stays 0)."""
    with np.errstate(all="ignore"):
        x = np.exp(ln_x)
    lost = (x == np.inf) | ((x < np.finfo(float).tiny) & (ln_x > -np.inf)) | np.isnan(ln_x)
    return np.where(lost, np.nan, x)


def _log10(ln_x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(ln_x), ln_x / LN10, np.nan)


# --------------------------------------------------------------------------------------
# varprop theory --block ... --norm ...


def theory(
    act="relu",
    weight_var=None,
    bias_var=None,
    depth: int = 50,
    width: int = 512,
    *,
    init=None,
    widths=None,
    input_second_moment: float = 1.0,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
    block: str = "plain",
    norm: str = "none",
    branch_scale=None,
) -> TheoryResult:
    """:func:`varprop.meanfield.theory` for any block (same arguments, plus the blocks).

    Plain stacks without a norm (and not LSUV) are meanfield's own answer, fixed point
    analysis included; the others get the recursions of the module docstring, and a
    summary whose ``q_star`` is the normalized stack's settled q (None for a residual
    stream, which grows) and ``chi_1`` the last block's gradient factor.

    >>> r = theory(act="relu", init="he", depth=10, block="residual")
    >>> round(r.layers[-1].preact_var)  # q doubles per block: 2**10
    1024
    """
    from varprop.meanfield.stack import theory as plain_theory

    net = build_network(
        act, weight_var, bias_var, depth, width,
        init=init, widths=widths, gain=gain, fan_mode=fan_mode,
    )  # fmt: skip
    block, norm, alpha = check(block, norm, branch_scale, net.widths, None)
    if block == "plain" and norm == "none" and not net.lsuv:
        return plain_theory(
            act, weight_var, bias_var, depth, width, init=init, widths=widths,
            input_second_moment=input_second_moment, gain=gain, fan_mode=fan_mode,
        )  # fmt: skip
    net = replace(net, block=block, norm=norm, branch_scale=alpha)
    m0 = float(input_second_moment)
    if not (math.isfinite(m0) and m0 > 0):
        from varprop.errors import VarpropError

        raise VarpropError(
            f"input second moment must be a finite number > 0, got {input_second_moment!r}",
            param="--input-second-moment",
        )
    pred = predict_blocks(net, m0)
    layers = theory_layers(pred)
    config = theory_config(net, pred, width, m0, block=block, norm=norm, branch_scale=alpha)
    from varprop import __version__

    return TheoryResult(__version__, config, layers, _summary(layers, net))


def _summary(layers, net: Network) -> TheorySummary:
    ratios = ratio_fields(layers)
    chi = layers[-1].chi
    residual = net.block == "residual"
    if residual:
        kind, q_star = "diverges", None
        note = (
            f"residual stream: each block adds its branch's variance (alpha = "
            f"{net.branch_scale:.4g}), so q has no fixed point; "
            + ("without a norm the branch grows with q: geometric growth"
               if net.norm == "none" else
               "the pre-norm makes the branch's variance constant: q grows linearly")
        )  # fmt: skip
    else:
        kind, q_star = "fixed", layers[-1].preact_var
        note = (
            f"{net.norm} norm: phi sees unit variance, so q settles at sigma_w^2 E[phi(z)^2] "
            "+ sigma_b^2 after one layer"
        )
        if net.norm == "batch":
            note += (
                "; BatchNorm divides the gradient by sqrt(sigma_w^2 Var[phi]) but it carries "
                "sigma_w^2 E[phi'^2]: E[phi'^2] / Var[phi] per layer (Yang et al. 2019; "
                "pi/(pi-1) = 1.467 for relu)"
            )
    if chi is not None:
        note += f"; gradient factor of the last block {chi:.4g} (in E[delta^2])"
    if net.lsuv:
        note += "; LSUV at infinite width: sigma_w^2 = (1 - sigma_b^2) / E[phi^2] per layer"
    verdicts = judge([s.log10_preact_var for s in layers], [s.log10_grad_rms for s in layers])
    return TheorySummary(
        forward=verdicts.forward.word,
        backward=verdicts.backward.word,
        **ratios,
        forward_exponent=verdicts.forward.exponent,
        backward_exponent=verdicts.backward.exponent,
        q_star=q_star,
        chi_1=chi,
        phase=None if residual else phase(chi),  # order/chaos is a plain-stack notion
        xi_q=None if residual else 0.0,  # a norm sets q in one layer
        xi_c=None,  # the correlation map is a plain-stack notion here
        fixed_point=kind,
        fixed_point_stable=True if not residual else None,
        note=note,
    )


def _depth_scale(chi: float | None) -> float | None:
    if chi is None or not chi > 0 or abs(math.log(chi)) < 1e-12:
        return None
    return -1.0 / math.log(chi)


__all__ = ["BlockMoments", "branch_alpha", "predict_blocks", "theory"]
