"""Every bad value of every option of every command: exit 2 (usage), one
``Error:`` line on stderr, never a traceback.

The table is generated from the commands themselves (``cli.commands`` and each option's
click type), so commands added later (theory, recommend, ...) are covered as soon as
they exist; the expected exit code comes from the option's type, with the exceptions
listed in EXPECTED.

What stderr may hold: click prints its usage header (``Usage: ...`` and ``Try ...``)
before a usage error, and then exactly one ``Error: ...`` line; nothing else.
"""

from __future__ import annotations

import io
import math
import re
import sys
from contextlib import redirect_stderr, redirect_stdout

import click
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support import strict_json

from varprop import cli as cli_module
from varprop.cli import cli

HUGE = str(10**30)
SMALL = {"--depth": "2", "--width": "4", "--batch": "4"}  # keeps accidental runs instant
NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def run_main(args: list[str]) -> tuple[int, str, str]:
    """varprop's real entry point (cli.main) in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["varprop", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli_module.main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    """The Error: lines; fails on anything else but click's usage header."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    others = [line for line in lines if not line.startswith(("Error:", "Usage:", "Try "))]
    assert not others, stderr
    return [line for line in lines if line.startswith("Error:")]


# ---------------------------------------------------------------- the table


def values_for(param: click.Parameter, tmp: str, samples: bool) -> list[tuple[str, set[int]]]:
    """Bad values for one option, from its type: (value, allowed exit codes).

    ``samples``: the command draws arrays (it has --batch).  Sizes and weight variances
    that only a sampled run cannot hold are then usage errors; a command that only
    computes theory may take them.
    """
    t, name = param.type, param.name
    usage = {2}
    sized = usage if samples else {0, 2}
    if isinstance(t, click.IntRange):
        low = t.min if t.min is not None else 0
        vals = ["abc", "", "1.5", "1e3", str(low - 1), "-7", "0x10"]
        cases = [(v, usage) for v in vals]
        if name in ("depth", "seeds"):
            cases.append((HUGE, usage))  # refused by a bound, never run
        if name in ("width", "batch"):
            cases.append((HUGE, sized))  # refused by the memory check
        return cases
    if isinstance(t, cli_module.FiniteFloat):
        vals = ["abc", "", "nan", "NaN", "inf", "-inf", "infinity", "1e400", "-1e400"]
        if t.minimum is not None:
            vals.append(str(t.minimum - 1))
        if t.strict:
            vals.append(str(t.minimum))
        cases = [(v, usage) for v in vals]
        if name in ("weight_var", "bias_std"):
            cases.append(("1e300", sized))  # above what float32 weights/biases can hold
        return cases
    if isinstance(t, cli_module.RegistryName):
        vals = ["bogus", "", " ", "relu-ish", "he-bogus", "leaky-relu:x", "leaky-relu:-1"]
        vals += ["leaky-relu:nan", "relu:2", "-1", "nan", "inf"]
        return [(v, usage) for v in vals] + [("1e300", sized), ("1e-300", sized)]
    if isinstance(t, click.Choice):
        return [(v, usage) for v in ["bogus", "", str(t.choices[0]).upper() + "X"]]
    if isinstance(t, cli_module.IntList):
        vals = ["a,b", "", "0", "-1", "4,0", "1,,2", "4;4"]
        return [(v, usage) for v in vals] + [(HUGE, sized)]
    if isinstance(t, cli_module.ByteSize):
        vals = ["lots", "", "-1", "0", "nan", "inf", "1e400", "5XB", "1", "1KiB"]
        return [(v, usage) for v in vals]
    if name == "output":  # checked before the run: a usage error
        return [(v, usage) for v in ["/nonexistent-dir/x.json", tmp, "", " ", "\x00", "/dev/null"]]
    if name == "input":
        return [(v, usage) for v in ["bogus", "", "missing.csv", "missing.npy", tmp, "/"]]
    if name in ("inits", "acts"):
        return [(v, usage) for v in ["bogus", "", "he,,xavier", ",", "relu:2", "nan"]]
    # A type this table does not know (a command added later): values no command should
    # take, checked for the exit code range and the one-line rule only.
    return [(v, {2}) for v in ["\x00", "", "nan", "-1e400"]]


