"""The simulate and list commands through click's CliRunner."""

import csv
import io
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from support import strict_json

import varprop
from varprop.cli import cli

SMALL = ["--depth", "6", "--width", "32", "--batch", "16"]


@pytest.fixture
def runner():
    return CliRunner()


def test_simulate_table_explains_itself(runner):
    args = ["--depth", "20", "--width", "32", "--batch", "16"]
    r = runner.invoke(cli, ["simulate", "--init", "xavier", "--act", "relu", *args])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "xavier + relu" in out
    assert "Var(h)" in out and "RMS(δ)" in out
    assert "forward:" in out and "backward:" in out
    assert "fix:" in out and "--init he" in out
    assert not re.search(r"\b(nan|inf)\b", out)


def test_every_keeps_first_and_last(runner):
    r = runner.invoke(cli, ["simulate", "--depth", "23", "--width", "16", "--every", "10"])
    assert r.exit_code == 0
    rows = [line.split() for line in r.stdout.splitlines()]
    rows = [int(row[0]) for row in rows if len(row) == 8 and row[0].isdigit()]
    # Every 10th, the first and the last, and the layer where saturation first passes half
    # (ReLU units dead on the whole batch: see the sat. column).
    sat = varprop.simulate(depth=23, width=16).layers
    half = next(s.layer for s in sat if s.saturated_frac > 0.5)
    assert rows == sorted({1, 11, 21, 23, half})


def test_json_is_the_design_shape(runner):
    r = runner.invoke(cli, ["simulate", "--format", "json", *SMALL])
    assert r.exit_code == 0
    d = strict_json(r.stdout)
    assert set(d) == {"varprop_version", "config", "layers", "summary"}
    for key in (
        "init",
        "act",
        "depth",
        "width",
        "batch",
        "seed",
        "dtype",
        "weight_var",
        "bias_std",
    ):
        assert key in d["config"]
    assert d["config"]["weight_var"] == 2.0
    assert len(d["layers"]) == 6
    assert d["layers"][0]["layer"] == 1
    for key in ("forward", "backward", "preact_var_ratio", "grad_rms_ratio", "overflow_layer"):
        assert key in d["summary"]


def test_csv_one_row_per_layer_same_numbers_as_json(runner):
    j = strict_json(runner.invoke(cli, ["simulate", "--format", "json", *SMALL]).stdout)
    r = runner.invoke(cli, ["simulate", "--format", "csv", *SMALL])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 6
    for row, layer in zip(rows, j["layers"], strict=True):
        assert float(row["preact_var"]) == layer["preact_var"]
        assert float(row["grad_rms"]) == layer["grad_rms"]


def test_output_file_and_nothing_on_stdout(runner, tmp_path):
    path = tmp_path / "run.json"
    r = runner.invoke(cli, ["simulate", "--format", "json", "--output", str(path), *SMALL])
    assert r.exit_code == 0
    assert r.stdout == ""
    assert strict_json(path.read_text())["config"]["depth"] == 6


def test_table_to_file_has_no_colour_codes(runner, tmp_path):
    path = tmp_path / "run.txt"
    r = runner.invoke(cli, ["simulate", "--output", str(path), *SMALL])
    assert r.exit_code == 0
    assert "\x1b[" not in path.read_text()
    assert "forward:" in path.read_text()


def test_seed_reproducible_and_printed(runner):
    a = runner.invoke(cli, ["simulate", "--format", "json", "--seed", "3", *SMALL]).stdout
    b = runner.invoke(cli, ["simulate", "--format", "json", "--seed", "3", *SMALL]).stdout
    assert a == b
    assert "seed 3" in runner.invoke(cli, ["simulate", "--seed", "3", *SMALL]).stdout


def test_weight_var_and_bias(runner):
    r = runner.invoke(
        cli, ["simulate", "--weight-var", "1.5", "--bias-std", "0.1", "--format", "json", *SMALL]
    )
    d = strict_json(r.stdout)
    assert d["config"]["weight_var"] == pytest.approx(1.5)
    assert d["config"]["bias_std"] == pytest.approx(0.1)


