"""Residual and normalized blocks: exact backward, closed forms, theory bands.

The references here are independent of varprop's engine: a small float64 numpy
implementation of the norms and of whole stacks, differentiated by central finite
differences, and the closed-form recursions of the literature.

Calibration of the bands (simulation against varprop.meanfield.blocks).  Measured over 16
seeds at width 256, depth 30, batch 128: the per-seed standard deviation of log10(sim /
theory) of Var at layer L (SD_FWD) and of grad RMS at layer 1 (SD_BWD), per block.
A test averages T seeds and allows 5 standard errors (two-sided false failure ~6e-7)
plus a bias term where one is expected: a norm divides by s = sqrt(mean of n squares),
and E[1/s^2] = (1/q) (1 + Var(s^2)/q^2 + ...) = (1/q)(1 + 2/n) for Gaussian h, so the
gradient's E[delta^2] runs 2/n per layer above the infinite-width theory: L / (n ln 10)
in log10 RMS over L layers (0.05 here; measured +0.050 for layer, +0.056 for rms).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import varprop
from varprop import norms
from varprop.initializers import get_initializer
from varprop.meanfield import second_moment
from varprop.meanfield.blocks import theory
from varprop.network import seeds_for

WIDTH, DEPTH, BATCH = 256, 30, 128
# name: (options, SD_FWD, SD_BWD, bias allowed in the gradient)
NORM_BIAS = DEPTH / (WIDTH * math.log(10))
BANDS = {
    "residual": ({"block": "residual"}, 0.29, 0.076, 0.0),
    "residual-auto": ({"block": "residual", "branch_scale": "auto"}, 0.022, 0.0047, 0.0),
    "residual-layer": ({"block": "residual", "norm": "layer"}, 0.020, 0.013, NORM_BIAS),
    "residual-batch": ({"block": "residual", "norm": "batch"}, 0.016, 0.0061, NORM_BIAS),
    "residual-rms-tanh": (
        {"block": "residual", "norm": "rms", "act": "tanh"}, 0.0043, 0.0050, NORM_BIAS
    ),
    "layer": ({"norm": "layer"}, 0.036, 0.094, NORM_BIAS),
    "rms": ({"norm": "rms"}, 0.047, 0.096, NORM_BIAS),
    "batch": ({"norm": "batch"}, 0.0095, 0.032, NORM_BIAS),
    "layer-tanh": ({"norm": "layer", "act": "tanh"}, 0.0086, 0.018, NORM_BIAS),
    "batch-gelu": ({"norm": "batch", "act": "gelu"}, 0.0125, 0.028, NORM_BIAS),
    "residual-linear": (
        {"block": "residual", "act": "linear", "init": 1.0, "branch_scale": 0.5}, 0.019,
        0.0094, 0.0,
    ),
    # Width 64: orthogonal draws from two threads at once are slow from width ~128 on a
    # loaded machine (OpenBLAS threads contend).  Fluctuations scale as 1/sqrt(width),
    # so the SDs measured at 256 times 2, and the norm's bias times 4.
    "lsuv-residual-layer-tanh": (
        {"block": "residual", "norm": "layer", "act": "tanh", "init": "lsuv", "width": 64},
        0.0062 * 2, 0.0062 * 2, 4 * NORM_BIAS,
    ),
}  # fmt: skip


def run(seed=0, **options):
    kw = {"init": "he", "act": "relu", "depth": DEPTH, "width": WIDTH, "batch": BATCH}
    return varprop.simulate(seed=seed, **(kw | options))


@pytest.mark.parametrize("name", list(BANDS))
def test_simulation_agrees_with_block_theory(name):
    options, sd_fwd, sd_bwd, bias = BANDS[name]
    T = 3
    runs = [run(seed, **options) for seed in range(T)]
    fwd = np.mean([r.layers[-1].log10_preact_var - r.layers[-1].log10_theory_preact_var
                   for r in runs])  # fmt: skip
    bwd = np.mean([r.layers[0].log10_grad_rms - r.layers[0].log10_theory_grad_rms for r in runs])
    assert abs(fwd) < 5 * sd_fwd / math.sqrt(T)
    assert abs(bwd) < 5 * sd_bwd / math.sqrt(T) + bias


# ---------------------------------------------------------------- closed forms


def test_theory_linear_residual_is_the_closed_form():
    # x_l = x_{l-1} + alpha x_{l-1} W: E[x_l^2] = (1 + alpha^2 sigma_w^2) E[x_{l-1}^2] exactly.
    r = theory(act="linear", weight_var=1.5, depth=40, block="residual", branch_scale=0.3,
               input_second_moment=2.0)  # fmt: skip
    for s in r.layers:
        assert s.preact_var == pytest.approx(2.0 * (1 + 0.09 * 1.5) ** s.layer, rel=1e-12)
        # dl/dx_{l-1} = dl/dx_l (1 + alpha W^T): the same factor per block going down.
        assert s.grad_rms**2 == pytest.approx((1 + 0.09 * 1.5) ** (40 - s.layer), rel=1e-12)


def test_theory_relu_residual_under_he_doubles():
    # E[relu(x)^2] = q/2, sigma_w^2 = 2: q_l = q_{l-1} (1 + alpha^2).
    for alpha in (1.0, 0.5):
        r = theory(act="relu", init="he", depth=60, block="residual", branch_scale=alpha)
        for s in r.layers:
            assert s.log10_preact_var == pytest.approx(s.layer * math.log10(1 + alpha**2))
    # 2^3000 is far beyond float64; the log form still states it.
    deep = theory(act="relu", init="he", depth=3000, block="residual")
    assert deep.layers[-1].preact_var is None
    assert deep.layers[-1].log10_preact_var == pytest.approx(3000 * math.log10(2))


def test_theory_prenorm_residual_grows_linearly():
    # With a pre-norm phi sees unit variance (times q / (q + eps)): each block adds
    # alpha^2 sigma_w^2 E[relu(z)^2] = 1 under He: q_l = 1 + l, up to eps / q.
    r = theory(act="relu", init="he", depth=100, block="residual", norm="layer")
    for s in r.layers:
        assert s.preact_var == pytest.approx(1 + s.layer, rel=1e-5)


def test_theory_batchnorm_relu_explodes_by_pi_over_pi_minus_1():
    # Yang et al. 2019: E[relu'^2] / Var[relu(z)] = (1/2) / ((pi - 1) / (2 pi)).
    r = theory(act="relu", init="he", depth=30, norm="batch")
    assert r.layers[-1].chi == pytest.approx(math.pi / (math.pi - 1), rel=1e-4)
    assert r.summary.backward == "exploding"
    # LayerNorm divides by E[relu^2] instead: factor 1.
    ln = theory(act="relu", init="he", depth=30, norm="layer")
    assert ln.layers[-1].chi == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize(("alpha", "weight_var"), [(0.5, 1.0), (1.0, 0.5)])
def test_simulated_linear_residual_matches_closed_form(alpha, weight_var):
    # E[q_L] = (1 + alpha^2 sigma_w^2)^L q_0 exactly in expectation over the weights.
    # ln q_L does a random walk: per block the branch adds a chi-square-like fraction
    # with variance ~ 2 (alpha^2 sigma_w^2 / (1 + alpha^2 sigma_w^2))^2 / width; measured
    # sd(log10 q_30) = 0.019 at width 256 (alpha 0.5); 5 SE over T = 4 seeds.
    T, L = 4, 30
    g = 1 + alpha**2 * weight_var
    gaps = [
        run(s, act="linear", init=weight_var, block="residual", branch_scale=alpha,
            depth=L).layers[-1].log10_preact_var - L * math.log10(g)
        for s in range(T)
    ]  # fmt: skip
    sd = 0.019 * (alpha**2 * weight_var / g) / (0.25 / 1.25)  # scale with the branch share
    assert abs(np.mean(gaps)) < 5 * sd / math.sqrt(T)


def test_simulated_relu_residual_doubles_per_block():
    # He + ReLU residual, alpha = 1: q_l = 2^l q_0 (1 + alpha^2 per block).  Measured
    # sd(log10 q_30 / theory) = 0.29 at width 256 per seed (the branch is half the
    # stream, and relu's dead units make it noisier); 5 SE over T = 3 seeds = 0.84,
    # against a drift of 9 decades.
    T = 3
    gaps = [run(s, block="residual").layers[-1].log10_preact_var - 30 * math.log10(2)
            for s in range(T)]  # fmt: skip
    assert abs(np.mean(gaps)) < 5 * 0.29 / math.sqrt(T)


def test_batchnorm_gradient_growth_in_plain_relu_stack():
    # Per-layer factor of E[delta^2] over layers 5..35 of a depth-40 He + ReLU stack with
    # BatchNorm, width 512.  Measured over 4 seeds (mean ± sd per seed):
    #   B = 8: 1.797 ± 0.029,  B = 32: 1.524 ± 0.012,  B = 128: 1.467 ± 0.002,
    #   B = 512: 1.449 ± 0.003  -> pi/(pi-1) = 1.467 from above as B grows (Yang et al.
    # 2019); at width 512 the large-B limit sits ~1% below (finite width).  We allow
    # 5 SE over 2 seeds plus that 2% offset at B = 128.
    def factor(batch, norm="batch", seeds=2):
        out = []
        for s in range(seeds):
            r = varprop.simulate(init="he", act="relu", norm=norm, depth=40, width=512,
                                 batch=batch, seed=s)  # fmt: skip
            g = [x.log10_grad_rms for x in r.layers]
            out.append(10 ** (2 * (g[5] - g[35]) / 30))
        return float(np.mean(out))

    big = factor(128)
    assert big == pytest.approx(math.pi / (math.pi - 1), abs=5 * 0.003 / math.sqrt(2) + 0.03)
    small = factor(8)
    assert small > big + 0.2  # 1.80 vs 1.47: sd 0.03 per seed
    # LayerNorm in the same stack: no explosion (factor 1 in theory).
    assert factor(128, norm="layer") == pytest.approx(1.0, abs=0.05)


# ---------------------------------------------------------------- exact backward


def ref_norm(h, kind):
    """Independent float64 reference of the three norms (DESIGN.md, eps 1e-5)."""
    axis = 0 if kind == "batch" else 1
    c = h if kind == "rms" else h - h.mean(axis=axis, keepdims=True)
    return c / np.sqrt(np.mean(c * c, axis=axis, keepdims=True) + 1e-5)


@pytest.mark.parametrize("kind", ["layer", "rms", "batch"])
@pytest.mark.parametrize("scale_exp", [0, -12, 30])
def test_norm_backward_against_finite_differences(kind, scale_exp):
    # loss = sum(g * N(h)); dl/dh by central differences in float64 (step 1e-6 of a
    # unit-size h: truncation ~1e-12, rounding ~1e-10 relative).  h is given as
    # stored * 2**e to check that the exponent is handled exactly.
    rng = np.random.default_rng(3)
    h = rng.standard_normal((6, 5)) * 0.7 + 0.2
    g = rng.standard_normal((6, 5))
    stored = np.ldexp(h, -scale_exp)
    u, state = norms.normalize(stored.copy(), scale_exp, kind, out=np.empty_like(h))
    np.testing.assert_allclose(np.ldexp(u, state.eu), ref_norm(h, kind), rtol=1e-12, atol=1e-13)
    out = np.empty_like(h)
    shift = norms.backward(g.copy(), u, state, out=out)
    got = np.ldexp(out, shift)  # dl/dh for h = stored * 2**e: in units of the true h
    step = 1e-6
    numeric = np.empty_like(h)
    for idx in np.ndindex(h.shape):
        hp, hm = h.copy(), h.copy()
        hp[idx] += step
        hm[idx] -= step
        numeric[idx] = (np.sum(g * ref_norm(hp, kind)) - np.sum(g * ref_norm(hm, kind))) / (
            2 * step
        )
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-7)


def test_norm_keeps_eps_at_its_true_size():
    # A signal far below sqrt(eps) is mostly eps: u = h / sqrt(var + eps) ~ h / 3.2e-3.
    rng = np.random.default_rng(0)
    h = rng.standard_normal((4, 8))
    for e in (-20, -200, -2000):  # true h = h * 2**e
        u, state = norms.normalize(h.copy(), e, "layer", out=np.empty_like(h))
        c = h - h.mean(axis=1, keepdims=True)
        expected_log2 = np.log2(np.abs(c[0, 0])) + e - 0.5 * np.log2(1e-5)
        assert np.log2(abs(u[0, 0])) + state.eu == pytest.approx(expected_log2, abs=1e-6)


@pytest.mark.parametrize(
    ("block", "kind", "act"),
    [("plain", "layer", "relu"), ("plain", "batch", "tanh"), ("plain", "rms", "gelu"),
     ("residual", "none", "tanh"), ("residual", "layer", "relu"),
     ("residual", "batch", "gelu"), ("residual", "rms", "linear")],
)  # fmt: skip
def test_engine_gradients_against_finite_differences(block, kind, act):
    # The engine's grad RMS per layer against dl/dh_l (dl/dx_l) by central differences
    # through an independent float64 implementation with the engine's own weights,
    # biases and probe (the same seed streams, network.seeds_for).
    B, n, L, alpha, seed = 5, 6, 3, 0.7, 11
    from varprop.activations import get_activation

    phi = get_activation(act)
    init = get_initializer("he")
    streams = seeds_for(seed, L)
    weights = [
        init.sample(n, n, rng=np.random.Generator(np.random.SFC64(streams["weights"][l])),
                    dtype=np.float64)
        for l in range(L)
    ]  # fmt: skip
    bias_rng = np.random.Generator(np.random.SFC64(streams["bias"]))
    biases = [bias_rng.standard_normal(n, dtype=np.float64) * 0.1 for _ in range(L)]
    probe = np.random.Generator(np.random.SFC64(streams["probe"])).standard_normal(
        (B, n), dtype=np.float64
    )
    x0 = np.random.default_rng(5).standard_normal((B, n))
    r = varprop.simulate(
        init="he", act=act, depth=L, width=n, seed=seed, dtype="float64", inputs=x0,
        bias_std=0.1, block=block, norm=kind,
        branch_scale=alpha if block == "residual" else None,
    )  # fmt: skip
    a = alpha if block == "residual" else 1.0

    def f(x):
        return phi.fn(np.array(x, dtype=np.float64))

    def norm(h):
        return h if kind == "none" else ref_norm(h, kind)

    def forward_from(l, z):  # z is layer l's reported value (1-based); returns the loss
        for k in range(l + 1, L + 1):
            branch = f(norm(z)) @ weights[k - 1] + biases[k - 1]
            z = z + a * branch if block == "residual" else branch
        out = z if block == "residual" else f(norm(z))
        return float(np.sum(out * probe))

    z = x0
    reported = []
    for k in range(1, L + 1):
        if block == "residual":
            z = z + a * (f(norm(z)) @ weights[k - 1] + biases[k - 1])
        else:
            z = (x0 if k == 1 else f(norm(z))) @ weights[k - 1] + biases[k - 1]
        reported.append(z.copy())
    step = 1e-6
    for l in range(1, L + 1):
        zl = reported[l - 1]
        assert r.layers[l - 1].preact_var == pytest.approx(np.var(zl), rel=1e-9)
        grad = np.empty_like(zl)
        for idx in np.ndindex(zl.shape):
            zp, zm = zl.copy(), zl.copy()
            zp[idx] += step
            zm[idx] -= step
            grad[idx] = (forward_from(l, zp) - forward_from(l, zm)) / (2 * step)
        # relu's kink: no h sits within 1e-6 of 0 for this seed, so the difference is
        # the derivative; rtol 1e-6 covers truncation and rounding.
        assert r.layers[l - 1].grad_rms == pytest.approx(math.sqrt(np.mean(grad**2)), rel=1e-6)


# ---------------------------------------------------------------- LSUV


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "selu", "gelu"])
def test_lsuv_puts_every_layer_within_tolerance(act):
    # Mishkin & Matas 2015: after LSUV every layer's Var(h) on the batch is within 0.1
    # of 1.  The engine's own Var(h) column (measured on the same batch) must agree.
    # Width 64 keeps the orthogonal draws quick (see BANDS); the claim is width-free.
    r = varprop.simulate(init="lsuv", act=act, depth=50, width=64, batch=128, seed=0)
    lsuv = r.summary.lsuv
    assert lsuv["converged"] and len(lsuv["layers"]) == 50
    for s, fit in zip(r.layers, lsuv["layers"], strict=True):
        assert abs(s.preact_var - 1) < 0.1
        assert fit["var"] == pytest.approx(s.preact_var, rel=1e-4)  # float32 h vs float64
        assert 0 <= fit["iterations"] <= 10
        assert fit["sigma_w2"] == pytest.approx(fit["scale"] ** 2)  # square layers
    # Theory with each layer's measured sigma_w^2: LSUV's rescaling absorbs the batch's
    # own E[phi^2] of every layer, which the mean field replaces by its infinite-width
    # value, so the gap is a random walk of those per-layer fluctuations.  The largest
    # (relu, samples fully correlated deep in the stack) is the relative sd of a mean of
    # relu(z)^2 over n units, sqrt(Var[relu^2] / n) / E[relu^2] = 1.118 / sqrt(n) / 0.5
    # = 0.28 at n = 64 (log10: 0.12 per layer).  The map q -> sigma_w^2 E[phi^2](q)
    # multiplies a relative error by k = d ln E[phi^2] / d ln q at q = 1 per layer (1 for
    # relu, < 1 for tanh; gelu's 1.14 makes q = 1 repel, so its theory drifts away
    # geometrically -- see `varprop recommend --act gelu`): the sd after l layers is
    # 0.12 sqrt(sum_j k^(2j)).  We allow 5 of those.
    q = 1.0
    k = (math.log(second_moment(act, q * 1.001)) - math.log(second_moment(act, q / 1.001))) / (
        2 * math.log(1.001)
    )
    for s in r.layers:
        gap = abs(s.log10_preact_var - s.log10_theory_preact_var)
        spread = math.sqrt(sum(k ** (2 * j) for j in range(s.layer)))
        assert gap < 5 * 0.28 / math.log(10) * spread
    # The infinite-width LSUV (no data) predicts exactly what LSUV enforces: Var(h) = 1.
    ideal = theory(act=act, init="lsuv", depth=50, width=64)
    assert all(t.preact_var == pytest.approx(1.0, rel=1e-9) for t in ideal.layers)


@pytest.mark.parametrize(("block", "norm"), [("residual", "none"), ("plain", "batch"),
                                             ("residual", "layer")])  # fmt: skip
def test_lsuv_works_with_blocks(block, norm):
    r = varprop.simulate(init="lsuv", act="tanh", depth=12, width=64, batch=64, seed=1,
                         block=block, norm=norm)  # fmt: skip
    assert r.summary.lsuv["converged"]
    assert all(x["iterations"] <= 10 for x in r.summary.lsuv["layers"])


def test_theory_lsuv_without_data_has_unit_variance():
    r = theory(act="tanh", init="lsuv", depth=10)
    assert all(s.preact_var == pytest.approx(1.0, rel=1e-9) for s in r.layers)


# ---------------------------------------------------------------- properties


@given(scale=st.floats(min_value=1e-3, max_value=1e3), seed=st.integers(0, 50))
def test_residual_relu_input_scale_scales_every_variance(scale, seed):
    # Without a norm or bias a residual relu stack is positively homogeneous: scaling the
    # input by c scales every x_l by c and every variance by c^2; dl/dx_l does not move.
    x = np.random.default_rng(seed).standard_normal((8, 16))
    kw = {"init": "he", "act": "relu", "depth": 4, "width": 16, "seed": seed,
          "block": "residual", "branch_scale": 0.7}  # fmt: skip
    a = varprop.simulate(inputs=x, **kw)
    b = varprop.simulate(inputs=scale * x, **kw)
    for s, t in zip(a.layers, b.layers, strict=True):
        assert t.preact_var == pytest.approx(scale**2 * s.preact_var, rel=1e-4)
        assert t.grad_rms == pytest.approx(s.grad_rms, rel=1e-4)


@given(seed=st.integers(0, 1000), norm=st.sampled_from(["layer", "rms", "batch"]),
       block=st.sampled_from(["plain", "residual"]))  # fmt: skip
def test_same_seed_same_numbers_and_compare_equals_simulate(seed, norm, block):
    from varprop.sweep import parse_pair, run_pairs

    kw = {"depth": 3, "width": 8, "batch": 6}
    alone = varprop.simulate(init="he", act="tanh", seed=seed, block=block, norm=norm, **kw)
    again = varprop.simulate(init="he", act="tanh", seed=seed, block=block, norm=norm, **kw)
    assert alone.to_dict() == again.to_dict()
    shared = run_pairs([parse_pair("he:relu"), parse_pair(f"he:tanh@{block},{norm}")],
                       seed=seed, **kw)  # fmt: skip
    assert shared[1][0].to_dict() == alone.to_dict()
