"""`varprop theory` and `varprop recommend` through CliRunner."""

import csv
import io
import math

import pytest
from click.testing import CliRunner
from support import strict_json

from varprop.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_theory_table_states_fixed_point_and_phase(runner):
    r = runner.invoke(
        cli,
        ["theory", "--act", "tanh", "--weight-var", "1.5", "--bias-var", "0.05", "--depth", "100"],
    )
    assert r.exit_code == 0, r.output
    assert "q* = 0.418" in r.stdout  # the map's fixed point, checked in test_theory.py
    assert "phase: ordered" in r.stdout
    assert "E[a0^2]" in r.stdout


def test_theory_json_shape_and_values(runner):
    r = runner.invoke(
        cli, ["theory", "--act", "relu", "--init", "he", "--depth", "30", "--format", "json"]
    )
    d = strict_json(r.stdout)
    assert set(d) == {"varprop_version", "config", "layers", "summary"}
    assert len(d["layers"]) == 30
    # He et al. 2015: q_l = 2 E[a0^2] = 2 at every layer, chi = 1.
    assert all(layer["preact_var"] == pytest.approx(2.0) for layer in d["layers"])
    assert all(layer["chi"] == pytest.approx(1.0) for layer in d["layers"])
    for key in ("q_star", "chi_1", "phase"):
        assert key in d["summary"]
    assert d["summary"]["phase"] == "critical"


def test_theory_deep_and_beyond_float_range(runner):
    # Xavier + ReLU halves q per layer: q_10000 = 2^-9999 ~ 10^-3010, stated in log10.
    r = runner.invoke(
        cli, ["theory", "--act", "relu", "--init", "xavier", "--depth", "10000", "--format", "json"]
    )
    d = strict_json(r.stdout)
    last = d["layers"][-1]
    assert last["preact_var"] is None
    assert last["log10_preact_var"] == pytest.approx(-9999 * math.log10(2), abs=1e-6)


def test_theory_csv(runner):
    r = runner.invoke(
        cli, ["theory", "--act", "selu", "--init", "lecun", "--depth", "5", "--format", "csv"]
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 5
    # Klambauer et al. 2017: q = 1 is SELU's fixed point under LeCun.
    assert float(rows[-1]["preact_var"]) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--act", "nosuch"], "relu"),
        (["--weight-var", "-1"], "--weight-var"),
        (["--weight-var", "nan"], "--weight-var"),
        (["--bias-var", "inf"], "--bias-var"),
        (["--depth", "0"], "--depth"),
        (["--init", "he", "--weight-var", "2"], "not both"),
    ],
)
def test_theory_bad_input(runner, args, needle):
    r = runner.invoke(cli, ["theory", *args])
    assert r.exit_code == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and needle in errors[0]


def test_recommend_gelu_warns_plainly(runner):
    r = runner.invoke(cli, ["recommend", "--act", "gelu"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    forward = next(line for line in out.splitlines() if "forward (q=1 fixed)" in line)
    assert " NO " in forward  # its fixed point is unstable
    assert "--bias-var" in out  # what to do instead
    he = next(line for line in out.splitlines() if line.split()[:1] == ["he"])
    assert he.split()[-1] == "van/van"  # He: both verdicts vanishing
    explained = runner.invoke(cli, ["recommend", "--act", "gelu", "--explain"]).stdout
    assert "UNSTABLE" in explained and "UNSTABLE" not in out  # the derivation, once asked


@pytest.mark.parametrize(("act", "best"), [("relu", "he"), ("selu", "lecun")])
def test_recommend_json(runner, act, best):
    d = strict_json(runner.invoke(cli, ["recommend", "--act", act, "--format", "json"]).stdout)
    assert d["best_init"] == best
    assert set(d["criteria"]) == {"forward", "edge_of_chaos", "kumar", "torch_gain"}
    for c in d["criteria"].values():
        assert set(c) >= {"sigma_w2", "q_star", "stable", "note"}
    verdicts = {row["init"]: row["verdict"] for row in d["inits"]}
    assert verdicts[best] == "stable"


def test_recommend_csv_and_bad_input(runner):
    r = runner.invoke(cli, ["recommend", "--act", "sigmoid", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    kumar = next(row for row in rows if row["name"] == "kumar")
    # Kumar (2017): sigma_w ~ 3.6 for sigmoid, 3.6^2 = 12.96; ours reconstructs 12.8.
    assert float(kumar["sigma_w2"]) == pytest.approx(3.6**2, rel=0.02)
    bad = runner.invoke(cli, ["recommend", "--act", "sigmoid", "--bias-var", "-0.1"])
    assert bad.exit_code == 2
