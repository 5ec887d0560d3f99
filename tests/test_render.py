"""Output that fits any terminal and says it once (the format registry, issue 9).

Every table is read back as a user reads it: at 60, 80 and 200 columns no line is
longer than the screen, every row names its layer or pair, and every number it prints
equals the JSON value to the digits shown.
"""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from support import strict_json

from varprop.cli import cli
from varprop.listing import listing
from varprop.render import FORMATS, View, format_module, render
from varprop.render.layout import Column, Screen, draw, fit
from varprop.render.numbers import MAX_ROWS, rows_to_show

SMALL = ["--width", "32", "--batch", "16"]
WIDTHS = (60, 80, 200)
NUMBER = re.compile(r"^[+-]?x?(\d+(\.\d+)?(e[+-]\d+)?)%?$")


def run(args, columns=80, **env):
    result = CliRunner().invoke(cli, args, env={"COLUMNS": str(columns), **env})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def value(cell: str) -> float | None:
    """A table cell as a number (``x0.5`` a factor, ``43.1%`` a share), or None."""
    m = NUMBER.match(cell.replace("±", ""))
    if not m:
        return None
    x = float(cell.lstrip("x+±").rstrip("%").replace("x", ""))
    return -x if cell.startswith("-") and x > 0 else x


def agrees(cell: str, exact: float | None, digits: int = 3) -> bool:
    """The cell states ``exact`` to its shown digits (``-`` where it cannot be stated)."""
    if exact is None:
        return cell == "-"
    shown = value(cell)
    if shown is None:
        return False
    if shown == 0 or exact == 0:
        return abs(exact) < 10 ** -(digits + 1) or shown == exact
    # ``digits`` significant digits: the rounding error is at most half a unit of the last
    # digit, i.e. 0.5 * 10^(1 - digits) relative to the mantissa (>= 1).
    return math.isclose(shown, exact, rel_tol=0.5 * 10 ** (1 - digits) * 1.0001)


def table(text: str, header_lines: int = 1, start: int = 0) -> list[dict[str, str]]:
    """The rows of the first table after line ``start``, keyed by their column's header
    (a two-line header joined with a space): cells are matched to the header by where
    they stand on the line, as the eye does."""
    lines = text.splitlines()
    rule = next(i for i in range(start, len(lines)) if re.fullmatch(r"[-─]{10,}", lines[i]))
    heads = lines[rule - header_lines : rule]
    bottom = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", heads[-1])]
    names = []
    for a, b, name in bottom:
        above = [m.group() for line in heads[:-1] for m in re.finditer(r"\S+(?: \S+)*", line)
                 if m.start() < b + 2 and m.end() > a - 2]  # fmt: skip
        names.append(" ".join([*above, name]))
    rows = []
    for line in lines[rule + 1 :]:
        if not line.strip() or line.startswith(("showing", "not shown")) or "--explain" in line:
            break
        cells = {}
        for m in re.finditer(r"\S+(?: \S+)*", line):
            hit = [n for (a, b, _), n in zip(bottom, names, strict=True)
                   if m.start() < b and m.end() > a]  # fmt: skip
            assert len(hit) == 1, (line, m.group(), names)
            cells[hit[0]] = m.group()
        rows.append(cells)
    return rows


def fits(text: str, columns: int) -> None:
    long = [line for line in text.splitlines() if len(line) > columns]
    assert not long, long
    assert not [line for line in text.splitlines() if line != line.rstrip()]  # no trailing spaces


# ---------------------------------------------------------------- simulate


@pytest.mark.parametrize("columns", WIDTHS)
def test_simulate_table_states_the_json_numbers(columns):
    args = ["simulate", "--init", "xavier", "--act", "tanh", "--depth", "30", *SMALL]
    text = run(args, columns)
    fits(text, columns)
    doc = strict_json(run([*args, "--format", "json"]))
    by_layer = {d["layer"]: d for d in doc["layers"]}
    rows = table(text)
    assert 2 <= len(rows) <= MAX_ROWS + 2
    fields = {"Var(h)": "preact_var", "mean(a)": "act_mean", "RMS(δ)": "grad_rms",
              "‖dL/dW‖": "weight_grad_norm"}  # fmt: skip
    for row in rows:
        layer = by_layer[int(row["layer"])]  # every row names its layer
        for header, key in fields.items():
            if header in row:
                assert agrees(row[header], layer[key]), (header, row, layer[key])
        if "sat." in row:
            assert agrees(row["sat."], 100 * layer["saturated_frac"], digits=2) or (
                abs(value(row["sat."]) - 100 * layer["saturated_frac"]) <= 0.05
            )
    assert {"Var(h)", "RMS(δ)"} <= set(rows[0])  # never dropped
    if columns == 200:
        assert set(rows[0]) >= set(fields) | {"sat.", "theory"}


