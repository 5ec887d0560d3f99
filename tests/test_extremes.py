"""Numbers that never break: exact figures far outside float range, no nan/inf in any
format, repeatable bytes, Ctrl-C, and runs at the extremes of depth and width.

The long runs go to a subprocess with OPENBLAS_NUM_THREADS=1: on 2 cores OpenBLAS's own
threads fight the engine's weight-drawing threads and a depth-5000 run takes 20x longer
(see benchmarks/bench_extremes.py), which is a speed problem, not what these tests test.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from support import strict_json

import varprop
from varprop.activations import ACTIVATIONS, get_activation
from varprop.activations import LINEAR_BELOW as NEAR
from varprop.activations import LINEAR_BEYOND as FAR
from varprop.api import build
from varprop.cli import cli
from varprop.network import DTYPES, run, seeds_for
from varprop.render import View, render
from varprop.render.numbers import num, sci
from varprop.results import LAYER_FIELDS

NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
NAMES = sorted(ACTIVATIONS)


def varprop_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "varprop", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        check=False,
    )


def finite_text(text: str) -> bool:
    return not NON_FINITE.search(text.replace("infinite width", ""))


def raw_run(init, act, depth, width=16, batch=8, *, dtype="float32", inputs=None, seed=1):
    net, x0 = build(init, act, depth, width, batch, seed, dtype, None, None, 1.0, "fan_in", inputs)
    return run(net, seed=seed, inputs=x0, batch=batch)


# ---------------------------------------------------------------- the asymptotes


@pytest.mark.parametrize("name", [*NAMES, "leaky-relu:0.2", "elu:2.5"])
def test_every_activation_is_a_straight_line_outside_the_window(name):
    # The engine evaluates phi and phi' beyond 2**10 (and below 2**-60) from their
    # straight lines; this is the registry-wide contract that makes that exact.
    act = get_activation(name)
    with np.errstate(all="ignore"):
        edge = np.array([-FAR, FAR])
        f_edge, d_edge = act.fn(edge), act.derivative(edge)
        for k in (11, 12, 20, 60, 501, 1000):
            x = np.array([-(2.0**k), 2.0**k])
            assert np.array_equal(act.derivative(x), d_edge), k
            np.testing.assert_allclose(act.fn(x), d_edge * x + (f_edge - d_edge * edge), rtol=0)
        zero = np.array([-NEAR, NEAR])
        for k in (61, 62, 100, 501, 1000):
            x = np.array([-(2.0**-k), 2.0**-k])
            np.testing.assert_allclose(act.derivative(x), act.derivative(zero), rtol=1e-15)
            f0 = act.fn(np.zeros(1))[0]
            np.testing.assert_allclose(act.fn(x), f0 + act.derivative(zero) * x, rtol=1e-15)


# ---------------------------------------------------------------- exact in range


def reference(act_name, weight_var, depth, width, batch, seed, dtype):
    """A plain float64 forward/backward on the engine's own draws (no scaling at all)."""
    from varprop.initializers import get_initializer

    act, init = get_activation(act_name), get_initializer(weight_var)
    streams = seeds_for(seed, depth)
    rng = np.random.Generator(np.random.SFC64(streams["input"]))
    x = rng.standard_normal((batch, width), dtype=DTYPES[dtype]).astype(np.float64)
    ws = [
        init.sample(width, width, rng=np.random.Generator(np.random.SFC64(s)), dtype=DTYPES[dtype])
        for s in streams["weights"]
    ]
    ws = [w.astype(np.float64) for w in ws]
    probe = np.random.Generator(np.random.SFC64(streams["probe"]))
    g = probe.standard_normal((batch, width), dtype=DTYPES[dtype]).astype(np.float64)
    hs, a = [], x
    for w in ws:
        hs.append(a @ w)
        a = act.fn(hs[-1])
    delta = g * act.derivative(hs[-1])
    grad = [0.0] * depth
    for l in range(depth - 1, -1, -1):
        grad[l] = math.sqrt(np.mean(delta**2))
        if l:
            delta = (delta @ ws[l].T) * act.derivative(hs[l - 1])
    return [np.var(h) for h in hs], [np.var(act.fn(h)) for h in hs], grad