def bad_cases() -> list[tuple[str, list[str], set[int]]]:
    """(id, argv, allowed exit codes) for every option of every command."""
    cases = []
    tmp = "/tmp"
    for cmd_name, cmd in sorted(cli.commands.items()):
        own = {o for p in cmd.params for o in p.opts}
        small = [x for k, v in SMALL.items() if k in own for x in (k, v)]
        positional = _valid_positional(cmd_name)
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.is_flag:
                continue
            opt = param.opts[0]
            for value, codes in values_for(param, tmp, samples="--batch" in own):
                args = [cmd_name, *positional, *small, opt, value]
                cases.append((f"{cmd_name} {opt} {value!r}", args, codes))
        cases.append((f"{cmd_name} --bogus", [cmd_name, *positional, "--bogus"], {2}))
        cases.append((f"{cmd_name} extra", [cmd_name, *positional, *small, "extra"], {2}))
    if "compare" in cli.commands:
        pairs = ["he", "he:", ":relu", "bogus:relu", "he:bogus", "he:relu:2", "", ":"]
        pairs += ["he:leaky-relu:nan", "nan:relu", "inf:tanh", "-1:relu", "1e300:relu"]
        for pair in pairs:
            args = ["compare", "he:relu", pair, *[x for kv in SMALL.items() for x in kv]]
            cases.append((f"compare pair {pair!r}", args, {2}))
        cases.append(("compare no pairs", ["compare"], {2}))
    cases.append(("no command", ["bogus-command"], {2}))
    return cases


def _valid_positional(cmd_name: str) -> list[str]:
    return ["he:relu"] if cmd_name == "compare" else []


CASES = bad_cases()


