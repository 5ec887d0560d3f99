"""`varprop compare`, `simulate --seeds`, pair parsing, the depth chart and progress."""

from __future__ import annotations

import csv
import io
import math

import pytest
from rich.console import Console
from support import invoke, strict_json

from varprop.cli import progress_bar
from varprop.errors import VarpropError
from varprop.render import View
from varprop.render import render as render_as
from varprop.render.chart import BLOCKS, depth_chart
from varprop.sweep import Pair, Runs, aggregate, parse_pair, run_pairs, total_work

SMALL = ["--depth", "12", "--width", "64", "--batch", "32"]


def render(renderable, *, width: int = 100, terminal: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, color_system=None)
    console.print(renderable)
    return buf.getvalue()


# ---------------------------------------------------------------- pairs


@pytest.mark.parametrize(
    ("text", "init", "act"),
    [
        ("he:relu", "he", "relu"),
        ("he:leaky-relu:0.2", "he", "leaky-relu:0.2"),  # split at the first colon only
        ("1.5:tanh", "1.5", "tanh"),
        (" xavier-uniform:tanh ", "xavier-uniform", "tanh"),
    ],
)
def test_parse_pair(text, init, act):
    assert parse_pair(text) == Pair(init, act)


@pytest.mark.parametrize(
    ("pair", "names"),
    [
        ("he", ("relu", "xavier")),  # no colon: both lists
        ("he:", ("relu", "tanh")),
        (":relu", ("he", "xavier")),
        ("he:nosuch", ("relu", "tanh")),
        ("nosuch:relu", ("he", "xavier")),
    ],
)
def test_bad_pair_is_a_usage_error_naming_the_choices(pair, names):
    result = invoke("compare", "he:relu", pair, *SMALL)
    assert result.exit_code == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: Invalid value for 'PAIRS...'")
    assert repr(pair) in error
    for name in names:
        assert name in error


def test_parse_pair_raises_varprop_error():
    with pytest.raises(VarpropError, match="INIT:ACT"):
        parse_pair("relu")


def test_compare_needs_a_pair():
    result = invoke("compare")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


# ---------------------------------------------------------------- compare output