@pytest.mark.parametrize("columns", WIDTHS)
def test_simulate_seeds_table_fits_and_names_its_layers(columns):
    args = ["simulate", "--act", "gelu", "--depth", "30", "--seeds", "5", *SMALL]
    text = run(args, columns)
    fits(text, columns)
    doc = strict_json(run([*args, "--format", "json"]))
    layers = doc["aggregate"]["pairs"][0]["layers"]
    for row in table(text):
        band = layers[int(row["layer"]) - 1]
        assert agrees(row["Var(h)"], 10 ** band["log10_preact_var"]["mean"])
        assert agrees(row["RMS(δ)"], 10 ** band["log10_grad_rms"]["mean"])


def test_the_main_command_fits_a_screen():
    text = run(["simulate", "--init", "he", "--act", "relu", "--depth", "50"])
    assert len(text.splitlines()) <= 40
    assert "--every 1 shows all" in text
    every = run(["simulate", "--init", "he", "--act", "relu", "--depth", "50", "--every", "1"])
    assert len(table(every)) == 50


def test_rows_keep_first_last_and_events():
    assert rows_to_show(10, None) == list(range(10))
    rows = rows_to_show(500, None, events=[123])
    assert rows[0] == 0 and rows[-1] == 499 and 123 in rows
    assert len(rows) <= MAX_ROWS + 1
    assert rows_to_show(23, 10) == [0, 10, 20, 22]


# ---------------------------------------------------------------- compare, grid


PAIRS = ["he:relu", "xavier:relu", "xavier:tanh", "he:tanh"]


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("columns", WIDTHS)
def test_compare_table_states_the_json_numbers(columns, seeds):
    args = ["compare", *PAIRS, "--depth", "20", *SMALL, "--seeds", str(seeds)]
    text = run(args, columns)
    fits(text, columns)
    doc = strict_json(run([*args, "--format", "json"]))
    start = text.index("compare: ")
    rows = table(text[start:], header_lines=2)
    assert [r["pair"].lstrip("+✓ ") for r in rows] == PAIRS  # every row names its pair
    for k, row in enumerate(rows):
        if seeds > 1:
            agg = doc["aggregate"]["pairs"][k]
            fwd, bwd = agg["log10_preact_var_ratio"]["mean"], agg["log10_grad_rms_ratio"]["mean"]
            words = agg["forward"], agg["backward"]
        else:
            s = doc["runs"][k]["summary"]
            fwd, bwd = s["log10_preact_var_ratio"], s["log10_grad_rms_ratio"]
            words = s["forward"], s["backward"]
        assert agrees(row["Var(h) L / 1"], 10**fwd, digits=2)
        assert agrees(row["RMS(δ) 1 / L"], 10**bwd, digits=2)
        assert (row["forward"].split()[0], row["backward"].split()[0]) == words


def test_compare_csv_is_one_row_per_pair_and_layer():
    args = ["compare", *PAIRS, "--depth", "6", *SMALL, "--format", "csv"]
    rows = list(csv.DictReader(io.StringIO(run(args))))
    assert len(rows) == len(PAIRS) * 6
    assert {(r["pair"], r["layer"]) for r in rows} == {
        (p, str(k)) for p in PAIRS for k in range(1, 7)
    }
    for r in rows:
        assert r["forward"] and r["backward"] and r["depth"] == "6" and r["width"] == "32"
    deeper = [*args, "--depth", "20", "--summary", "--seeds", "2"]  # xavier:relu vanishes by 20
    summary = list(csv.DictReader(io.StringIO(run(deeper))))
    assert [(r["pair"], r["seed"]) for r in summary] == [(p, s) for p in PAIRS for s in "01"]
    he = summary[0]
    assert he["forward"] == "stable" and float(he["preact_var_ratio"]) > 0
    xavier = summary[2]
    assert xavier["fix_args"].startswith("--init") and xavier["fix_expect_forward"] == "stable"


def test_summary_needs_csv():
    result = CliRunner().invoke(cli, ["simulate", "--summary", *SMALL, "--depth", "3"])
    assert result.exit_code == 2
    assert "--format csv" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("columns", WIDTHS)