@pytest.mark.parametrize(("args", "codes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_is_one_error_line_and_no_traceback(args, codes):
    code, out, err = run_main(args)
    assert code in codes, (code, out, err)
    if code == 0:  # a value only some commands refuse (see values_for)
        assert error_lines(err) == []
        return
    assert len(error_lines(err)) == 1, err
    assert out == ""  # nothing on stdout when it fails


def test_the_table_covers_every_option_of_every_command():
    covered = {c[1][0] for c in CASES}
    assert covered >= set(cli.commands)
    for name, cmd in cli.commands.items():
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.is_flag:
                assert any(param.opts[0] in c[1] for c in CASES if c[1][0] == name), param


def test_sizes_that_would_not_fit_state_estimate_and_limit():
    code, _, err = run_main(["simulate", "--depth", "100000", "--width", "100000"])
    assert code == 2
    (line,) = error_lines(err)
    assert re.search(r"needs about [\d,.]+ TiB \(weights .*\) but the limit is [\d.]+ GiB", line)


def test_max_memory_lowers_the_limit():
    args = ["simulate", "--depth", "10", "--width", "256", "--batch", "64", "--format", "json"]
    assert run_main(args)[0] == 0  # fits by default
    code, _, err = run_main([*args, "--max-memory", "1MiB"])
    assert code == 2
    (line,) = error_lines(err)
    assert "Invalid value for '--width'" in line  # weights dominate: width^2 x depth
    assert re.search(r"needs about [\d.]+ MiB .* but the limit is 1 MiB", line)


def test_depth_counts_python_bookkeeping_too():
    # Width 1 costs almost nothing in arrays; a million layers of records is 8 GiB.
    code, _, err = run_main(
        ["simulate", "--depth", "1000000", "--width", "1", "--max-memory", "1GiB"]
    )
    assert code == 2
    assert "records" in error_lines(err)[0]


def test_unwritable_output_leaves_nothing_behind(tmp_path):
    target = tmp_path / "sub"
    target.mkdir()
    target.chmod(0o500)  # read and enter, no writing
    try:
        args = ["simulate", *sum(SMALL.items(), ()), "-o", str(target / "x.json")]
        code, _, err = run_main(args)
    finally:
        target.chmod(0o700)
    if code == 0:  # root writes anywhere
        pytest.skip("running as root: permissions are not enforced")
    assert code == 2
    assert error_lines(err) == [
        f"Error: Invalid value for '--output': cannot write {target / 'x.json'}: "
        f"the directory {target} is not writable"
    ]
    assert list(target.iterdir()) == []


# ---------------------------------------------------------------- fuzzing

NO_DIGITS = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=8)
JUNK = st.sampled_from(["", "nan", "inf", "-inf", "1e400", HUGE, "-1", "0", "abc", "1,2"])
FLOATS = st.floats(allow_nan=True, allow_infinity=True).map(repr)
SIZE = st.one_of(st.integers(-3, 4).map(str), NO_DIGITS, JUNK)  # never a large valid size


def option_values(files: dict[str, str]):
    names = ["he", "xavier", "lecun", "normal", "orthogonal", "torch-default", "1.5", "relu"]
    acts = ["relu", "tanh", "gelu", "sigmoid", "selu", "leaky-relu:0.2", "elu:2", "he"]
    return {
        "--init": st.one_of(st.sampled_from(names), FLOATS, st.text(max_size=10)),
        "--act": st.one_of(st.sampled_from(acts), st.text(max_size=10)),
        "--weight-var": st.one_of(FLOATS, st.text(max_size=6)),
        "--depth": SIZE,
        "--width": SIZE,
        "--widths": st.one_of(st.lists(st.integers(-2, 5), max_size=3).map(_joined), JUNK),
        "--batch": SIZE,
        "--seed": st.one_of(st.integers(-5, 10**40).map(str), JUNK, NO_DIGITS),
        "--bias-std": st.one_of(FLOATS, JUNK),
        "--dtype": st.one_of(st.sampled_from(["float32", "float64"]), st.text(max_size=8)),
        "--gain": st.one_of(FLOATS, JUNK),
        "--fan-mode": st.one_of(st.sampled_from(["fan_in", "fan_out"]), st.text(max_size=8)),
        "--max-memory": st.one_of(st.sampled_from(["1", "1KiB", "4GiB", "1e400"]), NO_DIGITS),
        "--input": st.one_of(st.sampled_from(list(files.values())), st.text(max_size=12)),
        "--every": SIZE,
        "--format": st.one_of(st.sampled_from(["table", "json", "csv"]), st.text(max_size=6)),
        "--output": st.sampled_from([files["out"], "/nonexistent-dir/x.csv", "/tmp"]),
    }


def _joined(items: list[int]) -> str:
    return ",".join(str(i) for i in items)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    good, bad = d / "good.csv", d / "bad.csv"
    good.write_text("a,b,c\n1,2,3\n4,5,7\n0,1,1\n")
    bad.write_text("1,2\n3\n")
    return {"good": str(good), "bad": str(bad), "normal": "normal", "out": str(d / "o.json")}


@settings(deadline=None, derandomize=True, max_examples=60)
@given(data=st.data())
def test_fuzzed_simulate_options_never_crash(files, data):
    strategies = option_values(files)
    chosen = data.draw(st.lists(st.sampled_from(sorted(strategies)), max_size=3, unique=True))
    args = ["simulate", *sum(SMALL.items(), ())]
    for opt in chosen:
        args += [opt, data.draw(strategies[opt], label=opt)]
    code, out, err = run_main(args)
    event(f"exit {code}")
    assert code in (0, 2), (args, code, err)
    errors = error_lines(err)  # and no traceback
    if code:
        assert len(errors) == 1, (args, err)
        return
    assert not errors
    assert not NON_FINITE.search(out.replace("infinite width", "")), out
    if "json" in args and "--output" not in args:
        strict_json(out)


def testrefuse_constant_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        strict_json('{"x": NaN}')
    assert math.isfinite(strict_json('{"x": 1e300}')["x"])