@pytest.mark.parametrize("act_name", [n for n in NAMES if not ACTIVATIONS[n].homogeneous])
@pytest.mark.parametrize("weight_var", [1e-6, 1e30])
def test_scaled_evaluation_matches_plain_float64_where_both_exist(act_name, weight_var):
    # Variances reach 1e-48 or beyond 1e+30 in 8 layers: far outside the band where phi
    # is applied directly (mean square 2**-60..2**60), still inside float64 for the
    # reference.  float64 runs: agreement to rounding.
    zero_at_zero = ACTIVATIONS[act_name].fn(np.zeros(1))[0] == 0
    if weight_var < 1 and not zero_at_zero:
        pytest.skip("phi(0) != 0 keeps h of order sqrt(weight_var): it does not vanish")
    depth, width, batch, seed = 8, 16, 8, 4
    r = varprop.simulate(
        init=weight_var, act=act_name, depth=depth, width=width, batch=batch, seed=seed,
        dtype="float64",
    )  # fmt: skip
    var, act_var, grad = reference(act_name, weight_var, depth, width, batch, seed, "float64")
    logs = [s.log10_preact_var for s in r.layers]
    assert max(abs(v) for v in logs) > 18.1  # the scaled path was taken
    for l, s in enumerate(r.layers):
        assert s.preact_var == pytest.approx(var[l], rel=1e-9)
        assert s.grad_rms == pytest.approx(grad[l], rel=1e-9)
        if zero_at_zero:  # else Var(a) may be far below mean(a)^2, lost in both
            assert s.act_var == pytest.approx(act_var[l], rel=1e-9)


# ---------------------------------------------------------------- exact beyond float64


@pytest.mark.parametrize(("act_name", "slope"), [("tanh", 1), ("hardtanh", 1), ("elu", 1),
                                                  ("gelu", 2), ("silu", 2)])  # fmt: skip
def test_vanishing_signal_is_exact_far_below_float64(act_name, slope):
    # Near 0, phi(h) = phi'(0) h.  With phi'(0) = 1/slope and weights `slope` times
    # larger (exact: a power of two), the stack computes slope * (the linear stack): every
    # variance differs by slope^2 and every gradient by 1/slope, down to 10^-1000.
    s = 1e-26
    depth = 40
    a = raw_run(s * slope**2, act_name, depth)
    b = raw_run(s, "linear", depth)
    assert a.overflow_layer is None
    assert a.log10_preact_var[-1] < -900  # far below float64's 1e-308
    shift = math.log10(slope)
    np.testing.assert_allclose(a.log10_preact_var, b.log10_preact_var + 2 * shift, atol=1e-6)
    np.testing.assert_allclose(a.log10_act_var, b.log10_act_var, atol=1e-6)
    np.testing.assert_allclose(a.log10_grad_rms, b.log10_grad_rms - shift, atol=1e-6)
    np.testing.assert_allclose(
        a.log10_weight_grad_norm, b.log10_weight_grad_norm - shift, atol=1e-6
    )


@pytest.mark.parametrize("act_name", ["gelu", "silu", "mish", "softplus", "elu"])
def test_exploding_signal_is_exact_far_above_float64(act_name):
    # Far out these activations are relu (to float64 precision): on inputs of order
    # 2**480 under naive init (x8 per layer) every figure equals relu's, which the engine
    # scales exactly, up to variances of 10^320 and beyond.
    x = np.random.default_rng(0).standard_normal((8, 16))
    big = np.ldexp(x, 480)  # beyond float32; its squares beyond float64
    a = raw_run("normal", act_name, 30, inputs=big)
    b = raw_run("normal", "relu", 30, inputs=big)
    assert a.overflow_layer is None
    assert a.log10_preact_var[-1] > 310
    for field in ("log10_preact_var", "log10_act_var", "log10_grad_rms", "log10_weight_grad_norm"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-9)
    np.testing.assert_array_equal(a.saturated_frac, b.saturated_frac)


