"""Outputs that protect the user's files, and a terminal that cannot take everything
(varprop/output.py): refused targets are usage errors (exit 2) found before the run;
stdout that cannot encode Unicode gets ASCII; a closed or full stdout is one line."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from varprop.cli import cli
from varprop.output import asciify, check_target

SMALL = ["--depth", "2", "--width", "4", "--batch", "8"]
ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_refused_targets_are_found_before_the_run(tmp_path, monkeypatch):
    import varprop.api

    def never(*a, **k):
        raise AssertionError("the run started")

    monkeypatch.setattr(varprop.api, "run", never)
    cases = {
        str(tmp_path / "missing" / "x.json"): "does not exist",
        str(tmp_path): "directory",
        "/dev/null": "special file",
        str(tmp_path / ("x" * 300)): "bytes",
        "": "empty",
    }
    for target, why in cases.items():
        line = one_error(invoke("simulate", *SMALL, "-o", target))
        assert "'--output'" in line and why in line, line


def test_the_input_file_is_never_overwritten(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("a,b\n1,2\n3,5\n0,1\n")
    line = one_error(invoke("simulate", *SMALL[:4], "--input", str(data), "-o", str(data)))
    assert "it is the input file" in line
    assert data.read_text() == "a,b\n1,2\n3,5\n0,1\n"
    link = tmp_path / "link.csv"
    link.symlink_to(data)  # the same file by another name
    one_error(invoke("simulate", *SMALL[:4], "--input", str(data), "-o", str(link)))


def test_dash_is_stdout():
    result = invoke("list", "--format", "json", "-o", "-")
    assert result.exit_code == 0 and result.stdout.startswith("{")
    assert not os.path.exists("-")


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("old")
    old.chmod(0o644)
    assert invoke("list", "-o", str(old)).exit_code == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o644
    mask = os.umask(0o022)
    try:
        assert invoke("list", "-o", str(tmp_path / "new.txt")).exit_code == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_a_link_stays_a_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert invoke("list", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and "initializers" in real.read_text()


def test_undecodable_file_names_are_written_as_given(tmp_path):
    base = os.fsencode(tmp_path)
    data, out = base + b"/in\xff.csv", base + b"/out\xfe.txt"
    with open(data, "wb") as f:
        f.write(b"a,b\n1,2\n3,5\n0,1\n")
    args = ["simulate", *SMALL[:4], "--input", os.fsdecode(data), "-o", os.fsdecode(out)]
    assert invoke(*args).exit_code == 0
    with open(out, "rb") as f:
        assert b"in\xff.csv" in f.read()  # the user's own bytes, back as they were
    assert check_target(os.fsdecode(out)) == os.fsdecode(out)


def test_asciify_keeps_columns_aligned():
    cells = [("σ_w² 2", "±0.1", "x²"), ("he", "δ", "1")]
    table = "\n".join("│ " + "│ ".join(c.ljust(10) for c in row) + "│" for row in cells)
    lines = asciify(table).splitlines()
    assert all(line.isascii() for line in lines)
    assert len(lines[0]) == len(lines[1]) == len(table.splitlines()[0])
    assert asciify("‖dL/dW‖ ✓ ★ x²") == "|dL/dW| + * x^2"


def run(args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "varprop", *args], capture_output=True, env=kw.pop("env", ENV),
        **kw,
    )  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}],
)
@pytest.mark.parametrize("command", [["simulate"], ["compare", "he:relu", "xavier:tanh"], ["grid"]])
def test_an_ascii_terminal_gets_ascii(env, command):
    result = run([*command, *SMALL], env={**ENV, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii() and b"relu" in result.stdout
    assert result.stderr == b""


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_full_stdout_is_one_line_and_exit_2(fmt):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "varprop", "simulate", *SMALL, "--format", fmt],
            stdout=full, stderr=subprocess.PIPE, env=ENV,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == b"Error: cannot write to stdout: No space left on device\n"


def test_a_closed_stdout_is_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "varprop", "simulate", *SMALL],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == b"Error: cannot write to stdout: it is closed\n"


def test_two_quick_ctrl_c_still_exit_130_with_one_line():
    child = subprocess.Popen(
        [sys.executable, "-m", "varprop", "simulate", "--depth", "3000", "--width", "256"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    time.sleep(1.5)
    child.send_signal(signal.SIGINT)
    time.sleep(0.002)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err == b"Interrupted.\n"
