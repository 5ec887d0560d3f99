"""The sigma_w^2 x sigma_b^2 phase diagram: golden values from theory, properties, CLI.

References are independent of varprop's quadrature tables: the order-to-chaos line of
tanh is recomputed here with scipy.integrate.quad + brentq (Poole et al. 2016, eqs. (3)
and (7); Schoenholz et al. 2017, Fig. 1), and the closed-form cases need no integral.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from scipy.integrate import quad
from scipy.optimize import brentq
from support import invoke, strict_json

from varprop.errors import VarpropError
from varprop.meanfield import fixed_point
from varprop.meanfield.phase import default_weight_range, grid_values, phase_diagram
from varprop.render.phase import phase_map

# ---------------------------------------------------------------- an independent reference


def gauss(f, q: float) -> float:
    """E[f(sqrt(q) z)], z ~ N(0, 1), by adaptive quadrature."""
    s = math.sqrt(q)
    val, _ = quad(lambda z: f(s * z) * math.exp(-0.5 * z * z), -40, 40, epsabs=1e-14, limit=200)
    return val / math.sqrt(2 * math.pi)


def tanh_q_star(w: float, b: float) -> float:
    # F(q) = w E[tanh^2] + b: F(b) > b and F(w + b) < w + b, and tanh^2 concave in q.
    # Without bias q = 0 is a root too, the stable one only for w <= 1.
    if b == 0 and w <= 1:
        return 0.0
    lo = b if b > 0 else 1e-12
    return brentq(lambda q: w * gauss(lambda x: math.tanh(x) ** 2, q) + b - q, lo, w + b)


def tanh_chi_1(w: float, b: float) -> float:
    q = tanh_q_star(w, b)
    return w * gauss(lambda x: 1 / math.cosh(x) ** 4, q)  # tanh' = sech^2


def tanh_critical(b: float) -> float:
    return brentq(lambda w: tanh_chi_1(w, b) - 1, 1.0, 4.0, xtol=1e-12)


# ---------------------------------------------------------------- golden values


def test_tanh_without_bias_is_critical_at_one():
    # q* = 0 for sigma_w^2 <= 1 and chi_1 = sigma_w^2 tanh'(0)^2 = sigma_w^2 there.
    r = phase_diagram("tanh", weight_vars=np.linspace(0.05, 3.95, 40), bias_vars=[0.0])
    # Above 1, chi_1 - 1 ~ (sigma_w^2 - 1)^2 / 3 (checked below against quad): the line
    # touches chi_1 = 1 tangentially, so the tables' ~1e-10 in chi_1 moves the root by up
    # to sqrt(3e-10) ~ 2e-5.
    assert r.critical_line[0].sigma_w2 == pytest.approx(1.0, abs=5e-5)
    left = [w for w in r.weight_vars if w < 1]
    for w, q, c in zip(left, r.q_star[0], r.chi_1[0], strict=False):
        assert q == 0.0
        assert c == pytest.approx(w, rel=1e-12)


def test_tanh_default_grid_puts_one_on_the_line():
    r = phase_diagram("tanh")
    assert r.critical_line[0].sigma_w2 == pytest.approx(1.0, abs=1e-12)
    assert r.phase[0][r.weight_vars.index(1.0)] == "critical"


@pytest.mark.parametrize("b", [0.05, 0.1, 0.2, 0.3])
def test_tanh_critical_line_with_bias_matches_quadrature(b):
    r = phase_diagram("tanh", weight_vars=np.linspace(0.5, 4.0, 36), bias_vars=[b])
    # Tables ~1e-10 against quad ~1e-12; chi_1 has slope ~1 in sigma_w^2 near the line.
    assert r.critical_line[0].sigma_w2 == pytest.approx(tanh_critical(b), rel=1e-7)


@pytest.mark.parametrize(
    ("w", "b"), [(0.5, 0.1), (1.5, 0.05), (2.5, 0.3), (3.9, 0.01), (1.1, 0.0), (1.01, 0.0)]
)
def test_tanh_q_star_and_chi_1_match_quadrature(w, b):
    r = phase_diagram("tanh", weight_vars=[w], bias_vars=[b])
    assert r.q_star[0][0] == pytest.approx(tanh_q_star(w, b), rel=1e-8)
    assert r.chi_1[0][0] == pytest.approx(tanh_chi_1(w, b), rel=1e-8)


def test_relu_critical_line_is_he_at_every_bias():
    # chi_1 = sigma_w^2 E[step^2] = sigma_w^2 / 2 whatever q* (He et al. 2015).
    r = phase_diagram("relu", weight_vars=np.linspace(0.1, 3.9, 39), bias_vars=[0, 0.1, 0.3])
    for p in r.critical_line:
        assert p.sigma_w2 == pytest.approx(2.0, abs=1e-12)
    assert r.chi_1[1] == pytest.approx(tuple(w / 2 for w in r.weight_vars), rel=1e-12)


def test_relu_diverging_q_is_none_but_chi_1_is_stated():
    r = phase_diagram("relu", weight_vars=[1.0, 3.0], bias_vars=[0.1])
    assert r.q_star[0][0] == pytest.approx(0.1 / (1 - 0.5))  # sigma_b^2 / (1 - sigma_w^2/2)
    assert r.q_star[0][1] is None  # q grows by 1.5 per layer
    assert r.chi_1[0][1] == pytest.approx(1.5)
    assert r.phase[0] == ("ordered", "chaotic")


def test_named_inits():
    he = {p.init: p for p in phase_diagram("relu", width=512).inits}["he"]
    assert (he.sigma_w2, he.sigma_b2, he.chi_1, he.phase) == (2.0, 0.0, 1.0, "critical")
    tanh = {p.init: p for p in phase_diagram("tanh", width=100).inits}
    assert tanh["xavier"].phase == "critical"  # sigma_w^2 = 1, q* = 0, tanh'(0) = 1
    assert tanh["normal"].sigma_w2 == 100.0
    assert tanh["torch-default"].chi_1 == pytest.approx(1 / 3)


def test_grid_agrees_with_fixed_point():
    r = phase_diagram("gelu", weight_vars=np.linspace(0.2, 6, 8), bias_vars=[0.0, 0.05, 0.2])
    for i, b in enumerate(r.bias_vars):
        for j, w in enumerate(r.weight_vars):
            fp = fixed_point("gelu", w, b)
            assert r.chi_1[i][j] == pytest.approx(fp.chi_1, rel=1e-8)
            if fp.kind in ("fixed", "zero"):
                assert r.q_star[i][j] == pytest.approx(fp.q, rel=1e-8, abs=1e-300)


def test_default_ranges():
    assert default_weight_range("tanh") == (0.0, 4.0)
    assert default_weight_range("relu") == (0.0, 4.0)
    assert default_weight_range("sigmoid") == (0.0, 250.0)  # edge of chaos ~103
    r = phase_diagram("tanh")
    assert (len(r.weight_vars), len(r.bias_vars)) == (61, 31)
    assert r.bias_vars[0] == 0.0 and r.bias_vars[-1] == pytest.approx(0.3)


# Not elu: where q* runs off to infinity (sigma_w^2 -> 2 with no bias) its chi_1 falls
# back to the large-q limit sigma_w^2 E[phi'^2] -> sigma_w^2 / 2 = 1 from above (1.052 at
# 1.9, 1.024 at 1.99, 1 at 2): not monotone, and rightly so (see the test below).
@given(
    act=st.sampled_from(["tanh", "relu", "hardtanh"]),
    b=st.floats(0, 1),
    ws=st.lists(st.floats(0, 6), min_size=2, max_size=12, unique=True),
)
def test_chi_1_grows_with_sigma_w2(act, b, ws):
    r = phase_diagram(act, weight_vars=sorted(ws), bias_vars=[b])
    chi = r.chi_1[0]
    assert all(c is not None for c in chi)
    assert all(x <= y * (1 + 1e-9) for x, y in itertools.pairwise(chi))


def test_elu_chi_1_returns_to_one_as_q_star_runs_off():
    # elu' is e^h below 0 and 1 above: E[elu'(sqrt(q) z)^2] falls to 1/2 as q grows, so
    # as sigma_w^2 -> 2 (no bias) q* -> inf and chi_1 = sigma_w^2 E[elu'^2] -> 1.
    r = phase_diagram("elu", weight_vars=[1.9, 1.99, 1.999], bias_vars=[0.0])
    chi, q = r.chi_1[0], r.q_star[0]
    assert q[0] < q[1] < q[2]
    assert chi[0] > chi[1] > chi[2] > 1.0
    assert chi[2] - 1.0 < 0.01


def test_to_dict_is_strict_json_and_rows_are_tidy():
    r = phase_diagram("relu", weight_vars=[1, 2, 3], bias_vars=[0, 0.1])
    d = strict_json(json.dumps(r.to_dict(), allow_nan=False))
    assert d["q_star"][1][2] is None and d["phase"][0] == ["ordered", "critical", "chaotic"]
    rows = r.rows()
    assert len(rows) == 6
    assert rows[4] == {
        "act": "relu", "sigma_w2": 2.0, "sigma_b2": 0.1, "q_star": None, "chi_1": 1.0,
        "phase": "critical",
    }  # fmt: skip


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs",
    [
        {"act": "rleu"},
        {"weight_vars": []},
        {"bias_vars": []},
        {"weight_vars": [-1.0, 1.0]},
        {"bias_vars": [0.0, -0.1]},
        {"weight_vars": [1.0, float("nan")]},
        {"weight_vars": [2.0, 1.0]},  # not increasing
        {"weight_vars": [1.0, 1.0]},
        {"width": 0},
    ],
)
def test_bad_input_is_a_varprop_error(kwargs):
    kwargs = {"act": "tanh", **kwargs}
    with pytest.raises(VarpropError):
        phase_diagram(kwargs.pop("act"), **kwargs)


@pytest.mark.parametrize(("lo", "hi", "steps"), [(1, 1, 5), (2, 1, 5), (-1, 1, 5), (0, 1, 1)])
def test_bad_ranges_are_varprop_errors(lo, hi, steps):
    with pytest.raises(VarpropError):
        grid_values(lo, hi, steps, name="sigma_w^2", param="--weight-var-range")


# ---------------------------------------------------------------- the map


def lines_of(text, width: int) -> list[str]:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(text)
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_map_fits_and_has_no_trailing_spaces(width):
    r = phase_diagram("tanh")
    text = phase_map(r, width=width, plain=True)
    for line in text.plain.split("\n"):
        assert len(line) <= width and line == line.rstrip()
    assert lines_of(text, width) == text.plain.split("\n")  # rich adds no wrapping


def test_map_marks_line_inits_and_legend():
    r = phase_diagram("relu")
    lines = phase_map(r, width=80, plain=True).plain.split("\n")
    bottom = next(line for line in lines if line.lstrip().startswith("0 "))
    cells = bottom.lstrip()[2:]
    assert cells[r.weight_vars.index(2.0)] == "h"  # He on the line, at sigma_w^2 = 2
    assert cells[r.weight_vars.index(1.0)] == "l"  # lecun (and xavier, ...) at 1
    top = lines[2]
    assert top.split()[1][r.weight_vars.index(2.0)] == "|"
    legend = "\n".join(lines)
    assert "| chi_1 = 1 (order to chaos)" in legend and "h he 2 critical" in legend
    assert "normal 512 chaotic (off the map)" in legend


def test_map_colour_only_when_asked():
    r = phase_diagram("tanh", weight_vars=[0.5, 1, 2, 3], bias_vars=[0, 0.1])
    assert not any(span.style for span in phase_map(r, width=60, plain=True).spans)
    styles = {str(s.style) for s in phase_map(r, width=60, plain=False).spans}
    assert {"blue", "red"} <= styles


# ---------------------------------------------------------------- CLI


def test_cli_json_agrees_with_the_library():
    res = invoke("phase", "--act", "tanh", "--steps", "9", "--bias-steps", "4", "--format", "json")
    assert res.exit_code == 0, res.output
    d = strict_json(res.stdout)
    ref = phase_diagram(
        "tanh",
        weight_vars=np.linspace(0, 4, 9),
        bias_vars=np.linspace(0, 0.3, 4),
    ).to_dict()
    assert d == ref


def test_cli_csv_has_one_row_per_point():
    res = invoke("phase", "--act", "relu", "--steps", "5", "--bias-steps", "3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 15 and rows[0].keys() == {
        "act", "sigma_w2", "sigma_b2", "q_star", "chi_1", "phase",
    }  # fmt: skip
    assert rows[-1]["q_star"] == ""  # sigma_w^2 = 4: q grows


@pytest.mark.parametrize("columns", [60, 200])
def test_cli_table_fits_the_terminal(columns):
    from click.testing import CliRunner

    from varprop.cli import cli

    res = CliRunner().invoke(
        cli, ["phase", "--act", "tanh"], env={"COLUMNS": str(columns), "NO_COLOR": "1"}
    )
    assert res.exit_code == 0, res.output
    assert "chi_1 = 1 (order to chaos)" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= columns
    if columns == 200:
        assert max(len(line) for line in res.stdout.splitlines()) > 60  # it used the room


@pytest.mark.parametrize(
    "args",
    [
        ["--act", "rleu"],
        ["--weight-var-range", "2:1"],
        ["--weight-var-range", "1:1"],
        ["--bias-var-range", "-1:1"],
        ["--bias-var-range", "0:inf"],
        ["--weight-var-range", "abc"],
        ["--weight-var-range", "0:1e31"],
        ["--steps", "1"],
        ["--steps", "100000"],
        ["--bias-steps", "0"],
        ["--width", "0"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args):
    res = invoke("phase", *args)
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr
    assert res.stdout == ""
