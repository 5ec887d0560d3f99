"""Mean-field theory: Gaussian expectations, recursions, fixed points, recommendations.

References are computed here independently of varprop.meanfield: adaptive quadrature
(scipy.integrate.quad, split at the kinks and on both the activation's and the
Gaussian's scale) or closed forms from the papers, each with its source.
"""

import json
import math
import subprocess
import sys
import warnings
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize

import varprop
import varprop.meanfield as T
from varprop.activations import ACTIVATIONS, get_activation
from varprop.errors import VarpropError
from varprop.initializers import get_initializer
from varprop.network import Network

ALL = [*ACTIVATIONS.values(), get_activation("leaky-relu:0.2"), get_activation("elu:0.5")]
IDS = [a.label for a in ALL]
QS = (1e-8, 1e-4, 1e-2, 0.3, 1.0, 3.0, 30.0, 1e3, 1e5, 1e8)


# --------------------------------------------------------------------------------------
# Independent reference: E[g(x)], x ~ N(0, q), by adaptive quadrature in x.


def reference(act, q: float, g: str) -> float:
    """E[phi(x)] ("m1"), E[phi(x)^2] ("m2") or E[phi'(x)^2] ("d2") with scipy.quad.

    The real line is cut at the kinks, at 0, at +-1, 5, 30 (where phi bends) and at
    +-1, 3, 8 standard deviations, up to 40 of them; quad never straddles a kink.
    """
    s = math.sqrt(q)

    def f(x: float) -> float:
        xa = np.array([x])
        v = act.derivative(xa)[0] if g == "d2" else act.fn(xa)[0]
        v = v if g == "m1" else v * v
        return v * math.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))

    top = 40 * s
    cuts = {0.0, -top, top, *act.kinks}
    cuts |= {c * k for c in (1.0, 5.0, 30.0) for k in (-1, 1)}
    cuts |= {c * s * k for c in (1.0, 3.0, 8.0) for k in (-1, 1)}
    cuts = sorted(c for c in cuts if -top <= c <= top)
    total = 0.0
    with warnings.catch_warnings():
        # Pieces deep in the Gaussian tail are ~1e-300; quad may say it cannot reach
        # 1e-12 *relative* accuracy there, which does not matter for the sum.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for a, b in pairwise(cuts):
            total += integrate.quad(f, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
    return total


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_expectations_match_adaptive_quadrature(act):
    # DESIGN: accurate to 1e-6 relative (or 1e-12 absolute) for q from 1e-8 to 1e8.
    q = np.array(QS)
    got = {
        "m1": T.mean(act, q),
        "m2": T.second_moment(act, q),
        "d2": T.derivative_second_moment(act, q),
    }
    for key, values in got.items():
        for qi, v in zip(QS, values, strict=True):
            ref = reference(act, qi, key)
            assert abs(v - ref) <= 1e-6 * abs(ref) + 1e-12, (act.label, key, qi, v, ref)


def test_relu_closed_forms_and_the_kink():
    # E[relu(z)^2] = 1/2, E[relu'(z)^2] = P(z > 0) = 1/2, E[relu(z)] = 1/sqrt(2 pi):
    # half of a symmetric Gaussian.  A Gauss-Hermite rule with a node on 0 gets 0.44.
    relu = ACTIVATIONS["relu"]
    assert T.derivative_second_moment(relu, 1.0) == pytest.approx(0.5, abs=1e-15)
    assert T.second_moment(relu, 7.0) == pytest.approx(3.5, rel=1e-15)
    assert T.mean(relu, 4.0) == pytest.approx(2 / math.sqrt(2 * math.pi), rel=1e-13)
    kern = T.kernel(relu)
    x, w = T.gaussian._nodes(np.array([1.0]), relu.kinks)
    assert not np.any((x == 0.0) & (w != 0.0))  # no weighted node on the kink
    assert kern._quadrature(np.array([1.0])).d2[0] == pytest.approx(0.5, abs=1e-14)


@pytest.mark.parametrize(
    "act", [a for a in ALL if a.second_moment is not None], ids=lambda a: a.label
)
def test_closed_forms_agree_with_the_split_quadrature(act):
    # The registry's closed forms (relu, leaky-relu, linear, elu, selu, hardtanh) against
    # the kink-split Gauss-Legendre rule the other activations rely on, far beyond the
    # tested range: the closed forms must not cancel away their digits (erfcx for ELU's
    # large q, series for ELU's small q and hardtanh's large q).
    q = np.logspace(-30, 30, 121)
    quad = T.kernel(act)._quadrature(q)
    closed_m2 = np.array([act.second_moment(v) for v in q])
    closed_d2 = np.array([act.derivative_second_moment(v) for v in q])
    np.testing.assert_allclose(closed_m2, quad.m2, rtol=1e-11)
    np.testing.assert_allclose(closed_d2, quad.d2, rtol=1e-11)


def test_moment_edges():
    # q = 0 and beyond float range: the small- and large-q limits, never nan.
    assert T.second_moment("sigmoid", 0.0) == pytest.approx(0.25)
    assert T.derivative_second_moment("selu", 0.0) == pytest.approx(
        1.0507009873554805**2 * (1 + 1.6732632423543772**2) / 2
    )
    assert T.second_moment("tanh", 1e300) == pytest.approx(1.0)
    assert T.variance("gelu", 1e-300) == pytest.approx(0.25e-300)
    assert T.second_moment_slope("relu", 3.0) == pytest.approx(0.5)
    with pytest.raises(VarpropError):
        T.second_moment("tanh", -1.0)


@pytest.mark.parametrize("act", [a for a in ALL if not a.homogeneous], ids=lambda a: a.label)
def test_interpolation_tables_match_direct_quadrature(act):
    # The deep recursion reads ln E[phi^2], ln E[phi'^2], ln Var and the mean from
    # Chebyshev panels; they must agree with the direct rule to ~1e-9 relative.
    kern = T.kernel(act)
    t = np.random.default_rng(0).uniform(-69.9, 69.9, 200)
    ev = kern.evaluate(t)
    direct = kern.direct(np.exp(t))
    for key in ("m2", "d2", "var"):
        np.testing.assert_allclose(
            getattr(ev, "ln_" + key), np.log(getattr(direct, key)), rtol=0, atol=1e-9
        )
    scale = np.sqrt(direct.m2)
    assert np.all(np.abs(ev.m1 - direct.m1) <= 1e-9 * scale)
    scalar = np.array([kern.ln_m2(float(v)) for v in t])
    np.testing.assert_allclose(scalar, ev.ln_m2, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# Recursions


def test_he_relu_is_critical_and_every_q_is_a_fixed_point():
    # He et al. 2015; Schoenholz et al. 2017 (ReLU's critical point sigma_w^2 = 2,
    # sigma_b^2 = 0): q_{l+1} = 2 * q_l / 2, chi = 2 * 1/2 = 1.
    r = varprop.theory(act="relu", init="he", depth=20)
    assert {s.preact_var for s in r.layers} == {2.0}  # q_1 = 2 E[a_0^2] = 2
    for s in r.layers:
        assert s.chi == 1.0
        assert s.grad_rms == pytest.approx(math.sqrt(0.5), rel=1e-14)
    fp = T.fixed_point("relu", 2.0, 0.0, q_start=5.0)
    assert fp.kind == "every" and fp.q == 5.0 and fp.chi_1 == 1.0 and fp.stable is None
    assert r.summary.phase == "critical"
    assert r.summary.fixed_point == "every"
    assert r.summary.xi_c is None  # infinite
    assert "every q is a fixed point" in r.summary.note


def test_relu_scales_with_its_input():
    # phi(c x) = c phi(x): with zero bias every q_l scales with E[a_0^2].
    a = T.theory(act="relu", init="xavier", depth=30, input_second_moment=1.0)
    b = T.theory(act="relu", init="xavier", depth=30, input_second_moment=8.0)
    for x, y in zip(a.layers, b.layers, strict=True):
        assert y.log10_preact_var - x.log10_preact_var == pytest.approx(math.log10(8))
        assert y.log10_grad_rms == pytest.approx(x.log10_grad_rms, abs=1e-12)


def test_xavier_relu_depth_5000_in_log_form():
    # q_l = 2^-(l-1) (sigma_w^2 = 1 halves q per layer) far below float64: log10 q_5000 =
    # -4999 log10 2 = -1504.8.  Backward: E[delta_L^2] = 1/2 and each layer below halves
    # it, so log10 grad_rms_l = -(L - l + 1) log10(2) / 2.
    L = 5000
    r = T.theory(act="relu", init="xavier", depth=L)
    assert r.layers[-1].log10_preact_var == pytest.approx(-(L - 1) * math.log10(2), abs=1e-8)
    assert r.layers[-1].preact_var is None
    assert r.layers[0].log10_grad_rms == pytest.approx(-L * math.log10(2) / 2, abs=1e-8)
    assert r.layers[0].grad_rms is None
    assert r.summary.overflow_kind == "underflow"
    assert r.summary.overflow_layer == 1  # the gradient of layer 1 is already below 1e-308
    assert r.summary.forward == "vanishing"
    json.dumps(r.to_dict(), allow_nan=False)


def test_tanh_critical_at_depth_10000_decays_like_one_over_2l():
    # tanh, sigma_w^2 = 1, sigma_b^2 = 0 (Poole et al. 2016, the transition at sigma_b = 0):
    # q_{l+1} = q_l - 2 q_l^2 + O(q^3), so 1/q_L = 2 L + O(log L).
    r = T.theory(act="tanh", weight_var=1.0, depth=10_000)
    q_last = r.layers[-1].preact_var
    assert 2 * 10_000 * q_last == pytest.approx(1.0, abs=0.01)
    assert r.summary.q_star == 0.0
    assert r.summary.phase == "critical"
    assert r.summary.fixed_point_stable is None  # slope exactly 1 at q* = 0


def test_deep_stacks_beyond_float_range_stay_finite():
    # Depth 10,000 answers quickly (no timing here) and to_dict never holds nan or inf.
    for kwargs in (
        {"act": "gelu", "weight_var": 4.0},  # q explodes: asymptotically x 2 per layer
        {"act": "tanh", "weight_var": 0.5},  # q vanishes: x 0.5 per layer near 0
        {"act": "elu", "init": "normal"},  # sigma_w^2 = 512
        {"act": "sigmoid", "weight_var": 1e30},
        {"act": "softplus", "init": "he"},
    ):
        r = T.theory(depth=10_000, **kwargs)
        text = json.dumps(r.to_dict(), allow_nan=False)
        assert '"log10_preact_var": null' not in text, kwargs
    gelu = T.theory(act="gelu", weight_var=4.0, depth=10_000)
    # Far out GELU is x on one side and 0 on the other: q grows by 4/2 = 2 per layer.
    step = gelu.layers[-1].log10_preact_var - gelu.layers[-2].log10_preact_var
    assert step == pytest.approx(math.log10(2), abs=1e-12)
    assert gelu.summary.fixed_point == "diverges" and gelu.summary.q_star is None


@given(
    act=st.sampled_from(["tanh", "gelu", "silu", "sigmoid", "softplus", "selu", "mish"]),
    sw2=st.floats(0.2, 6.0),
    sb2=st.floats(0.0, 0.5),
)
def test_recursion_matches_the_direct_expectations(act, sw2, sb2):
    # The table-driven recursion against q_{l+1} = sigma_w^2 E[phi^2](q_l) + sigma_b^2
    # iterated with the public (direct-quadrature) expectation, and the backward product.
    net = Network(get_initializer(sw2), get_activation(act), (64,) * 9, math.sqrt(sb2))
    p = T.predict(net, 1.0)
    q = sw2 + sb2
    expect = []
    for _ in range(8):
        expect.append(q)
        q = sw2 * T.second_moment(act, q) + sb2
    np.testing.assert_allclose(p.preact_var, expect, rtol=1e-9)
    d2 = T.derivative_second_moment(act, np.array(expect))
    grad2 = np.cumprod((np.r_[sw2 * d2[:-1], d2[-1]])[::-1])[::-1]
    np.testing.assert_allclose(p.grad_rms, np.sqrt(grad2), rtol=1e-8)
    np.testing.assert_allclose(p.chi, sw2 * d2, rtol=1e-9)


def test_backward_recursion_on_non_square_layers():
    # delta_l = (delta_{l+1} @ W_{l+1}^T) * phi'(h_l), Var(W_{l+1}) = sigma_{w,l+1}^2 / n_l:
    # E[delta_l^2] = n_{l+1} Var(W_{l+1}) E[phi'^2](q_l) E[delta_{l+1}^2].  Xavier on
    # changing widths gives each layer its own sigma_w^2 = 2 n_{l-1} / (n_{l-1} + n_l).
    widths = (100, 300, 50, 200)
    init = get_initializer("xavier")
    net = Network(init, ACTIVATIONS["tanh"], widths)
    p = T.predict(net, 1.0)
    sw2 = [2 * a / (a + b) for a, b in pairwise(widths)]
    q = [sw2[0]]
    for l in (1, 2):
        q.append(sw2[l] * T.second_moment("tanh", q[-1]))
    np.testing.assert_allclose(p.preact_var, q, rtol=1e-10)
    d2 = T.derivative_second_moment("tanh", np.array(q))
    g3 = d2[2]
    g2 = widths[3] * (2 / (widths[2] + widths[3])) * d2[1] * g3
    g1 = widths[2] * (2 / (widths[1] + widths[2])) * d2[0] * g2
    np.testing.assert_allclose(p.grad_rms**2, [g1, g2, g3], rtol=1e-9)


# --------------------------------------------------------------------------------------
# Fixed points, phases, depth scales


def _indep_q_star(act: str, sw2: float, sb2: float) -> float:
    """q* by brentq on the reference quadrature (independent of varprop.meanfield)."""
    a = get_activation(act)
    return optimize.brentq(lambda q: sw2 * reference(a, q, "m2") + sb2 - q, 1e-3, 50.0)


def _indep_chi(act: str, sw2: float, sb2: float) -> float:
    a = get_activation(act)
    return sw2 * reference(a, _indep_q_star(act, sw2, sb2), "d2")


def test_tanh_order_to_chaos_at_zero_bias():
    # Poole et al. 2016 / Schoenholz et al. 2017: with sigma_b^2 = 0, tanh is ordered for
    # sigma_w^2 < 1 (q* = 0, chi_1 = sigma_w^2 phi'(0)^2), critical at 1, chaotic above.
    [(sw2, fp)] = T.edge_of_chaos("tanh", 0.0)
    assert sw2 == 1.0 and fp.q == 0.0 and fp.chi_1 == 1.0
    assert T.fixed_point("tanh", 0.9).phase == "ordered"
    # Ordered with q* = 0: c* = 1 and chi_c = chi_1, so xi_c = -1 / ln 0.9.
    ordered = varprop.theory(act="tanh", weight_var=0.9, depth=5).summary
    assert ordered.c_star == 1.0 and ordered.xi_c == pytest.approx(-1 / math.log(0.9))
    chaotic = T.fixed_point("tanh", 1.5)
    assert chaotic.phase == "chaotic" and chaotic.q > 0 and chaotic.stable
    assert chaotic.q == pytest.approx(_indep_q_star("tanh", 1.5, 0.0), rel=1e-9)


def test_tanh_boundary_moves_above_one_with_bias():
    # The critical line of Poole et al. 2016 (Fig. 2) / Schoenholz et al. 2017 (Fig. 1)
    # rises with sigma_b^2.  Our value at sigma_b^2 = 0.05 (1.7610) is checked by an
    # independent fixed-point + chi computation: chi_1 = 1 there, < 1 just below.
    boundary = [T.edge_of_chaos("tanh", sb2)[0][0] for sb2 in (0.01, 0.05, 0.1, 0.3)]
    assert all(b > 1 for b in boundary)
    assert boundary == sorted(boundary)
    sw2 = T.edge_of_chaos("tanh", 0.05)[0][0]
    assert sw2 == pytest.approx(1.761, abs=1e-3)
    assert _indep_chi("tanh", sw2, 0.05) == pytest.approx(1.0, abs=1e-7)
    assert _indep_chi("tanh", sw2 * 0.95, 0.05) < 1 < _indep_chi("tanh", sw2 * 1.05, 0.05)


def test_slope_of_the_map_and_depth_scale():
    # chi_q = dq_{l+1}/dq_l at q*, against a central difference of the reference map;
    # xi_q = -1 / ln chi_q (Schoenholz et al. 2017, §3).
    fp = T.fixed_point("tanh", 1.5, 0.05)
    a, h = ACTIVATIONS["tanh"], 1e-4 * fp.q
    slope = 1.5 * (reference(a, fp.q + h, "m2") - reference(a, fp.q - h, "m2")) / (2 * h)
    assert fp.slope == pytest.approx(slope, rel=1e-6)
    assert fp.xi_q == pytest.approx(-1 / math.log(slope), rel=1e-5)
    assert fp.stable is True


def test_selu_lecun_keeps_mean_zero_variance_one():
    # Klambauer et al. 2017: alpha, lambda of eq. (14) make (mean 0, variance 1) a stable
    # fixed point under LeCun init (sigma_w^2 = 1).
    assert T.second_moment("selu", 1.0) == pytest.approx(1.0, abs=1e-12)
    assert T.mean("selu", 1.0) == pytest.approx(0.0, abs=1e-12)
    fp = T.fixed_point("selu", 1.0, 0.0, q_start=1.0)
    assert fp.q == 1.0 and fp.stable
    r = T.theory(act="selu", init="lecun", depth=30)
    for s in r.layers:
        assert s.preact_var == pytest.approx(1.0, abs=1e-9)
        assert s.act_mean == pytest.approx(0.0, abs=1e-9)
        assert s.act_var == pytest.approx(1.0, abs=1e-9)


def test_gelu_forward_criterion_is_an_unstable_fixed_point():
    # sigma_w^2 = 1 / E[gelu(z)^2] makes q = 1 a fixed point, but E[gelu^2](q)/q grows
    # through q = 1, so the slope there exceeds 1: above q = 1 signals explode, below it
    # they vanish (as He's 2 < 2.35 does).  Same for SiLU.
    for act, m2 in (
        ("gelu", reference(ACTIVATIONS["gelu"], 1.0, "m2")),
        ("silu", reference(ACTIVATIONS["silu"], 1.0, "m2")),
    ):
        rec = varprop.recommend(act)
        fwd = next(c for c in rec.criteria if c.name == "forward")
        assert fwd.sigma_w2 == pytest.approx(1 / m2, rel=1e-9)
        assert fwd.q_star == 1.0
        assert fwd.stable is False
        assert "UNSTABLE" in fwd.note and "vanish" in fwd.note and "bias" in fwd.note
        # The recommendation is not that repelling fixed point but a stable one.
        assert rec.best.expect == {"forward": "stable", "backward": "stable"}
        assert rec.best.bias_var > 0
    he = T.theory(act="gelu", init="he", depth=50)
    assert he.summary.forward == "vanishing" and he.summary.q_star == 0.0


def test_kumar_numbers():
    # Kumar 2017 (arXiv:1704.08863): 1/phi'(0)^2 for phi differentiable at 0; 2 for
    # ReLU; about 3.6^2 = 12.96 for sigmoid (here 16/1.25 = 12.8 = 3.58^2, see the note).
    def kumar(act):
        return next(c for c in varprop.recommend(act).criteria if c.name == "kumar")

    assert kumar("tanh").sigma_w2 == 1.0
    assert kumar("relu").sigma_w2 == 2.0
    for act in ("gelu", "silu", "softplus"):
        assert kumar(act).sigma_w2 == pytest.approx(4.0)
    assert kumar("mish").sigma_w2 == pytest.approx(1 / 0.36)
    sig = kumar("sigmoid")
    assert sig.sigma_w2 == pytest.approx(12.8)
    assert abs(math.sqrt(sig.sigma_w2) - 3.6) < 0.03
    assert "1.25" in sig.note
    for act in ("selu", "leaky-relu"):
        assert kumar(act).sigma_w2 is None


def test_recommend_shape_and_named_inits():
    rec = varprop.recommend("relu")
    d = rec.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d["criteria"]) == {"forward", "edge_of_chaos", "kumar", "torch_gain"}
    for c in d["criteria"].values():
        assert set(c) >= {"sigma_w2", "q_star", "stable", "note"}
    assert d["best_init"] == "he"
    rows = {r["init"]: r for r in d["inits"]}
    assert rows["normal"]["sigma_w2"] == 512
    assert rows["torch-default"]["sigma_w2"] == pytest.approx(1 / 3)
    assert rows["torch-default"]["bias_var"] == pytest.approx(1 / (3 * 512))
    assert rows["he"]["verdict"] == "stable"
    assert rows["xavier"]["verdict"] == "vanishing, vanishing"
    # Per-layer factors are geometric means over the stack: Xavier halves q per layer.
    assert rows["he"]["forward_factor"] == 1.0 and rows["he"]["grad_factor"] == 1.0
    assert rows["xavier"]["forward_factor"] == pytest.approx(0.5, rel=1e-9)
    assert d["best"]["args"] == ["--init", "he"]
    eoc = d["criteria"]["edge_of_chaos"]
    assert eoc["sigma_w2"] == 2.0 and eoc["q_star"] is None  # every q
    torch = next(c for c in varprop.recommend("tanh").criteria if c.name == "torch_gain")
    assert torch.sigma_w2 == pytest.approx(25 / 9) and "empirical" in torch.note
    assert varprop.recommend("selu").best_init == "lecun"


def test_recommend_edge_of_chaos_moves_with_bias():
    at = {sb2: varprop.recommend("tanh", sb2).criteria[1] for sb2 in (0.0, 0.1)}
    assert at[0.0].sigma_w2 == 1.0 and at[0.0].q_star == 0.0
    assert at[0.1].sigma_w2 > 1.5 and at[0.1].stable is True
    assert varprop.recommend("tanh", 1.5).criteria[0].sigma_w2 is None  # sigma_b^2 >= 1


def test_recommend_rejects_bad_input():
    for kwargs, param in (
        ({"act": "tanhh"}, "--act"),
        ({"act": "tanh", "bias_var": -1.0}, "--bias-var"),
        ({"act": "tanh", "width": 0}, "--width"),
    ):
        with pytest.raises(VarpropError) as e:
            varprop.recommend(**kwargs)
        assert e.value.param == param


def test_fix_for_a_mismatched_run():
    relu = varprop.simulate(init="xavier", act="relu", depth=20, width=128, batch=64).summary
    assert relu.fix.init == "he" and relu.fix.expect == {"forward": "stable", "backward": "stable"}
    assert relu.theory_forward == "vanishing"
    he = varprop.simulate(init="he", act="relu", depth=20, width=128, batch=64).summary
    assert he.fix is None and he.limit is None


# --------------------------------------------------------------------------------------
# theory(...): shape and validation


def test_theory_to_dict_shape():
    d = varprop.theory(act="tanh", weight_var=1.5, depth=4).to_dict()
    assert set(d) == {"varprop_version", "config", "layers", "summary"}
    assert d["config"]["weight_var"] == 1.5 and d["config"]["act"] == "tanh"
    layer = d["layers"][0]
    for key in (
        "layer",
        "preact_var",
        "act_var",
        "chi",
        "grad_rms",
        "log10_preact_var",
        "log10_grad_rms",
    ):
        assert key in layer
    for key in (
        "forward",
        "backward",
        "q_star",
        "chi_1",
        "phase",
        "xi_q",
        "xi_c",
        "fixed_point_stable",
        "note",
        "preact_var_ratio",
        "grad_rms_ratio",
    ):
        assert key in d["summary"]
    assert d["summary"]["phase"] == "chaotic"
    json.dumps(d, allow_nan=False)


def test_torch_default_brings_its_bias():
    # nn.Linear: weights and biases U(+-1/sqrt(fan_in)), variance 1/(3 fan_in) each.
    r = varprop.theory(act="relu", init="torch-default", depth=3, width=300)
    assert r.config.bias_var == pytest.approx(1 / 900)
    assert r.layers[0].preact_var == pytest.approx(1 / 3 + 1 / 900)
    r0 = varprop.theory(act="relu", init="torch-default", bias_var=0.0, depth=3, width=300)
    assert r0.layers[0].preact_var == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"act": "rleu"}, "--act"),
        ({"weight_var": -1.0}, "--weight-var"),
        ({"weight_var": float("nan")}, "--weight-var"),
        ({"weight_var": 2.0, "init": "he"}, "--weight-var"),
        ({"bias_var": -0.1}, "--bias-var"),
        ({"depth": 0}, "--depth"),
        ({"depth": 2.5}, "--depth"),
        ({"width": 0}, "--width"),
        ({"init": "hee"}, "--init"),
        ({"input_second_moment": float("inf")}, "--input-second-moment"),
    ],
)
def test_theory_rejects_bad_input(kwargs, param):
    with pytest.raises(VarpropError) as e:
        varprop.theory(**kwargs)
    assert e.value.param == param
    assert "\n" not in str(e.value)