def test_naive_init_keeps_every_figure_for_smooth_activations():
    # N(0, 1) weights multiply the variance by ~width/2 per layer: past float32 by layer
    # ~25.  These activations used to stop there with no gradient at all; now every
    # layer is stated.
    for act_name in ("gelu", "elu", "softplus", "selu", "mish", "silu"):
        r = varprop.simulate(init="normal", act=act_name, depth=80, width=64, batch=16)
        assert r.summary.overflow_layer is None
        assert r.summary.forward == "exploding"
        assert all(s.log10_preact_var is not None for s in r.layers)
        assert all(s.log10_grad_rms is not None for s in r.layers)
        assert r.layers[-1].log10_preact_var > 100


def test_raw_inputs_of_any_scale_shift_relu_exactly():
    # relu and zero bias: scaling the input by 2**k shifts every log10 variance by
    # 2k log10(2) and leaves the gradients bit for bit -- even where 2**k * x itself is
    # beyond float32 (the engine scales the batch by a power of two first).
    x = np.random.default_rng(3).standard_normal((8, 16))
    base = raw_run(2.0, "relu", 5, inputs=x)
    for k in (-480, -200, 200, 480):  # 2**480 ~ 3e144: as far as E[a_0^2] fits float64
        r = raw_run(2.0, "relu", 5, inputs=np.ldexp(x, k))
        np.testing.assert_allclose(
            r.log10_preact_var, base.log10_preact_var + 2 * k * math.log10(2), atol=1e-9
        )
        np.testing.assert_array_equal(r.log10_grad_rms, base.log10_grad_rms)


# ---------------------------------------------------------------- the commands


def test_xavier_relu_depth_5000_states_1e_minus_1582():
    args = ["simulate", "--init", "xavier", "--act", "relu", "--depth", "5000", "--width", "64"]
    out = varprop_cli(*args, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = strict_json(out.stdout)
    last = doc["layers"][-1]
    assert -1600 < last["log10_preact_var"] < -1500
    assert last["preact_var"] is None  # not a float64 number: stated in log10 only
    assert doc["summary"]["forward"] == "vanishing"
    assert doc["summary"]["overflow_layer"] is None

    table = varprop_cli(*args, "--every", "1000")
    assert table.returncode == 0, table.stderr
    assert sci(last["log10_preact_var"]) in table.stdout  # e.g. 3.76e-1583
    assert finite_text(table.stdout)

    rows = varprop_cli(*args, "--format", "csv")
    assert rows.returncode == 0
    assert finite_text(rows.stdout)
    last_row = list(csv.DictReader(io.StringIO(rows.stdout)))[-1]
    assert float(last_row["log10_preact_var"]) == last["log10_preact_var"]
    assert last_row["preact_var"] == ""


def test_normal_relu_depth_500_reports_the_explosion_with_figures():
    args = ["simulate", "--init", "normal", "--act", "relu", "--depth", "500"]
    out = varprop_cli(*args, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = strict_json(out.stdout)
    assert doc["summary"]["forward"] == "exploding"
    assert doc["summary"]["overflow_layer"] is None
    logs = [layer["log10_preact_var"] for layer in doc["layers"]]
    assert all(v is not None for v in logs)
    assert logs[-1] > 1000  # about 10^1200
    assert all(layer["log10_grad_rms"] is not None for layer in doc["layers"])
    table = varprop_cli(*args, "--every", "100")
    assert sci(logs[-1]) in table.stdout
    assert finite_text(table.stdout)


@pytest.mark.parametrize(
    "options",
    [
        {"init": "normal", "depth": 60},
        {"init": 1e-20, "depth": 60},
        {"init": "he", "depth": 40, "bias_std": 1e25},
        {"init": 1e30, "depth": 20},
        {"init": 0.0, "depth": 3},
    ],
    ids=["naive", "tiny", "huge-bias", "max-weight-var", "zero-weights"],
)
def test_no_nan_or_inf_in_any_format(options):
    for name in [*NAMES, "leaky-relu:3"]:
        r = varprop.simulate(act=name, width=16, batch=8, **options)
        text = render(r, "json")
        strict_json(text)
        assert finite_text(text), name
        assert finite_text(render(r, "csv")), name
        assert finite_text(_table_text(r)), name


def _table_text(result, every=1) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render(result, "table", View(every=every)))
    return console.file.getvalue()


# ---------------------------------------------------------------- repeatable


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_bytes_across_runs_and_processes(dtype):
    args = ["simulate", "--init", "torch-default", "--act", "gelu", "--depth", "30"]
    args += ["--width", "96", "--batch", "32", "--seed", "11", "--dtype", dtype]
    args += ["--format", "json"]
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)
    other = varprop_cli(*args)
    assert first.exit_code == 0
    assert first.stdout_bytes == second.stdout_bytes
    assert first.stdout == other.stdout
    seed12 = CliRunner().invoke(cli, [*args, "--seed", "12"])
    assert seed12.stdout != first.stdout


