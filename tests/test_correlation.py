"""The two-input correlation map (Poole et al. 2016; Schoenholz et al. 2017, §3).

References are independent of varprop's quadrature: the arc-cosine kernel in closed
form (Cho & Saul 2009) and scipy's adaptive 2-D integration.
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate, optimize

import varprop
from varprop.meanfield import fixed_point
from varprop.meanfield.correlation import correlation_fixed_point, correlation_map


def reference_map(phi, sigma_w2, sigma_b2, q, c):
    """f(c) by scipy.integrate.dblquad over (z1, z2) ~ N(0, I), truncated at 9 sd."""
    s = math.sqrt(q)
    r = math.sqrt(max(0.0, 1 - c * c))

    def integrand(z2, z1):
        return phi(s * z1) * phi(s * (c * z1 + r * z2)) * math.exp(-(z1 * z1 + z2 * z2) / 2)

    value, _ = integrate.dblquad(integrand, -9, 9, -9, 9, epsabs=1e-11, epsrel=1e-11)
    return (sigma_w2 * value / (2 * math.pi) + sigma_b2) / q


@pytest.mark.parametrize("c", [-0.5, 0.0, 0.3, 0.9])
def test_tanh_map_against_adaptive_quadrature(c):
    q = fixed_point("tanh", 2.5, 0.05).q
    got = correlation_map("tanh", 2.5, 0.05, q, c)
    # 64-point Gauss-Hermite on a smooth integrand: agreement to ~1e-7 (the map's
    # normalisation by its own f(1) numerator adds the rule's ~1e-7 in E[phi^2]).
    assert got == pytest.approx(reference_map(math.tanh, 2.5, 0.05, q, c), abs=1e-6)


def test_relu_map_is_the_arccosine_kernel():
    # He + ReLU, any q: f(c) = (sqrt(1 - c^2) + (pi - acos c) c) / pi (Cho & Saul 2009).
    for c in (-0.9, 0.0, 0.5, 0.99):
        expect = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
        assert correlation_map("relu", 2.0, 0.0, 1.7, c) == pytest.approx(expect, rel=1e-12)


def test_chaotic_fixed_point_solves_the_map():
    """Chaotic tanh (Schoenholz et al. Fig. 1 region): c* < 1 with f(c*) = c*, found
    again by scipy's brentq on the independent reference map."""
    q = fixed_point("tanh", 2.5, 0.05).q
    cf = correlation_fixed_point("tanh", 2.5, 0.05, q)
    ref = optimize.brentq(lambda c: reference_map(math.tanh, 2.5, 0.05, q, c) - c, 0.0, 0.95)
    assert cf.c_star == pytest.approx(ref, abs=1e-5)
    assert 0 < cf.chi_c < 1 and cf.xi_c > 0


@pytest.mark.parametrize(("weight_var", "phase"), [(1.2, "ordered"), (4.0, "chaotic")])
def test_xi_c_is_positive_in_both_phases(weight_var, phase):
    s = varprop.theory(act="tanh", weight_var=weight_var, bias_var=0.05, depth=20).summary
    assert s.phase == phase
    assert s.xi_c is not None and s.xi_c > 0
    assert (s.c_star == 1.0) == (phase == "ordered")
    # In the ordered phase c* = 1 and chi_c is chi_1 (Schoenholz et al. eq. (6)).
    if phase == "ordered":
        assert s.chi_c == pytest.approx(s.chi_1, rel=1e-6)


def test_xi_c_diverges_at_the_edge_of_chaos():
    s = varprop.theory(act="tanh", weight_var=1.0, bias_var=0.0, depth=20).summary
    assert s.xi_c is None and s.c_star == 1.0


def test_leaky_relu_closed_form_matches_adaptive_quadrature():
    """The arc-cosine form with a negative slope (0.2) against scipy's dblquad."""

    def phi(u):
        return u if u > 0 else 0.2 * u

    q = 1.0
    top = (1 + 0.2**2) / 2  # E[phi(z)^2], so that f(1) = 1
    for c in (-0.5, 0.4):
        expect = reference_map(phi, 1 / top, 0.0, q, c)
        assert correlation_map("leaky-relu:0.2", 1 / top, 0.0, q, c) == pytest.approx(
            expect, abs=1e-7
        )


def test_barely_chaotic_map_keeps_c_star_at_one():
    # SiLU at recommend's critical setting: chi_1 is 1 up to the quadrature's error, so the
    # chaotic fixed point (if any) sits within a scan step of 1 -- never at c = -1, which
    # would claim that two nearby inputs come out anti-correlated.
    q = fixed_point("silu", 1.967, 1.0).q
    fp = correlation_fixed_point("silu", 1.967, 1.0, q)
    assert fp.c_star > 0.99
