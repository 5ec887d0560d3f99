"""The block options on the command line: JSON contract, compare's pair syntax, bad input."""

import csv
import io

import pytest
from support import invoke, strict_json

from varprop.sweep import Pair, parse_pair

SMALL = ["--depth", "4", "--width", "16", "--batch", "8"]


def test_config_always_states_the_blocks():
    d = strict_json(invoke("simulate", *SMALL, "--format", "json").stdout)
    assert (d["config"]["block"], d["config"]["norm"], d["config"]["branch_scale"]) == (
        "plain",
        "none",
        1.0,
    )
    assert d["summary"]["lsuv"] is None
    d = strict_json(
        invoke(
            "simulate", *SMALL, "--block", "residual", "--norm", "rms", "--branch-scale", "auto",
            "--format", "json",
        ).stdout
    )  # fmt: skip
    assert (d["config"]["block"], d["config"]["norm"]) == ("residual", "rms")
    assert d["config"]["branch_scale"] == pytest.approx(0.5)  # 1/sqrt(4)


def test_lsuv_json_records_every_layer():
    d = strict_json(invoke("simulate", "--init", "lsuv", "--act", "tanh", *SMALL,
                           "--format", "json").stdout)  # fmt: skip
    lsuv = d["summary"]["lsuv"]
    assert lsuv["tolerance"] == 0.1 and lsuv["max_iterations"] == 10
    assert [x["layer"] for x in lsuv["layers"]] == [1, 2, 3, 4]
    assert set(lsuv["layers"][0]) == {"layer", "scale", "sigma_w2", "iterations", "var"}
    assert d["config"]["weight_var"] == pytest.approx(lsuv["layers"][-1]["sigma_w2"])


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("he:relu", Pair("he", "relu")),
        ("he:relu@residual", Pair("he", "relu", block="residual")),
        ("he:relu@residual,auto", Pair("he", "relu", block="residual", branch_scale="auto")),
        ("he:relu@residual,layer", Pair("he", "relu", block="residual", norm="layer")),
        ("he:relu@plain,batch", Pair("he", "relu", block="plain", norm="batch")),
        ("he:leaky-relu:0.2@0.5,residual", Pair("he", "leaky-relu:0.2", block="residual",
                                                branch_scale=0.5)),
        ("lsuv:gelu@layer", Pair("lsuv", "gelu", norm="layer")),
    ],
)  # fmt: skip
def test_pair_suffix(text, pair):
    assert parse_pair(text) == pair


def test_compare_puts_plain_residual_auto_and_prenorm_side_by_side():
    pairs = ["he:relu", "he:relu@residual", "he:relu@residual,auto", "he:relu@residual,layer"]
    out = invoke("compare", *pairs, *SMALL, "--no-chart")
    assert out.exit_code == 0, out.output
    for line in ("he:relu", "@residual", "@residual,", "auto", "layer"):
        assert line in out.stdout
    runs = strict_json(invoke("compare", *pairs, *SMALL, "--format", "json").stdout)["runs"]
    assert [(r["config"]["block"], r["config"]["norm"], r["config"]["branch_scale"])
            for r in runs] == [("plain", "none", 1.0), ("residual", "none", 1.0),
                               ("residual", "none", 0.5), ("residual", "layer", 1.0)]  # fmt: skip
    text = invoke("compare", *pairs, *SMALL, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    row = rows[4 * 2]
    assert text.startswith("pair,init,act,")
    assert (row["pair"], row["block"], row["norm"], row["branch_scale"], row["layer"]) == (
        "he:relu@residual,auto",
        "residual",
        "none",
        "0.5",
        "1",
    )


def test_pair_block_overrides_the_command_option():
    runs = strict_json(invoke("compare", "he:relu", "he:relu@layer", *SMALL, "--block",
                              "residual", "--format", "json").stdout)["runs"]  # fmt: skip
    assert [(r["config"]["block"], r["config"]["norm"]) for r in runs] == [
        ("residual", "none"),
        ("residual", "layer"),
    ]


def test_theory_takes_blocks():
    d = strict_json(invoke("theory", "--block", "residual", "--depth", "10", "--format",
                           "json").stdout)  # fmt: skip
    assert d["config"]["block"] == "residual"
    assert d["layers"][-1]["preact_var"] == pytest.approx(2.0**10)
    table = invoke("theory", "--norm", "batch", "--depth", "10").stdout
    assert "batch norm before phi" in table and "1.467" in table


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "--block", "dense"], ["'dense' is not one of", "'plain'", "'residual'"]),
        (["simulate", "--norm", "group"], ["'group' is not one of", "'layer'", "'batch'"]),
        (["simulate", "--block", "residual", "--branch-scale", "0"], ["branch scale", "auto"]),
        (["simulate", "--block", "residual", "--branch-scale", "-1"], ["branch scale", "auto"]),
        (["simulate", "--block", "residual", "--branch-scale", "nan"], ["branch scale", "auto"]),
        (["simulate", "--block", "residual", "--branch-scale", "big"], ["branch scale", "auto"]),
        (["simulate", "--branch-scale", "0.5"], ["residual blocks only"]),
        (["simulate", "--block", "residual", "--widths", "16,8,16"], ["every width", "plain"]),
        (["simulate", "--norm", "batch", "--batch", "1"], ["--batch >= 2", "layer"]),
        (["compare", "he:relu@dense"], ["not a block", "plain, residual", "layer"]),
        (["compare", "he:relu@"], ["not a block", "INIT:ACT@"]),
        (["compare", "he:relu@residual,plain"], ["two blocks"]),
        (["compare", "he:relu@layer,batch"], ["two norms"]),
        (["compare", "he:relu@0"], ["not a block", "branch scale"]),
        (["theory", "--block", "residual", "--widths", "512,256"], ["every width"]),
        (["theory", "--branch-scale", "auto"], ["residual blocks only"]),
        (["recommend", "--norm", "layer"], ["plain stacks", "varprop theory"]),
    ],
)
def test_bad_block_input_exits_2_with_one_error_line(args, words):
    small = SMALL if args[0] == "simulate" else []
    result = invoke(args[0], *small, *args[1:])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    for word in words:
        assert word in errors[0], errors[0]
