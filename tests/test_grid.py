"""`varprop grid`: heat map, agreement with `simulate`, errors, shapes, weight sharing."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from rich.console import Console
from support import invoke, strict_json

import varprop
from varprop.network import WeightCache
from varprop.render import render as render_as
from varprop.render.runs import grid_number
from varprop.sweep import Band, Runs, grid_pairs, run_pairs

SMALL = ["--depth", "10", "--width", "64", "--batch", "32"]


def render(renderable, *, width: int, terminal: bool = False) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=terminal, color_system=None).print(renderable)
    return buf.getvalue()


def test_grid_cells_equal_separate_simulate_runs():
    # xavier and lecun draw identical weights on square layers, so the grid shares one
    # draw between them as well as across activations: still bit for bit the same.
    inits, acts = "he,xavier,lecun,torch-default", "relu,tanh,gelu"
    options = {"depth": 8, "width": 48, "batch": 24, "seed": 3}
    result = invoke("grid", "--inits", inits, "--acts", acts, "--format", "json",
                    *(f"--{k}={v}" for k, v in options.items()))  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = strict_json(result.stdout)["runs"]
    assert [(r["config"]["init"], r["config"]["act"]) for r in runs] == [
        (i, a) for i in inits.split(",") for a in acts.split(",")
    ]
    for run in runs:
        alone = varprop.simulate(init=run["config"]["init"], act=run["config"]["act"], **options)
        assert run["summary"]["log10_preact_var_ratio"] == (alone.summary.log10_preact_var_ratio)
        assert run["summary"]["log10_grad_rms_ratio"] == alone.summary.log10_grad_rms_ratio
        assert run == strict_json(json.dumps(alone.to_dict()))


def test_weight_cache_shares_draws_and_changes_nothing():
    cache = WeightCache()
    options = {"depth": 6, "width": 32, "batch": 16, "seed": 1}
    shared = [
        varprop.simulate(init=i, act=a, weight_cache=cache, **options)
        for i in ("xavier", "lecun", "he")
        for a in ("relu", "tanh")
    ]
    assert (cache.misses, cache.hits) == (2, 4)  # xavier = lecun; he draws again
    alone = [varprop.simulate(init=r.config.init, act=r.config.act, **options) for r in shared]
    assert [r.to_dict() for r in shared] == [r.to_dict() for r in alone]


def test_grid_table_marks_the_literature_pairs():
    result = invoke("grid", "--inits", "he,lecun,xavier", "--acts", "relu,selu,tanh", *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    # he:relu, lecun:selu, xavier:tanh; plain output spells the verdict where colour would be
    assert len(re.findall(r"\*(ok|van|exp|sat) ", out)) == 3
    assert "the literature's pair" in out and "He et al. 2015" in out
    for name in ("he", "lecun", "xavier", "relu", "selu", "tanh"):
        assert name in out


@pytest.fixture(scope="module")
def default_grid():
    inits = ("he", "xavier", "lecun", "normal", "torch-default")
    acts = ("relu", "tanh", "sigmoid", "selu", "gelu")
    groups = run_pairs(grid_pairs(inits, acts), depth=12, width=32, batch=16)
    return groups, inits, acts


@pytest.mark.parametrize("width", [80, 100])
def test_default_grid_fits_the_screen(default_grid, width):
    groups, inits, acts = default_grid
    for terminal in (False, True):
        text = render(grid_view(groups, inits, acts), width=width, terminal=terminal)
        table = text[: text.index("└") + 1]
        assert max(len(line) for line in table.splitlines()) <= 80
        assert "…" not in table
    assert len(text.splitlines()) <= 30  # one screen


def test_grid_plain_and_terminal_glyphs(default_grid):
    groups, inits, acts = default_grid
    plain = render(grid_view(groups, inits, acts), width=100)
    assert len(re.findall(r"\*(ok|van|exp|sat) ", plain)) == 3 and "★" not in plain
    term = render(grid_view(groups, inits, acts), width=100, terminal=True)
    assert len(re.findall(r"★(ok|van|exp|sat|pow) ", term)) == 3


def test_grid_marks_saturation(default_grid):
    groups, inits, acts = default_grid
    text = render(grid_view(groups, inits, acts), width=100)
    normal_row = text[text.index(" normal ") : text.index(" torch-default ")]
    assert "sat " in normal_row  # tanh under N(0, 1) weights: units pinned at ±1
    assert "sat " not in text[: text.index(" normal ")]


def test_grid_numbers():
    assert grid_number(Band(-12.345, -13.0, -12.0, 2), 0) == " -12.3"
    assert grid_number(Band(118.4, 118.4, 118.4, 1), 0) == "  +118"
    assert grid_number(Band(None, None, None, 0), 1) == "  ovfl"  # left float range
    assert grid_number(Band(None, None, None, 0), 0) == "     -"


def test_grid_seeds_json_and_table():
    result = invoke("grid", "--inits", "he,xavier", "--acts", "relu,tanh", "--seeds", "2",
                    "--format", "json", *SMALL)  # fmt: skip
    data = strict_json(result.stdout)
    assert [r["config"]["seed"] for r in data["runs"]] == [0, 1] * 4
    assert [(p["init"], p["act"]) for p in data["aggregate"]["pairs"]] == [
        ("he", "relu"), ("he", "tanh"), ("xavier", "relu"), ("xavier", "tanh"),
    ]  # fmt: skip
    result = invoke("grid", "--inits", "he,xavier", "--acts", "relu,tanh", "--seeds", "2", *SMALL)
    assert result.exit_code == 0
    assert "seeds 0–1" in result.stdout and "half their min–max band" in result.stdout


def test_grid_csv():
    result = invoke("grid", "--inits", "he", "--acts", "relu,tanh", "--format", "csv", *SMALL)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 2 * 10
    row = next(csv.DictReader(lines))
    assert (row["pair"], row["init"], row["act"], row["seed"], row["layer"]) == (
        "he:relu",
        "he",
        "relu",
        "0",
        "1",
    )
    assert row["forward"] == "stable" and row["block"] == "plain"


@pytest.mark.parametrize(
    ("option", "value", "names"),
    [
        ("--inits", "he,nosuch", ("xavier", "lecun")),
        ("--inits", "he,,xavier", ("xavier", "lecun")),
        ("--inits", "", ("xavier", "lecun")),
        ("--acts", "relu,foo", ("tanh", "selu")),
        ("--acts", "relu,leaky-relu:x", ("slope",)),
    ],
)
def test_bad_lists_are_usage_errors(option, value, names):
    result = invoke("grid", option, value, *SMALL)
    assert result.exit_code == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: Invalid value for '{option}'")
    for name in names:
        assert name in error


def test_grid_duplicates_are_dropped():
    result = invoke("grid", "--inits", "he,he", "--acts", "relu", "--format", "json", *SMALL)
    assert len(strict_json(result.stdout)["runs"]) == 1


def test_grid_literature_verdicts():
    # The same claim as in test_compare, through the grid: depth 20, width 256.
    result = invoke("grid", "--inits", "he,lecun,xavier,normal,torch-default", "--acts",
                    "relu,selu,tanh", "--depth", "20", "--width", "256", "--batch", "128",
                    "--format", "json")  # fmt: skip
    runs = strict_json(result.stdout)["runs"]
    stable = {
        f"{r['config']['init']}:{r['config']['act']}"
        for r in runs
        if (r["summary"]["forward"], r["summary"]["backward"]) == ("stable", "stable")
    }
    assert {"he:relu", "lecun:selu"} <= stable
    # Glorot's pair drifts as a power law toward tanh's marginal q* = 0 (see test_compare).
    tanh = next(r for r in runs if r["config"]["init"] == "xavier" and r["config"]["act"] == "tanh")
    assert tanh["summary"]["forward"] == "power-law"
    assert not {"xavier:relu", "normal:tanh", "torch-default:relu"} & stable


def grid_view(groups, inits, acts):
    labels = tuple(f"{i}:{a}" for i in inits for a in acts)
    runs = Runs("grid", tuple(map(tuple, groups)), labels, tuple(inits), tuple(acts))
    return render_as(runs, "table")
