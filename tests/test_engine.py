"""The Monte-Carlo engine against theory, with tolerances argued from width and depth.

Calibration of the tolerances.  All samples of a batch share one weight draw per
layer, so a bigger batch does not shrink the error: the per-seed spread of
log10 Var(h_L) grows like sqrt(L / width).  Measured over 16 seeds at width 256,
depth 50 (He + ReLU): sd(log10 q_50) = 0.35, i.e. C_FWD = 0.35 / sqrt(50/256) = 0.79;
sd(log10 grad RMS ratio) = 0.106, i.e. C_BWD = 0.24.  This matches Hanin & Rolnick
(2018): Var(ln q_L) ~ 5 L / width for ReLU, 0.79 * ln(10) = 1.8 ~ sqrt(5) * 0.8.
Tests allow 5 such standard deviations (two-sided false failure ~ 6e-7 per check).
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import varprop
from varprop.network import memory_estimate

C_FWD = 0.79
C_BWD = 0.24


def fwd_tol(layers: int, width: int) -> float:
    return 5 * C_FWD * math.sqrt(layers / width)


def bwd_tol(layers: int, width: int) -> float:
    return 5 * C_BWD * math.sqrt(layers / width)


@pytest.fixture(scope="module")
def he_relu():
    return varprop.simulate(init="he", act="relu", depth=50, width=512, batch=256, seed=0)


def test_he_relu_keeps_variance_and_gradient(he_relu):
    # He et al. 2015: sigma_w^2 = 2 keeps q_l = 2 q_0 / ... = 2 (input E[a0^2] = 1) at
    # every layer, and the gradient second moment chi = 2 * 1/2 = 1: grad RMS sqrt(1/2).
    for s in he_relu.layers:
        assert abs(s.log10_preact_var - math.log10(2.0)) < fwd_tol(s.layer, 512)
        from_top = 50 - s.layer + 1
        assert abs(s.log10_grad_rms - math.log10(math.sqrt(0.5))) < bwd_tol(from_top, 512) + 0.02
    assert he_relu.summary.forward == "stable"
    assert he_relu.summary.backward == "stable"
    assert he_relu.summary.fix is None


def test_xavier_relu_halves_the_variance_per_layer():
    r = varprop.simulate(init="xavier", act="relu", depth=50, width=512, batch=256, seed=0)
    # sigma_w^2 = 1 and E[relu(z)^2] = q/2: each layer halves q, so q_50 / q_1 = 2^-49.
    expected = -49 * math.log10(2)
    assert r.summary.log10_preact_var_ratio == pytest.approx(expected, abs=fwd_tol(50, 512))
    # Gradient: chi = 1/2 per layer, RMS shrinks sqrt(2) per layer toward the input.
    assert r.summary.log10_grad_rms_ratio == pytest.approx(expected / 2, abs=bwd_tol(50, 512))
    assert r.summary.forward == "vanishing"
    assert r.summary.backward == "vanishing"
    assert r.summary.fix.init == "he"


def test_lecun_selu_self_normalizes():
    # Klambauer et al. 2017: (mean 0, variance 1) is a stable fixed point of SELU under
    # LeCun init.  Measured spread of Var(a) per seed at width 512 is ~0.02; 0.1 is 5x.
    r = varprop.simulate(init="lecun", act="selu", depth=50, width=512, batch=256, seed=0)
    for s in r.layers:
        assert abs(s.act_mean) < 0.1
        assert abs(s.act_var - 1) < 0.1
    assert r.summary.forward == "stable"


def test_xavier_tanh_decays_polynomially():
    # For tanh with sigma_w^2 = 1, q_{l+1} = E[tanh(sqrt(q_l) z)^2] = q_l - 2 q_l^2 + O(q^3),
    # so 1/q_{l+1} = 1/q_l + 2 and q_l ~ 1 / (2 l): a power law.  Exponential decay at the
    # first layer's rate (q_2/q_1 = E[tanh(z)^2] = 0.39) would give q_200 ~ 1e-80.
    # Once q is small tanh is nearly linear, and ln q does a random walk of variance
    # ~ 2/width per layer (chi-square with `width` degrees of freedom): sd sqrt(2 l / n)
    # per seed, divided by sqrt(4) over 4 seeds; we allow 5 of those.
    n, seeds = 512, 4
    runs = [
        varprop.simulate(init="xavier", act="tanh", depth=200, width=n, batch=64, seed=s)
        for s in range(seeds)
    ]
    for l in (50, 100, 200):
        mean_log = np.mean([math.log(2 * l * r.layers[l - 1].preact_var) for r in runs])
        assert abs(mean_log) < 5 * math.sqrt(2 * l / n) / math.sqrt(seeds)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_naive_normal_init_saturates(act):
    # N(0,1) weights: sigma_w^2 = fan_in = 512, pre-activations have std ~ 16, so most
    # units sit where |tanh| > 0.97 (|h| > 2.1) or sigmoid is outside [0.03, 0.97].
    r = varprop.simulate(init="normal", act=act, depth=20, width=512, batch=256, seed=0)
    assert r.layers[-1].saturated_frac > 0.7
    assert r.summary.forward == "saturated"


def test_torch_default_relu_loses_sqrt6_per_layer():
    # PyTorch nn.Linear: weight variance 1/(3 fan_in), so chi = (1/3)(1/2) = 1/6: the
    # gradient RMS shrinks sqrt(6) per layer.  Spread of the per-layer factor over 49
    # layers: bwd_tol / 49 in log10.
    r = varprop.simulate(init="torch-default", act="relu", depth=50, width=512, batch=256, seed=0)
    per_layer = r.summary.log10_grad_rms_ratio / 49
    assert per_layer == pytest.approx(-0.5 * math.log10(6), abs=bwd_tol(50, 512) / 49 + 0.003)
    assert r.summary.backward == "vanishing"
    # The forward signal collapses to the bias floor: q* = sigma_b^2 / (1 - 1/6) with
    # sigma_b^2 = 1/(3 * 512).
    q_star = (1 / (3 * 512)) / (1 - 1 / 6)
    assert r.layers[-1].preact_var == pytest.approx(q_star, rel=0.3)


def test_same_seed_same_numbers_bit_for_bit():
    kw = {"init": "he", "act": "tanh", "depth": 6, "width": 64, "batch": 32, "bias_std": 0.1}
    a = varprop.simulate(seed=7, **kw).to_dict()
    b = varprop.simulate(seed=7, **kw).to_dict()
    c = varprop.simulate(seed=8, **kw).to_dict()
    assert a == b
    assert a["layers"] != c["layers"]


@given(scale=st.floats(min_value=1e-3, max_value=1e3), seed=st.integers(0, 50))
def test_relu_input_scale_scales_every_variance(scale, seed):
    # relu is positively homogeneous and the bias is zero: scaling the input by c scales
    # every h_l by c, every variance by c^2, and leaves delta (which depends on signs
    # only) unchanged.  Only float32 rounding differs: rtol 1e-4.
    x = np.random.default_rng(seed).standard_normal((16, 32))
    kw = {"init": "he", "act": "relu", "depth": 4, "width": 32, "seed": seed}
    a = varprop.simulate(inputs=x, **kw)
    b = varprop.simulate(inputs=scale * x, **kw)
    for s, t in zip(a.layers, b.layers, strict=True):
        assert t.preact_var == pytest.approx(scale**2 * s.preact_var, rel=1e-4)
        assert t.grad_rms == pytest.approx(s.grad_rms, rel=1e-4)


@given(seed=st.integers(0, 1000), act=st.sampled_from(sorted(varprop.ACTIVATIONS)))
def test_json_round_trip_is_lossless(seed, act):
    d = varprop.simulate(init="lecun", act=act, depth=3, width=16, batch=8, seed=seed).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d


def test_gradient_magnitudes_exact_far_below_float_range():
    # Xavier + ReLU over 3000 layers: gradient RMS shrinks sqrt(2) per layer, 10^-450,
    # far below float64's 1e-308, and still stated in log10.
    r = varprop.simulate(init="xavier", act="relu", depth=3000, width=32, batch=16, seed=0)
    first = r.layers[0]
    assert first.grad_rms is None
    assert first.log10_grad_rms < -400
    assert r.layers[-1].log10_preact_var < -800
    assert r.layers[-1].preact_var is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act_name", ["tanh", "gelu", "relu", "sigmoid", "elu", "mish"])
def test_backprop_matches_an_independent_float64_reference(act_name, dtype):
    # A plain float64 forward/backward written here, on the engine's own weight draws
    # (cast to float64), with biases off.  float64 runs agree to rounding (1e-10);
    # float32 ones to float32 rounding grown over 4 layers (1e-4).
    from varprop.activations import get_activation
    from varprop.initializers import get_initializer
    from varprop.network import DTYPES, seeds_for

    depth, width, batch, seed = 4, 24, 10, 3
    act = get_activation(act_name)
    init = get_initializer("he")
    streams = seeds_for(seed, depth)
    x = np.random.default_rng(5).standard_normal((batch, width))
    ws = [
        init.sample(
            width, width, rng=np.random.Generator(np.random.SFC64(s)), dtype=DTYPES[dtype]
        ).astype(np.float64)
        for s in streams["weights"]
    ]
    probe = np.random.Generator(np.random.SFC64(streams["probe"]))
    g = probe.standard_normal((batch, width), dtype=DTYPES[dtype]).astype(np.float64)
    x = x.astype(DTYPES[dtype]).astype(np.float64)
    hs, a = [], x
    for w in ws:
        hs.append(a @ w)
        a = act.fn(hs[-1])
    delta = g * act.derivative(hs[-1])
    grad_rms = [0.0] * depth
    wnorm = [0.0] * depth
    for l in range(depth - 1, -1, -1):
        grad_rms[l] = math.sqrt(np.mean(delta**2))
        prev = x if l == 0 else act.fn(hs[l - 1])
        wnorm[l] = np.linalg.norm(prev.T @ delta / batch)
        if l:
            delta = (delta @ ws[l].T) * act.derivative(hs[l - 1])
    r = varprop.simulate(
        init="he", act=act_name, depth=depth, width=width, seed=seed, inputs=x, dtype=dtype
    )
    rtol = 1e-10 if dtype == "float64" else 1e-4
    for l, s in enumerate(r.layers):
        assert s.preact_var == pytest.approx(np.var(hs[l]), rel=rtol)
        assert s.act_var == pytest.approx(np.var(act.fn(hs[l])), rel=rtol)
        assert s.grad_rms == pytest.approx(grad_rms[l], rel=rtol)
        assert s.weight_grad_norm == pytest.approx(wnorm[l], rel=rtol)


def test_memory_estimate_of_the_issue_case():
    # depth 1000, width 512, batch 512, float32: weights and stored activations 1 GiB each.
    parts = memory_estimate((512,) * 1001, 512, "float32")
    assert parts["weights"] == 1000 * 512 * 512 * 4
    assert parts["weights"] / 2**30 == pytest.approx(1.0, rel=0.03)  # 1000 * 2^20 B
    assert parts["activations"] / 2**30 == pytest.approx(1.0, rel=0.03)
    assert sum(parts.values()) < 2.5 * 2**30


@pytest.mark.parametrize(
    "kwargs",
    [{"widths": [8.9]}, {"widths": ["a"]}, {"widths": [4, 0]}, {"bias_std": "x"}, {"depth": 2.0}],
)
def test_library_rejects_bad_arguments_with_varprop_error(kwargs):
    # Scripts get the same one-line VarpropError the CLI turns into exit 2, never a raw
    # TypeError or a silently truncated width.
    args = {"depth": 2, "width": 4, "batch": 2} | kwargs
    with pytest.raises(varprop.VarpropError):
        varprop.simulate(**args)