def test_torch_default_reports_its_bias(runner):
    d = strict_json(
        runner.invoke(cli, ["simulate", "--init", "torch", "--format", "json", *SMALL]).stdout
    )
    # U(+-1/sqrt(32)) has std 1/sqrt(3 * 32).
    assert d["config"]["bias_std"] == pytest.approx((1 / (3 * 32)) ** 0.5)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--act", "rleu"], "relu"),
        (["--init", "hee"], "xavier"),
        (["--depth", "0"], "--depth"),
        (["--width", "0"], "--width"),
        (["--batch", "0"], "--batch"),
        (["--bias-std", "-1"], "--bias-std"),
        (["--bias-std", "nan"], "--bias-std"),
        (["--dtype", "float16"], "float32"),
        (["--widths", "64,0"], "--widths"),
        (["--depth", "100000", "--width", "100000"], "GiB"),
        (["--format", "xml"], "json"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_input_exits_2_with_one_line(runner, args, needle):
    r = runner.invoke(cli, ["simulate", *args])
    assert r.exit_code == 2, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1
    assert needle in errors[0]
    assert "Traceback" not in r.output


def test_list(runner):
    r = runner.invoke(cli, ["list"])
    assert r.exit_code == 0
    for name in ("he", "xavier", "torch-default", "relu", "gelu", "swish"):
        assert name in r.stdout
    d = strict_json(runner.invoke(cli, ["list", "--format", "json"]).stdout)
    assert {a["name"] for a in d["activations"]} >= {"relu", "tanh", "selu", "mish"}


def test_help_does_not_import_numpy():
    code = (
        "import sys; from varprop.cli import main; sys.argv = ['varprop', '--help'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'numpy' not in sys.modules, 'numpy imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "simulate" in out.stdout


def test_python_dash_m(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "varprop", "simulate", "--format", "csv", *SMALL],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 7


def test_init_and_weight_var_together_is_an_error(runner):
    r = runner.invoke(cli, ["simulate", "--init", "xavier", "--weight-var", "2", *SMALL])
    assert r.exit_code == 2
    assert "not both" in r.stderr


def test_zero_weights_vanish_and_print_zero(runner):
    # sigma_w^2 = 0: h = 0 exactly from layer 1 on; no log10 exists, but the verdict is
    # certain and the table says 0, not "-".
    r = runner.invoke(cli, ["simulate", "--weight-var", "0", "--act", "tanh", *SMALL])
    assert r.exit_code == 0
    assert "forward:  vanishing" in r.stdout
    d = strict_json(
        runner.invoke(
            cli, ["simulate", "--weight-var", "0", "--act", "tanh", "--format", "json", *SMALL]
        ).stdout
    )
    assert d["layers"][-1]["preact_var"] == 0.0
    assert d["summary"]["forward"] == "vanishing"


def test_config_records_fan_mode_gain_and_named_input_moment(runner):
    args = ["--init", "orthogonal", "--gain", "1.5", "--input", "uniform", "--format", "json"]
    d = strict_json(runner.invoke(cli, ["simulate", *args, *SMALL]).stdout)
    assert d["config"]["gain"] == 1.5
    assert d["config"]["fan_mode"] == "fan_in"
    # DESIGN: theory takes E[a_0^2] from the distribution, 1 for unit-variance uniform.
    assert d["config"]["input_second_moment"] == 1.0


def test_non_uniform_widths_are_shown(runner):
    r = runner.invoke(cli, ["simulate", "--widths", "64,32,8", "--width", "16", "--batch", "8"])
    assert "widths 16-64-32-8" in r.stdout
    assert "(last layer)" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--bias-var", "-1"],
        ["--bias-var", "nan"],
        ["--bias-var", "0.1", "--bias-std", "0.3"],
    ],
)
@pytest.mark.parametrize("command", [["simulate"], ["compare", "he:relu"], ["grid"]])
def test_bias_var_bad_input(runner, command, args):
    r = runner.invoke(cli, [*command, *args, "--depth", "2", "--width", "4", "--batch", "2"])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "bias" in lines[0]
    assert "Traceback" not in r.output


def test_bias_var_is_the_variance(runner):
    d = strict_json(
        runner.invoke(
            cli,
            ["simulate", "--bias-var", "0.25", "--depth", "2", "--width", "4", "--format", "json"],
        ).stdout
    )
    assert d["config"]["bias_std"] == 0.5
