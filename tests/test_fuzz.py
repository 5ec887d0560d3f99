"""Hostile command lines over every option of every command (hypothesis, in-process).

Each example is a command and a few of its options, each given a value from one of
the classes the fuzz of issue 11 used: small valid values, huge integers (10**30,
10**200, 10**400), floats beyond float64, negatives, nan/inf spellings, empty strings,
unicode, bad paths.  Every run must end in exit 0 with sane output (no nan/inf, JSON
that a strict parser reads) or exit 2 with exactly one ``Error:`` line: never a
traceback, never another status.  Sizes stay small (--depth 2 --width 4 --batch 4
first, and valid values small), so the whole fuzz takes seconds.
"""

from __future__ import annotations

import re

import click
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import strict_json

from varprop import cli as cli_module
from varprop.cli import cli

HUGE = [str(10**30), str(10**200), str(10**400), str(2**63), str(-(10**30))]
BEYOND = ["1e400", "-1e400", "1e309", "2e308", "1" + "0" * 400 + ".5"]
NON_FINITE = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "+inf", "1e-400"]
JUNK = ["", " ", "-1", "0", "abc", "1,2", "é", "δ", "\u202e1", "1_0", "0x10", "１"]
PATHS = ["/nonexistent-dir/x.csv", "/tmp", "/", "/dev/null", "-", "missing.npy", "x\udcff.csv"]
SMALL = {"--depth": "2", "--width": "4", "--batch": "4"}
NAN_OR_INF = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)

ANY_BAD = st.sampled_from(HUGE + BEYOND + NON_FINITE + JUNK + PATHS)
UNICODE = st.text(max_size=6)


def int_values(param: click.Parameter) -> st.SearchStrategy[str]:
    small = st.integers(-2, 5).map(str)
    return st.one_of(small, small, st.sampled_from(HUGE), ANY_BAD, UNICODE)


def float_values() -> st.SearchStrategy[str]:
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    nice = st.sampled_from(["0", "0.5", "1", "1.5", "2", "1e-30", "1e30", "1e300"])
    return st.one_of(nice, floats, ANY_BAD, UNICODE)


def strategy_for(param: click.Parameter, files: dict[str, str]) -> st.SearchStrategy[str]:
    t, name = param.type, param.name
    if isinstance(t, click.IntRange):
        return int_values(param)
    if isinstance(t, cli_module.FiniteFloat):
        return float_values()
    if isinstance(t, cli_module.ByteSize):
        sizes = ["1", "1KiB", "64MiB", "4GiB", "1e300", "1e400", "5XB", "-1GiB", "nanGiB"]
        return st.one_of(st.sampled_from(sizes), ANY_BAD, UNICODE)
    if isinstance(t, click.Choice):
        return st.one_of(st.sampled_from(list(t.choices)), ANY_BAD, UNICODE)
    if isinstance(t, cli_module.RegistryName):
        names = ["he", "xavier", "orthogonal", "torch-default", "relu", "tanh", "gelu"]
        names += ["leaky-relu:0.2", "elu:1e300", "leaky-relu:1e39", "1.5", "1e30", "0"]
        return st.one_of(st.sampled_from(names), ANY_BAD, UNICODE)
    if isinstance(t, cli_module.IntList):
        lists = st.lists(st.one_of(st.integers(-1, 5).map(str), ANY_BAD), max_size=3)
        return st.one_of(lists.map(",".join), ANY_BAD)
    if isinstance(t, cli_module.NameList):
        good = ["he", "xavier", "1.5", "relu", "tanh", "selu"]
        return st.lists(st.one_of(st.sampled_from(good), ANY_BAD), max_size=3).map(",".join)
    if name == "input":
        return st.one_of(st.sampled_from(list(files.values())), ANY_BAD, UNICODE)
    if name == "output":
        return st.one_of(st.sampled_from([files["out"], files["good"]]), ANY_BAD, UNICODE)
    return st.one_of(ANY_BAD, UNICODE)


PAIRS = st.one_of(
    st.sampled_from(["he:relu", "xavier:tanh", "1.5:tanh", "he:leaky-relu:0.2", "orthogonal:gelu"]),
    st.tuples(ANY_BAD, ANY_BAD).map(":".join),
    ANY_BAD,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """The fuzz's files, and its working directory: an --output of "NaN" or "{" is a
    valid file name, written where the test runs, so it runs in a directory of its own."""
    import os

    import numpy as np

    d = tmp_path_factory.mktemp("fuzz")
    here = os.getcwd()
    os.chdir(d)
    (d / "good.csv").write_text("a,b,c\n1,2,3\n4,5,7\n0,1,1\n")
    (d / "bad.csv").write_text("1,2\n3\n")
    np.save(d / "good.npy", np.arange(12.0).reshape(4, 3) ** 2)
    yield {
        "good": str(d / "good.csv"),
        "bad": str(d / "bad.csv"),
        "npy": str(d / "good.npy"),
        "normal": "normal",
        "uniform": "uniform",
        "out": str(d / "out.txt"),
    }
    os.chdir(here)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    others = [line for line in lines if not line.startswith(("Error:", "Usage:", "Try "))]
    assert not others, stderr
    return [line for line in lines if line.startswith("Error:")]


@settings(
    deadline=None,
    derandomize=True,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_hostile_command_lines_end_in_0_or_one_error_line(files, data):
    name = data.draw(st.sampled_from(sorted(cli.commands)), label="command")
    cmd = cli.commands[name]
    options = [p for p in cmd.params if isinstance(p, click.Option)]
    own = {o for p in options for o in p.opts}
    args = [name, *(x for k, v in SMALL.items() if k in own for x in (k, v))]
    if name == "compare":
        args += data.draw(st.lists(PAIRS, min_size=1, max_size=3), label="pairs")
    chosen = data.draw(st.lists(st.sampled_from(options), max_size=4, unique_by=id))
    for param in chosen:
        if param.is_flag:
            args.append(param.opts[0] if param.opts else param.secondary_opts[0])
        else:
            args += [param.opts[0], data.draw(strategy_for(param, files), label=param.name)]
    result = click.testing.CliRunner().invoke(cli, args)
    event(f"{name} exit {result.exit_code}")
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output, result.exception)
    errors = error_lines(result.stderr)
    if result.exit_code == 2:
        assert len(errors) == 1, (args, result.stderr)
        return
    assert not errors
    out = result.stdout.replace("infinite width", "").replace("(infinite", "")
    assert not NAN_OR_INF.search(out), (args, out)
    if "json" in args and "--output" not in args and "-o" not in args:
        strict_json(result.stdout)
