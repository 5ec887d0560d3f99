"""Every initializer draws weights with the variance it promises."""

import math

import numpy as np
import pytest

from varprop.errors import VarpropError
from varprop.initializers import BASES, FLAVOURED, TRUNCATED_STD, get_initializer

FAN_IN, FAN_OUT = 400, 300  # non-square, so fan-in, fan-out and fan-avg rules differ
N = FAN_IN * FAN_OUT

# (spec, promised variance) from the papers and framework sources, not from our code.
PROMISES = {
    "lecun": 1 / FAN_IN,
    "xavier": 2 / (FAN_IN + FAN_OUT),  # Glorot & Bengio 2010, eq. 16
    "he": 2 / FAN_IN,  # He et al. 2015, eq. 10
    "normal": 1.0,
    "orthogonal": 1 / FAN_IN,  # orthonormal columns of length FAN_IN
    # LSUV starts from the orthogonal draw; its per-layer rescaling happens on the batch
    # (varprop.blocks.lsuv_fit, tests/test_blocks.py).
    "lsuv": 1 / FAN_IN,
    "torch-default": 1 / (3 * FAN_IN),  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    "keras-default": 2 / (FAN_IN + FAN_OUT),
    "flax-default": 1 / FAN_IN,
}
SPECS = list(PROMISES.items())
SPECS += [(f"{b}-{d}", PROMISES[b]) for b in FLAVOURED for d in ("uniform", "truncated", "normal")]


@pytest.mark.parametrize(("spec", "variance"), SPECS)
def test_empirical_variance_matches_promise(spec, variance):
    init = get_initializer(spec)
    w = init.sample(FAN_IN, FAN_OUT, rng=np.random.default_rng(1), dtype=np.float64)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert init.variance(FAN_IN, FAN_OUT) == pytest.approx(variance, rel=1e-12)
    # The sample variance of N = 120,000 draws has relative standard error
    # sqrt((kurtosis - 1) / N) <= sqrt(2 / N) = 0.0041 (normal; uniform and truncated
    # normal have smaller kurtosis).  6 SE: rtol 0.025, false failure about 1e-9.
    assert np.mean(w**2) == pytest.approx(variance, rel=0.025)
    assert abs(np.mean(w)) < 6 * math.sqrt(variance / N)


def test_truncated_normal_is_cut_at_two_std():
    init = get_initializer("he-truncated")
    w = init.sample(FAN_IN, FAN_OUT, rng=np.random.default_rng(2), dtype=np.float64)
    std = math.sqrt(2 / FAN_IN)
    assert np.max(np.abs(w)) <= 2 * std / TRUNCATED_STD * (1 + 1e-12)


def test_truncated_std_constant():
    # Var of N(0,1) cut at +-2: 1 - 2*2*phi(2)/(2*Phi(2) - 1), computed independently.
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    big_phi2 = 0.5 * (1 + math.erf(2 / math.sqrt(2)))
    assert math.sqrt(1 - 4 * phi2 / (2 * big_phi2 - 1)) == pytest.approx(TRUNCATED_STD, rel=1e-14)


def test_orthogonal_is_orthogonal_times_gain():
    init = get_initializer("orthogonal", gain=math.sqrt(2))
    w = init.sample(FAN_IN, FAN_OUT, rng=np.random.default_rng(3), dtype=np.float64)
    np.testing.assert_allclose(w.T @ w, 2 * np.eye(FAN_OUT), atol=1e-10)
    wide = init.sample(FAN_OUT, FAN_IN, rng=np.random.default_rng(3), dtype=np.float64)
    np.testing.assert_allclose(wide @ wide.T, 2 * np.eye(FAN_OUT), atol=1e-10)


def test_fan_out_mode():
    init = get_initializer("kaiming", fan_mode="fan_out")
    assert init.variance(FAN_IN, FAN_OUT) == pytest.approx(2 / FAN_OUT)


def test_explicit_weight_variance():
    init = get_initializer("1.5")
    assert init.sigma_w2(FAN_IN, FAN_OUT) == pytest.approx(1.5)
    assert init.name == "1.5"


def test_torch_default_bias_variance():
    # nn.Linear's bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1/(3 fan_in).
    assert BASES["torch-default"].bias_variance(FAN_IN) == pytest.approx(1 / (3 * FAN_IN))


def test_dtype_float32_draws_float32():
    for name in PROMISES:
        w = get_initializer(name).sample(8, 4, rng=np.random.default_rng(0), dtype=np.float32)
        assert w.dtype == np.float32


@pytest.mark.parametrize(
    "spec",
    [
        "hee",
        "torch-default-uniform",
        "-1",
        "nan",
        "inf",
        "orthogonal-truncated",
        # A flavour changes the distribution: presets and orthogonal have none.
        "orthogonal-normal",
        "torch-default-normal",
        "flax-default-normal",
    ],
)
def test_bad_specs(spec):
    with pytest.raises(VarpropError) as e:
        get_initializer(spec)
    assert "\n" not in str(e.value)


def test_bad_gain_and_mode():
    with pytest.raises(VarpropError):
        get_initializer("he", fan_mode="fan_avg")
    with pytest.raises(VarpropError):
        get_initializer("orthogonal", gain=0.0)


def test_every_registered_initializer_has_a_promise():
    # A new initializer in the registry needs its variance from its source above.
    assert set(PROMISES) == set(BASES)


@pytest.mark.parametrize("init", BASES.values(), ids=lambda i: i.name)
def test_registry_facts(init):
    assert init.formula  # what `varprop list` shows as sigma_w^2
    # What recommend and the fix line read off each record: a name for a sentence when
    # recommend judges the init, and a rank that breaks its ties.
    if init.recommend_rank is not None:
        assert init.display
        assert isinstance(init.recommend_rank, int)
    ranks = [i.recommend_rank for i in BASES.values() if i.recommend_rank is not None]
    assert len(ranks) == len(set(ranks))


def test_recommend_judges_the_registry_in_rank_order():
    import varprop
    from varprop.initializers import judged_by_recommend

    judged = [i.name for i in judged_by_recommend()]
    assert judged == sorted(judged, key=lambda n: BASES[n].recommend_rank)
    assert [v.init for v in varprop.recommend("relu", depth=5).inits] == judged
