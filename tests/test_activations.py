"""Registry contract: every activation's derivative agrees with its function."""

import math

import numpy as np
import pytest

from varprop.activations import ACTIVATIONS, get_activation
from varprop.errors import VarpropError

ALL = [*ACTIVATIONS.values(), get_activation("leaky-relu:0.2"), get_activation("elu:0.5")]
IDS = [a.label for a in ALL]


def _points(act):
    """Points in [-6, 6] at least 1e-3 away from the kinks (central differences)."""
    x = np.linspace(-6, 6, 2401)
    for k in act.kinks:
        x = x[np.abs(x - k) > 1e-3]
    return x


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_derivative_matches_central_difference(act):
    x = _points(act)
    eps = 1e-5
    numeric = (act.fn(x + eps) - act.fn(x - eps)) / (2 * eps)
    # Central difference error is O(eps^2 phi''') ~ 1e-10 plus rounding eps_64/eps ~ 1e-11.
    np.testing.assert_allclose(act.derivative(x), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", [a for a in ALL if a.derivative_from_output], ids=lambda a: a.label)
def test_derivative_from_output_is_the_derivative(act):
    x = _points(act)
    np.testing.assert_allclose(act.derivative_from_output(act.fn(x)), act.derivative(x), atol=1e-12)


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_in_place_and_float32(act):
    x = np.linspace(-5, 5, 101).astype(np.float32)
    expected = act.fn(x.astype(np.float64))
    out = x.copy()
    assert act.fn(out, out=out) is out
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_extreme_inputs_stay_finite(act):
    x = np.array([-1e30, -700.0, -50.0, 0.0, 50.0, 700.0])
    with np.errstate(over="raise", invalid="raise"):
        y = act.fn(x)
        d = act.derivative(x)
    assert np.all(np.isfinite(y[1:])) and np.all(np.isfinite(d))


def test_homogeneous_flag_is_true():
    # phi(c x) = c phi(x) for c > 0 is what lets the engine rescale exactly.
    x = np.linspace(-3, 3, 61)
    for act in ALL:
        if act.homogeneous:
            np.testing.assert_allclose(act.fn(8.0 * x), 8.0 * act.fn(x), rtol=1e-15)


def test_known_constants():
    # Klambauer et al. 2017, eq. 14.
    selu = ACTIVATIONS["selu"]
    assert selu.fn(np.array([1.0]))[0] == pytest.approx(1.0507009873554805)
    assert selu.fn(np.array([-50.0]))[0] == pytest.approx(-1.0507009873554805 * 1.6732632423543772)
    # phi'(0) used by Kumar's rule: tanh 1, sigmoid 1/4, gelu 1/2, mish tanh(ln 2) = 0.6.
    assert ACTIVATIONS["tanh"].derivative_at_zero == 1.0
    assert ACTIVATIONS["sigmoid"].derivative_at_zero == 0.25
    assert ACTIVATIONS["gelu"].derivative(np.array([0.0]))[0] == pytest.approx(0.5)
    assert ACTIVATIONS["mish"].derivative_at_zero == pytest.approx(0.6)
    # GELU exact form: 1.0 * Phi(1) = 0.8413447460685429.
    assert ACTIVATIONS["gelu"].fn(np.array([1.0]))[0] == pytest.approx(0.8413447460685429)


@pytest.mark.parametrize(
    ("spec", "name", "param"),
    [
        ("relu", "relu", None),
        ("ReLU", "relu", None),
        ("swish", "silu", None),
        ("leaky_relu", "leaky-relu", 0.01),
        ("leaky-relu", "leaky-relu", 0.01),
        ("leaky-relu:0.2", "leaky-relu", 0.2),
        ("elu:0.5", "elu", 0.5),
    ],
)
def test_lookup(spec, name, param):
    act = get_activation(spec)
    assert act.name == name
    assert act.param == param


@pytest.mark.parametrize("spec", ["rleu", "", "relu:2", "leaky-relu:x", "leaky-relu:-1", "elu:nan"])
def test_bad_names_list_the_choices(spec):
    with pytest.raises(VarpropError) as e:
        get_activation(spec)
    message = str(e.value)
    assert "\n" not in message
    assert "elu" in message  # names the activation or lists the choices


def test_leaky_slope_changes_the_function():
    act = get_activation("leaky-relu:0.2")
    assert act.fn(np.array([-1.0]))[0] == pytest.approx(-0.2)
    assert act.label == "leaky-relu:0.2"
    assert act.torch_gain == pytest.approx(math.sqrt(2 / 1.04))


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_asymptotes_are_phis_straight_lines(act):
    # Activation.asymptotes serves the engine (beyond float64) and the theory (q -> 0 and
    # q -> inf): far out phi is slope * h + offset, near 0 phi(0) + phi'(0+-) h.
    from varprop.activations import LINEAR_BELOW, LINEAR_BEYOND

    a = act.asymptotes
    far = LINEAR_BEYOND * np.array([1.0, 2.0, 8.0])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(act.fn(far), a.slope_pos * far + a.offset_pos, rtol=1e-15)
        np.testing.assert_allclose(act.fn(-far), -a.slope_neg * far + a.offset_neg, rtol=1e-15)
        np.testing.assert_array_equal(
            act.derivative(np.concatenate([-far, far])), [a.slope_neg] * 3 + [a.slope_pos] * 3
        )
    near = LINEAR_BELOW * np.array([0.5, 1.0])
    np.testing.assert_allclose(act.fn(near), a.phi0 + a.slope0_pos * near, rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(act.fn(-near), a.phi0 - a.slope0_neg * near, rtol=1e-15, atol=1e-300)
    assert a.phi0 == act.fn(np.zeros(1))[0]


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_recommend_facts(act):
    # Kumar (2017): 1/phi'(0)^2 needs phi'(0), unless a separate result of his applies.
    assert act.kumar_rule in ("derivative", "relu", "sigmoid")
    if act.derivative_at_zero is not None:
        d = (act.fn(np.array([1e-6])) - act.fn(np.array([-1e-6])))[0] / 2e-6
        assert act.derivative_at_zero == pytest.approx(d, rel=1e-6)
    if act.torch_gain is not None:
        assert act.torch_gain > 0
    else:
        assert not act.gain_empirical
    if act.literature_init is not None:
        from varprop.initializers import BASES

        base, reference = act.literature_init
        assert base in BASES and reference