def test_varprop_theory_stays_callable():
    # The module is varprop.meanfield, so importing it never shadows the function; and no
    # submodule of it is named like a function it exports (import a.b as m would give the
    # function).
    import importlib
    import pkgutil
    import types

    import varprop.meanfield

    for info in pkgutil.iter_modules(varprop.meanfield.__path__):
        module = importlib.import_module(f"varprop.meanfield.{info.name}")
        assert getattr(varprop.meanfield, info.name) is module
        assert isinstance(module, types.ModuleType)
    assert callable(varprop.theory) and callable(varprop.recommend)
    assert varprop.theory(act="linear", init="lecun", depth=2).summary.phase == "critical"
    assert varprop.theory(act="linear", init="lecun", depth=2).summary.phase == "critical"


def test_relu_and_tanh_paths_do_not_import_scipy():
    code = (
        "import sys, varprop\n"
        "varprop.simulate(init='he', act='relu', depth=3, width=8, batch=4)\n"
        "varprop.simulate(init='xavier', act='relu', depth=40, width=8, batch=4)\n"
        "varprop.theory(act='tanh', weight_var=1.5, depth=100)\n"
        "varprop.recommend('relu')\n"
        "assert 'scipy' not in sys.modules, 'scipy was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------
# Simulation against theory

# Tolerance.  All samples of a batch share one weight draw per layer, so the batch size
# does not shrink the error; the seed-to-seed spread of log10 Var(h_l) grows like
# C sqrt(l / width).  C measured over 24 seeds at width 256, depth 16 (max over layers):
# He+ReLU 0.87, Xavier+tanh 0.11, LeCun+SELU 0.11, Xavier+sigmoid 0.42; we round up.
# The mean over T seeds has sd C sqrt(l / (width T)); we allow 5 of those (two-sided
# false failure ~6e-7 per check), plus l / width for the finite-width bias of the mean,
# which is O(l / width) (Hanin & Rolnick 2018): measured at most 0.45 l / width for
# sigmoid, less for tanh and SELU, and zero for ReLU, whose E[Var(h)] follows the
# recursion exactly (relu(h)^2 averages to h^2 / 2 for any symmetric h).
SPREAD = {
    ("he", "relu"): 0.9,
    ("xavier", "tanh"): 0.12,
    ("lecun", "selu"): 0.12,
    ("xavier", "sigmoid"): 0.45,
}
WIDTH, DEPTH, SEEDS = 1024, 12, 4


@pytest.mark.parametrize(("init", "act"), list(SPREAD), ids=lambda v: str(v))
def test_simulation_matches_theory(init, act):
    runs = [
        varprop.simulate(init=init, act=act, depth=DEPTH, width=WIDTH, batch=128, seed=s)
        for s in range(SEEDS)
    ]
    measured = np.mean([[s.preact_var for s in r.layers] for r in runs], axis=0)
    theory = np.array([s.theory_preact_var for s in runs[0].layers])
    layers = np.arange(1, DEPTH + 1)
    tol = 5 * SPREAD[(init, act)] * np.sqrt(layers / (WIDTH * SEEDS)) + layers / WIDTH
    gap = np.abs(np.log10(measured / theory))
    assert np.all(gap <= tol), (gap, tol)
    assert runs[0].summary.theory_max_log10_error is not None


def test_simulation_gradient_matches_theory_on_non_square_layers():
    # Linear stack, Xavier on widths 512 -> 128 -> 1024 -> 256: the backward factor is
    # n_{l+1} Var(W_{l+1}) = 2 n_{l+1} / (n_l + n_{l+1}), not sigma_w^2 of layer l (which
    # would give 0.056 instead of 0.4 at layer 2).  For a linear network the expectation
    # is exact at any width.  The per-seed relative sd of E[delta^2] is <= 1.6% (measured
    # over 16 seeds), 0.8% in RMS; the mean of 4 seeds has sd 0.4%, 5 sd = 2%: rtol 3%.
    widths = [128, 1024, 256]
    runs = [
        varprop.simulate(
            init="xavier", act="linear", depth=3, width=512, widths=widths, batch=256, seed=s
        )
        for s in range(4)
    ]
    grad = np.sqrt(np.mean([[s.grad_rms**2 for s in r.layers] for r in runs], axis=0))
    theory = np.array([s.theory_grad_rms for s in runs[0].layers])
    np.testing.assert_allclose(grad, theory, rtol=0.03)
    n = [512, *widths]
    expected_sq = [1.0]
    for l in (2, 1):
        expected_sq.insert(0, expected_sq[0] * 2 * n[l + 1] / (n[l] + n[l + 1]))
    np.testing.assert_allclose(theory**2, expected_sq, rtol=1e-12)


@pytest.mark.parametrize(
    ("act", "best"),
    [
        # He et al. 2015: ReLU and its leaky cousin are critical at sigma_w^2 = 2.
        ("relu", "he"),
        ("leaky-relu", "he"),
        # Klambauer et al. 2017: SELU's fixed point (0, 1) under LeCun init.
        ("selu", "lecun"),
        ("linear", "lecun"),
    ],
)
def test_recommend_best_is_the_literature_pair(act, best):
    assert varprop.recommend(act).best_init == best


def test_recommend_tanh_is_not_the_power_law():
    # Glorot & Bengio 2010 / Poole et al. 2016: tanh is critical at sigma_w^2 = 1
    # (chi_1 = 1 at q* = 0), but that fixed point is marginal: q_l ~ 1/(2l), a power law
    # that loses 2 decades by layer 50.  The best is stable both ways instead.
    r = varprop.recommend("tanh")
    rows = {i.init: i for i in r.inits}
    assert rows["xavier"].forward == "power-law" and rows["lecun"].forward == "power-law"
    assert r.best_init not in ("xavier", "lecun")
    assert r.best.expect == {"forward": "stable", "backward": "stable"}


def test_recommend_gelu_is_not_he():
    r = varprop.recommend("gelu")
    assert r.best_init != "he"
    assert {i.init: i.forward for i in r.inits}["he"] == "vanishing"


def test_a_name_is_not_recommended_when_it_drifts_over_the_depth():
    # leaky-relu:0.3 needs sigma_w^2 = 2/(1+0.09) = 1.835; He's 2 is within 10% but grows q
    # by (2/1.835)^200 ~ 10^7.5 over 200 layers, so the answer is the number.
    r = varprop.recommend("leaky-relu:0.3", depth=200)
    assert r.best_init == "1.835"
    assert {i.init: i.forward for i in r.inits}["he"] == "exploding"