def test_grid_spells_every_verdict_and_fits(columns):
    args = ["grid", "--depth", "12", *SMALL]
    text = run(args, columns)
    fits(text, columns)
    doc = strict_json(run([*args, "--format", "json"]))
    words = re.findall(r"[│|][ ★*](ok|van|exp|sat|pow|ovf|\?) +([+-]?\d+\.\d|ovfl|-)", text)
    # two verdicts per cell, each spelled beside its number
    assert len(words) == 2 * len(doc["runs"])
    short = {"stable": "ok", "vanishing": "van", "exploding": "exp", "saturated": "sat",
             "power-law": "pow", "overflow": "ovf"}  # fmt: skip
    spelled = sorted(w for w, _ in words)
    wanted = sorted(short[r["summary"][k]] for r in doc["runs"] for k in ("forward", "backward"))
    assert spelled == wanted


@pytest.mark.skipif(sys.platform == "win32", reason="needs script(1) for a pseudo-terminal")
def test_grid_on_a_terminal_without_colour_spells_verdicts():
    script = subprocess.run(["which", "script"], capture_output=True, text=True)
    if script.returncode:
        pytest.skip("script(1) is not installed")
    cmd = f"{sys.executable} -m varprop grid --depth 8 --width 16 --batch 8 --inits he,xavier"
    env = {"NO_COLOR": "1", "COLUMNS": "80", "TERM": "xterm-256color", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).parents[1])}  # fmt: skip
    out = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                         env=env, timeout=120).stdout  # fmt: skip
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert len(re.findall(r"[│|][ ★*](ok|van|exp|sat|pow) ", plain)) == 2 * 2 * 5
    assert "blue" not in plain and "red" not in plain  # no legend of absent colours


# ---------------------------------------------------------------- theory, recommend


@pytest.mark.parametrize("columns", WIDTHS)
def test_theory_table_states_the_json_numbers(columns):
    args = [
        "theory",
        "--act",
        "tanh",
        "--weight-var",
        "1.5",
        "--bias-var",
        "0.05",
        "--depth",
        "100",
    ]
    text = run(args, columns)
    fits(text, columns)
    doc = strict_json(run([*args, "--format", "json"]))
    rows = table(text)
    assert len(rows) <= MAX_ROWS + 1
    for row in rows:
        layer = doc["layers"][int(row["layer"]) - 1]
        assert agrees(row["q = Var(h)"], layer["preact_var"])
        assert agrees(row["RMS(δ)"], layer["grad_rms"])
        if "chi" in row:
            assert agrees(row["chi"], layer["chi"], digits=4)


@pytest.mark.parametrize("columns", WIDTHS)
def test_recommend_fits_and_says_it_once(columns):
    text = run(["recommend", "--act", "silu"], columns)
    fits(text, columns)
    doc = strict_json(run(["recommend", "--act", "silu", "--format", "json"]))
    crits = table(text)
    assert len(crits) == len(doc["criteria"])
    for row, (name, c) in zip(crits, doc["criteria"].items(), strict=True):
        assert agrees(row["sigma_w^2"], c["sigma_w2"], digits=4), name
    inits = table(text, header_lines=2, start=text[: text.index("named initializers")].count("\n"))
    assert [r["init"].lstrip("+✓ ") for r in inits] == [i["init"] for i in doc["inits"]]
    sentences = [s.strip() for s in re.split(r"(?<=[.:;])\s", text) if len(s) > 40]
    assert len(sentences) == len(set(sentences))  # no paragraph twice
    assert len(text.split()) < 300


# ---------------------------------------------------------------- the registry


def every_result():
    """One result of every type a format renders, small."""
    import varprop
    from varprop.meanfield.phase import phase_diagram
    from varprop.sweep import Pair, Runs, run_pairs

    sim = varprop.simulate(depth=4, width=16, batch=8)
    pairs = [Pair("he", "relu"), Pair("xavier", "tanh")]
    groups = tuple(tuple(g) for g in run_pairs(pairs, seeds=2, depth=4, width=16, batch=8))
    labels = tuple(p.label for p in pairs)
    return {
        "simulate": sim,
        "seeds": Runs("seeds", groups[:1], labels[:1]),
        "compare": Runs("compare", groups, labels),
        "grid": Runs("grid", groups, labels, inits=("he",), acts=("relu", "tanh")),
        "theory": varprop.theory(act="tanh", depth=5),
        "recommend": varprop.recommend("relu", depth=5),
        "list": listing(),
        "phase": phase_diagram("tanh", weight_vars=(0.5, 1.0, 2.0), bias_vars=(0.0, 0.1)),
    }


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_renders_every_result(fmt):
    from rich.console import Console

    for name, result in every_result().items():
        out = render(result, fmt, View())
        if not isinstance(out, str):
            console = Console(file=io.StringIO(), width=80)
            console.print(out)
            out = console.file.getvalue()
        assert out.strip(), (fmt, name)
        if fmt == "json":
            assert strict_json(out) == result.to_dict()
        if fmt == "csv":
            assert len(list(csv.reader(io.StringIO(out)))) >= 2