def test_compare_table_rows_in_order_with_chart_and_marks():
    result = invoke("compare", "xavier:relu", "he:relu", "1.5:tanh", "he:leaky-relu:0.2", *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "log10 Var(h) against layer" in out and "log10 RMS(δ) against layer" in out
    summary = out[out.index("compare: depth 12") :]
    rows = [summary.index(label) for label in ("xavier:relu", "he:relu", "1.5:tanh")]
    assert rows == sorted(rows)
    # Not a terminal: the chart is ASCII (digits for levels) and stable rows get "+".
    assert all(ord(c) < 128 for line in out.splitlines() if "levels from" in line for c in line)
    assert "+ he:relu" in summary
    assert "  xavier:relu" in summary


def test_compare_no_chart():
    result = invoke("compare", "he:relu", "xavier:relu", "--no-chart", *SMALL)
    assert result.exit_code == 0
    assert "against layer" not in result.stdout
    assert "compare: depth 12" in result.stdout


def test_compare_layers_every():
    result = invoke("compare", "he:relu", "xavier:tanh", "--layers", "--every", "5", *SMALL)
    assert result.exit_code == 0
    out = result.stdout
    assert "per layer: Var(h) and RMS(δ)" in out
    table = out[out.index("per layer") : out.index("log10 Var(h) against layer")]
    shown = [int(line.split()[0]) for line in table.splitlines() if line.split()[:1] != []
             and line.split()[0].isdigit()]  # fmt: skip
    assert shown == [1, 6, 11, 12]


def test_compare_json_shape_and_shared_config():
    result = invoke("compare", "he:relu", "xavier:tanh", "1.5:tanh", "--format", "json", *SMALL)
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    assert set(data) == {"varprop_version", "runs"}
    assert [(r["config"]["init"], r["config"]["act"]) for r in data["runs"]] == [
        ("he", "relu"),
        ("xavier", "tanh"),
        ("1.5", "tanh"),
    ]
    for r in data["runs"]:
        assert (r["config"]["depth"], r["config"]["width"], r["config"]["seed"]) == (12, 64, 0)
        assert len(r["layers"]) == 12
    assert data["runs"][2]["config"]["weight_var"] == 1.5


def test_compare_seeds_json_has_every_run_and_the_aggregate():
    result = invoke(
        "compare", "he:relu", "xavier:relu", "--seeds", "3", "--seed", "5", "--format", "json",
        *SMALL,
    )  # fmt: skip
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    assert set(data) == {"varprop_version", "runs", "aggregate"}
    assert [r["config"]["seed"] for r in data["runs"]] == [5, 6, 7, 5, 6, 7]
    agg = data["aggregate"]
    assert agg["seeds"] == [5, 6, 7] and agg["band"] == "min-max"
    assert [(p["init"], p["act"]) for p in agg["pairs"]] == [("he", "relu"), ("xavier", "relu")]
    # The average is the mean of the log10 figures (a geometric mean), the band min-max.
    ratios = [r["summary"]["log10_preact_var_ratio"] for r in data["runs"][:3]]
    band = agg["pairs"][0]["log10_preact_var_ratio"]
    assert band["mean"] == pytest.approx(sum(ratios) / 3, rel=1e-12)
    assert (band["min"], band["max"], band["n"]) == (min(ratios), max(ratios), 3)
    layer5 = [r["layers"][4]["log10_grad_rms"] for r in data["runs"][3:]]
    assert agg["pairs"][1]["layers"][4]["log10_grad_rms"]["mean"] == pytest.approx(
        sum(layer5) / 3, rel=1e-12
    )
    assert agg["pairs"][1]["forward"] == "vanishing"
    assert agg["pairs"][1]["forward_votes"] == {"vanishing": 3}


def test_compare_csv_is_tidy():
    result = invoke("compare", "he:relu", "xavier:relu", "--seeds", "2", "--format", "csv", *SMALL)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    rows = list(csv.DictReader(lines))
    assert len(rows) == 2 * 2 * 12
    assert {(r["init"], r["act"], r["seed"]) for r in rows} == {
        ("he", "relu", "0"), ("he", "relu", "1"), ("xavier", "relu", "0"), ("xavier", "relu", "1"),
    }  # fmt: skip


def test_compare_output_file(tmp_path):
    path = tmp_path / "compare.json"
    result = invoke("compare", "he:relu", "--format", "json", "--output", str(path), *SMALL)
    assert result.exit_code == 0 and result.stdout == ""
    assert len(strict_json(path.read_text())["runs"]) == 1


def test_compare_table_to_file_is_ascii_chart(tmp_path):
    path = tmp_path / "compare.txt"
    result = invoke("compare", "he:relu", "xavier:relu", "--output", str(path), *SMALL)
    assert result.exit_code == 0
    text = path.read_text()
    assert "levels from (log10)" in text
    assert not any(block in text for block in BLOCKS)


def test_compare_shares_every_run_option():
    # Options simulate takes (here dtype, bias and input) reach every pair.
    result = invoke("compare", "he:relu", "xavier:tanh", "--dtype", "float64", "--bias-std",
                    "0.1", "--input", "uniform", "--format", "json", *SMALL)  # fmt: skip
    assert result.exit_code == 0, result.output
    for r in strict_json(result.stdout)["runs"]:
        c = r["config"]
        assert (c["dtype"], c["bias_std"], c["input"]) == ("float64", 0.1, "uniform")


def test_compare_core_error_is_a_usage_error():
    result = invoke("compare", "he:relu", "--depth", "3", "--widths", "64,0")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- the literature


def test_literature_pairs_stable_and_mismatched_not():
    # Moderate depth (20) and width 256: a matched pair drifts well under 2 decades
    # (He+ReLU: sd of log10 q_L ~ 0.7 sqrt(L/width) ~ 0.2), a mismatched one leaves the
    # band (Xavier+ReLU halves q per layer: 19 * log10(2) = 5.7 decades).  Xavier+tanh
    # (Glorot's pair) sits on tanh's marginal fixed point q* = 0: q_l ~ 1/(2l), a
    # power law (1.6 decades by layer 20), and its gradient is stable.
    pairs = ["he:relu", "lecun:selu", "xavier:tanh", "xavier:relu", "normal:tanh",
             "torch-default:relu"]  # fmt: skip
    result = invoke("compare", *pairs, "--depth", "20", "--width", "256", "--batch", "128",
                    "--format", "json")  # fmt: skip
    runs = strict_json(result.stdout)["runs"]
    verdicts = {
        f"{r['config']['init']}:{r['config']['act']}": (
            r["summary"]["forward"],
            r["summary"]["backward"],
        )
        for r in runs
    }
    for pair in pairs[:2]:
        assert verdicts[pair] == ("stable", "stable"), pair
    assert verdicts["xavier:tanh"] == ("power-law", "stable")
    for pair in pairs[3:]:
        assert verdicts[pair] != ("stable", "stable"), pair


# ---------------------------------------------------------------- simulate --seeds


def test_simulate_seeds_table():
    result = invoke("simulate", "--init", "he", "--act", "relu", "--seeds", "3", *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "seeds 0–2" in out
    assert "± dec" in out and "min–max" in out
    assert "forward:  stable (3 of 3 seeds)" in out
    assert "geometric mean (mean of log10)" in out


def test_simulate_seeds_json_and_csv():
    result = invoke("simulate", "--init", "xavier", "--act", "tanh", "--seeds", "2", "--format",
                    "json", *SMALL)  # fmt: skip
    data = strict_json(result.stdout)
    assert set(data) == {"varprop_version", "runs", "aggregate"}
    assert [r["config"]["seed"] for r in data["runs"]] == [0, 1]
    assert len(data["aggregate"]["pairs"]) == 1
    result = invoke("simulate", "--seeds", "2", "--format", "csv", *SMALL)
    assert len(result.stdout.splitlines()) == 1 + 2 * 12


def test_simulate_one_seed_keeps_the_simulate_shape():
    result = invoke("simulate", "--seeds", "1", "--format", "json", *SMALL)
    assert set(strict_json(result.stdout)) == {"varprop_version", "config", "layers", "summary"}


def test_simulate_seeds_weight_var():
    result = invoke("simulate", "--weight-var", "1.5", "--act", "tanh", "--seeds", "2",
                    "--format", "json", *SMALL)  # fmt: skip
    assert {r["config"]["init"] for r in strict_json(result.stdout)["runs"]} == {"1.5"}


def test_seeds_must_be_positive():
    result = invoke("compare", "he:relu", "--seeds", "0")
    assert result.exit_code == 2
    assert "--seeds" in result.stderr


# ---------------------------------------------------------------- chart


@pytest.fixture(scope="module")
def diverging():
    pairs = [Pair("he", "relu"), Pair("xavier", "relu"), Pair("normal", "relu")]
    groups = run_pairs(pairs, depth=30, width=64, batch=32)
    return [aggregate(g) for g in groups], [p.label for p in pairs], groups


def test_chart_on_a_terminal_uses_blocks_and_fits_80_columns(diverging):
    aggs, labels, _ = diverging
    text = render(depth_chart(aggs, labels), width=80, terminal=True)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    variance = lines[: lines.index("log10 RMS(δ) against layer")]
    rows = {line.split()[0]: line.split()[1] for line in variance if line.split()[:1] in
            [[label] for label in labels]}  # fmt: skip
    # Shared scale: exploding normal:relu ends at the top, vanishing xavier:relu low.
    assert rows["normal:relu"][-1] == "█"
    assert rows["xavier:relu"][-1] in BLOCKS[:2]
    assert len(rows["he:relu"]) % 30 == 0  # each layer stretched to the same columns
    assert "levels from (log10)" in text


def test_chart_plain_is_ascii_and_wraps_nothing(diverging):
    aggs, labels, _ = diverging
    text = render(depth_chart(aggs, labels), width=80)
    assert not any(block in text for block in BLOCKS)  # digits stand for the levels
    assert max(len(line) for line in text.splitlines()) <= 80


def test_chart_samples_deep_stacks_to_the_width():
    groups = run_pairs([Pair("he", "relu")], depth=150, width=16, batch=8)
    text = render(depth_chart([aggregate(groups[0])], ["he:relu"]), width=80)
    row = next(line for line in text.splitlines() if line.startswith("he:relu"))
    assert len(row) <= 80
    assert text.count("150") >= 1  # the axis names the last layer


def test_compare_view_fits_80_columns_with_seeds():
    pairs = [Pair("he", "relu"), Pair("xavier", "tanh"), Pair("normal", "tanh")]
    groups = run_pairs(pairs, seeds=2, depth=10, width=32, batch=16)
    result = Runs("compare", groups, tuple(p.label for p in pairs))
    text = render(render_as(result, "table", View(layers=True)), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # narrowed by rearranging, never by truncating a number


# ---------------------------------------------------------------- progress


def test_progress_counts_two_units_per_layer():
    counted = []
    pairs = [Pair("he", "relu"), Pair("normal", "selu")]
    options = {"depth": 30, "width": 32, "batch": 8}
    run_pairs(pairs, seeds=2, progress=counted.append, **options)
    assert sum(counted) == total_work(4, options) == 4 * 2 * 30
    assert total_work(3, {"widths": (8, 8, 8, 8)}) == 3 * 2 * 4


def test_progress_bar_off_for_scripts_and_pipes():
    with progress_bar("json", 100, "x") as tick:
        assert tick is None
    # Under pytest stderr is not a terminal: no bar for tables either.
    with progress_bar("table", 100, "x") as tick:
        assert tick is None


def test_progress_bar_on_a_terminal(monkeypatch):
    monkeypatch.setattr("varprop.cli.PROGRESS_AFTER", 0.0)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    with progress_bar("table", 10, "grid") as tick:
        assert tick is not None
        for _ in range(10):
            tick(1)


def test_aggregate_uses_log10_mean():
    groups = run_pairs([Pair("he", "relu")], seeds=3, depth=5, width=16, batch=8)
    agg = aggregate(groups[0])
    values = [r.layers[-1].log10_preact_var for r in groups[0]]
    assert agg.layers[-1].log10_preact_var.mean == pytest.approx(math.fsum(values) / 3)
    assert agg.seeds == (0, 1, 2)