def test_table_json_and_csv_state_the_same_numbers():
    r = varprop.simulate(init="xavier", act="tanh", depth=12, width=32, batch=16, seed=5)
    doc = strict_json(render(r, "json"))
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    assert len(rows) == len(doc["layers"])
    for row, layer in zip(rows, doc["layers"], strict=True):
        for field in LAYER_FIELDS:
            value = layer[field]
            assert row[field] == ("" if value is None else repr(value)), field
    table = _table_text(r).splitlines()
    for layer in doc["layers"]:
        line = next(t for t in table if t.split() and t.split()[0] == str(layer["layer"]))
        cells = line.split()
        assert sci(layer["log10_preact_var"]) in cells
        assert sci(layer["log10_grad_rms"]) in cells
        assert num(layer["act_mean"]) in cells


# ---------------------------------------------------------------- Ctrl-C


def interrupt(args: list[str], after: float = 1.5) -> tuple[int, str, str, float]:
    """Start ``python -m varprop ARGS``, send SIGINT, return (status, out, err, seconds)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "varprop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    time.sleep(after)
    assert child.poll() is None, "finished before the interrupt: make the run longer"
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return child.returncode, out, err, time.perf_counter() - sent


LONG = ["--depth", "3000", "--width", "512"]


def test_ctrl_c_exits_130_with_one_line():
    status, out, err, _ = interrupt(["simulate", *LONG])
    assert status == 130
    assert err == "Interrupted.\n"
    assert out == ""


def test_ctrl_c_leaves_an_existing_output_file_intact(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("the old result\n")
    status, _, err, _ = interrupt(["simulate", *LONG, "--format", "json", "-o", str(target)])
    assert status == 130
    assert err == "Interrupted.\n"
    assert target.read_text() == "the old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temp file


@pytest.mark.parametrize("command", [["compare", "he:relu", "he:tanh"], ["grid"]])
def test_ctrl_c_does_not_wait_for_weight_drawing_threads(command):
    # The engine draws every layer's weights ahead in two threads; an interrupted run
    # must cancel the draws not started, or exit waits for all 3000 of them (~6 s).
    status, _, err, seconds = interrupt([*command, *LONG])
    assert status == 130
    assert err == "Interrupted.\n"
    assert seconds < 3


# ---------------------------------------------------------------- deep and wide


@pytest.mark.parametrize(("depth", "width"), [(10000, 64), (10, 4096)])
def test_deep_and_wide_runs_complete(depth, width):
    # Completion, not speed: bench_extremes.py measures time and memory.
    out = varprop_cli("simulate", "--depth", str(depth), "--width", str(width), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == depth
    assert all(row["log10_preact_var"] and row["log10_grad_rms"] for row in rows)