def test_format_choices_come_from_the_registry():
    result = CliRunner().invoke(cli, ["simulate", "--format", "yaml"])
    assert result.exit_code == 2
    for name in FORMATS:
        assert name in result.stderr
        assert format_module(name).render


def test_cli_chooses_no_format_itself():
    source = Path(__file__).parents[1].joinpath("varprop", "cli.py").read_text()
    assert not re.search(r"fmt\s*==\s*[\"'](json|csv|table)", source)
    assert "render(result, fmt" in source  # the one call


def test_json_unchanged_by_the_registry():
    import varprop

    r = varprop.simulate(depth=4, width=16, batch=8)
    doc = strict_json(run(["simulate", "--depth", "4", "--width", "16", "--batch", "8",
                           "--format", "json"]))  # fmt: skip
    assert doc == r.to_dict()
    assert list(doc) == ["varprop_version", "config", "layers", "summary"]


# ---------------------------------------------------------------- layout


def test_columns_leave_whole_in_their_order():
    cols = [
        Column("name", ["he:relu", "xavier:tanh"], justify="left"),
        Column("value", ["1.23e-10", "4.5"]),
        Column("theory", ["1", "2"], drop=2),
        Column("extra", ["123456789"], drop=3),
    ]
    kept, dropped = fit(cols, 30)
    assert [c.header for c in kept] == ["name", "value", "theory"]
    assert [c.header for c in dropped] == ["extra"]
    console = Console(file=io.StringIO(), width=30)
    console.print(draw(cols, Screen(width=30)))
    text = console.file.getvalue()
    assert "1.23e-10" in text and "not shown at 30 columns: extra" in text
    assert all(len(line) <= 30 for line in text.splitlines())
    # Nothing can go: the table stays whole (wider than asked) rather than cut a number.
    text = draw(cols[:2], Screen(width=5)).plain
    assert "1.23e-10" in text and "xavier:tanh" in text


# ---------------------------------------------------------------- -o -, piping, completion


def test_output_dash_is_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = run(["simulate", "--depth", "3", *SMALL, "--format", "csv", "-o", "-"])
    assert text.startswith("pair,init,act,")
    assert not (tmp_path / "-").exists()


def test_piped_output_has_a_fixed_width_and_no_trailing_spaces():
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [sys.executable, "-m", "varprop", "compare", *PAIRS, "--depth", "8", *SMALL],
        capture_output=True, text=True, env=env, timeout=120,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    assert lines and all(line == line.rstrip() for line in lines)
    assert max(map(len, lines)) <= 100  # PIPE_WIDTH


@pytest.mark.parametrize(
    ("words", "expect"),
    [
        ("varprop simulate --act ge", {"gelu"}),
        ("varprop simulate --init xa", {"xavier", "xavier-uniform", "xavier-truncated"}),
        ("varprop compare he:ta", {"he:tanh"}),
        ("varprop grid --acts relu,si", {"relu,sigmoid", "relu,silu"}),
        ("varprop simulate --format j", {"json"}),
    ],
)
def test_completion_offers_registry_names(words, expect):
    env = {"_VARPROP_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}  # fmt: skip
    result = CliRunner().invoke(cli, [], env=env, prog_name="varprop")
    offered = {line.split(",", 1)[1] for line in result.output.splitlines() if "," in line}
    assert expect <= offered, offered


@pytest.mark.parametrize("columns", WIDTHS)
def test_compare_layers_split_pairs_over_tables_to_fit(columns):
    # Every pair keeps its columns; what does not fit goes to a further table.
    pairs = ["he:relu", "xavier:tanh", "he:relu@residual,layer"]
    args = ["compare", *pairs, "--layers", "--no-chart", "--depth", "6", *SMALL, "--seeds", "2"]
    text = run(args, columns)
    fits(text, columns)
    for pair in pairs:
        assert pair in text
    assert text.count("layer  ") >= (1 if columns == 200 else 2)
