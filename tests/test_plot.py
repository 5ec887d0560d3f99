"""The plot format (``--plot PATH``): figures checked by content, not by pixels.

Every curve, band, heat-map cell and bar is read back from matplotlib's artists and
compared with the result's own numbers; the CLI is run for every command and file type
on tiny stacks, and the files are checked by their headers (PNG size from IHDR), by
parsing (SVG) and by what is refused before any work.
"""

import dataclasses
import os
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from support import invoke

import varprop
from varprop.listing import Listing, listing
from varprop.meanfield.phase import phase_diagram
from varprop.render import ALL_FORMATS, FIGURES, FORMATS, View, render
from varprop.render import plot as plotting
from varprop.render.terms import SHORT
from varprop.sweep import Pair, Runs, is_matched, run_pairs

TINY = ("--depth", "6", "--width", "16", "--batch", "8")
SIZE = {"depth": 6, "width": 16, "batch": 8}
HINT = 'pip install "varprop[plot]"'


def _runs(kind, pairs, seeds=1, **grid):
    groups = run_pairs(pairs, seeds=seeds, **SIZE)
    return Runs(kind, tuple(map(tuple, groups)), tuple(p.label for p in pairs), **grid)


@pytest.fixture(scope="module")
def results():
    inits, acts = ("he", "xavier"), ("relu", "tanh")
    return {
        "simulate": varprop.simulate(init="xavier", act="relu", **SIZE),
        "compare": _runs("compare", [Pair("he", "relu"), Pair("xavier", "tanh")], seeds=3),
        "seeds": _runs("seeds", [Pair("he", "relu")], seeds=3),
        "grid": _runs("grid", [Pair(i, a) for i in inits for a in acts], inits=inits, acts=acts),
        "theory": varprop.theory(act="tanh", weight_var=1.5, bias_var=0.05, depth=20),
        "recommend": varprop.recommend("tanh", depth=20),
        "list": listing(),
        "phase": phase_diagram(
            "tanh", weight_vars=(0.5, 1.0, 1.5, 2.0), bias_vars=(0.0, 0.05, 0.1)
        ),
    }


def _line(ax, label: str):
    (line,) = [x for x in ax.get_lines() if x.get_label() == label]
    return line.get_xydata()


def _stated(xs, ys):
    return np.array([(x, y) for x, y in zip(xs, ys, strict=True) if y is not None])


def _legend(ax) -> str:
    return "\n".join(t.get_text() for t in ax.get_legend().get_texts())


# ---------------------------------------------------------------- the registry


def test_plot_is_a_format_but_not_a_format_choice():
    assert set(FORMATS) == {"table", "json", "csv"}
    assert set(FIGURES) == {"plot"} and ALL_FORMATS == FORMATS | FIGURES
    r = invoke("simulate", "--format", "plot", *TINY)
    assert r.exit_code == 2 and "'plot' is not one of" in r.stderr


def test_every_format_renders_every_result_type(results):
    from matplotlib.figure import Figure

    for fmt in ALL_FORMATS:
        for name, result in results.items():
            if fmt in FIGURES and isinstance(result, Listing):
                with pytest.raises(TypeError, match="no plot for Listing"):
                    render(result, fmt)
                continue
            out = render(result, fmt, View())
            assert isinstance(out, Figure) == (fmt in FIGURES), (fmt, name)


# ---------------------------------------------------------------- figures by content


def test_simulate_draws_the_measured_and_theory_curves(results):
    r = results["simulate"]
    fig = plotting.figure(r)
    var_ax, grad_ax = fig.axes
    layers = [x.layer for x in r.layers]
    s = r.summary
    for ax, measured, theory, word in (
        (var_ax, "log10_preact_var", "log10_theory_preact_var", s.forward),
        (grad_ax, "log10_grad_rms", "log10_theory_grad_rms", s.backward),
    ):
        lines = ax.get_lines()
        assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
        want = _stated(layers, [getattr(x, measured) for x in r.layers])
        np.testing.assert_array_equal(lines[0].get_xydata(), want)
        want = _stated(layers, [getattr(x, theory) for x in r.layers])
        np.testing.assert_array_equal(lines[1].get_xydata(), want)
        assert f"measured: {word}" in _legend(ax)
    title = fig._suptitle.get_text()
    for part in ("xavier + relu", "depth 6", "width 16", "batch 8", "seed 0", "float32"):
        assert part in title
    assert "sigma_w^2 1" in title and "bias std 0" in title


def test_histograms_draw_each_layers_share_per_bin():
    r = varprop.simulate(init="normal", act="tanh", hist_layers=(1, 6), **SIZE)
    fig = plotting.figure(r)
    *_, hist_h, hist_a, hist_delta = fig.axes
    hist_axes = [hist_h, hist_a, hist_delta]
    assert len(fig.axes) == 5
    for ax, quantity in zip(hist_axes, ("h", "a", "delta"), strict=True):
        hists = [h for h in r.histograms if h.quantity == quantity]
        steps = ax.patches
        assert len(steps) == len(hists) == 2
        for step, h in zip(steps, hists, strict=True):
            values, edges, _ = step.get_data()
            total = sum(h.counts) + h.outside
            np.testing.assert_allclose(values, np.array(h.counts) / total, rtol=1e-12)
            np.testing.assert_array_equal(edges, h.edges)
            assert f"layer {h.layer}" == step.get_label()
    # N(0, 1) weights pin tanh at +-1: the outer bins of a hold most of the values.
    values = hist_axes[1].patches[0].get_data()[0]
    assert values[0] + values[-1] > 0.5


def test_a_value_that_cannot_be_stated_is_left_out_not_drawn(results):
    r = results["simulate"]
    gap = dataclasses.replace(r.layers[2], log10_preact_var=None)
    r = dataclasses.replace(r, layers=(*r.layers[:2], gap, *r.layers[3:]))
    xs = plotting.figure(r).axes[0].get_lines()[0].get_xydata()[:, 0]
    assert list(xs) == [1, 2, 4, 5, 6]


@pytest.mark.parametrize("kind", ["compare", "seeds"])
def test_runs_draw_the_mean_band_and_theory_of_every_pair(results, kind):
    runs = results[kind]
    fig = plotting.figure(runs)
    var_ax, grad_ax = fig.axes
    for agg, label in zip(runs.aggregates, runs.labels, strict=True):
        layers = [b.layer for b in agg.layers]
        for ax, field, theory, word in (
            (var_ax, "log10_preact_var", "log10_theory_preact_var", agg.forward),
            (grad_ax, "log10_grad_rms", "log10_theory_grad_rms", agg.backward),
        ):
            bands = [getattr(b, field) for b in agg.layers]
            (mean,) = [x for x in ax.get_lines() if x.get_label().startswith(label + " (")]
            np.testing.assert_allclose(mean.get_xydata(), _stated(layers, [b.mean for b in bands]))
            assert mean.get_label().endswith(f": {word}") and mean.get_label() in _legend(ax)
            want = _stated(layers, [getattr(b, theory) for b in agg.layers])
            np.testing.assert_array_equal(_line(ax, f"_theory {label}"), want)
            (band,) = [c for c in ax.collections if c.get_label() == f"_band {label}"]
            vertices = band.get_paths()[0].vertices
            for x, b in zip(layers, bands, strict=True):
                for y in (b.min, b.max):
                    assert np.isclose(vertices, (x, y)).all(axis=1).any(), (label, x, y)
        assert f"min-max, {runs.seeds} seeds" in _legend(var_ax)
    title = fig._suptitle.get_text()
    assert "seeds 0–2" in title and "depth 6, width 16, batch 8" in title


def test_one_seed_has_no_band():
    runs = _runs("compare", [Pair("he", "relu")])
    assert all(not ax.collections for ax in plotting.figure(runs).axes)


def test_grid_maps_both_ratios_with_verdicts_and_literature_pairs(results):
    runs = results["grid"]
    fig = plotting.figure(runs)
    aggs, n_a = runs.aggregates, len(runs.acts)
    for ax, field, word in (
        (fig.axes[0], "log10_preact_var_ratio", "forward"),
        (fig.axes[1], "log10_grad_rms_ratio", "backward"),
    ):
        (image,) = ax.images
        want = np.array([getattr(a, field).mean for a in aggs], dtype=float).reshape(-1, n_a)
        np.testing.assert_array_equal(image.get_array(), want)
        assert image.norm.vmin == -image.norm.vmax > -plotting.GRID_CLIP - 1e-9
        texts = [t.get_text() for t in ax.texts]
        for a, text in zip(aggs, texts, strict=True):
            value = getattr(a, field).mean
            assert text == f"{value:+.1f}\n{SHORT[getattr(a, word)]}"
        boxed = {p.get_label().removeprefix("_matched ") for p in ax.patches}
        want = {f"{i}:{a}" for i in runs.inits for a in runs.acts if is_matched(i, a)}
        assert boxed == want == {"he:relu", "xavier:tanh"}
        assert [t.get_text() for t in ax.get_xticklabels()] == list(runs.acts)
        assert [t.get_text() for t in ax.get_yticklabels()] == list(runs.inits)


def test_theory_draws_q_chi_and_the_gradient(results):
    r = results["theory"]
    s = r.summary
    fig = plotting.figure(r)
    q_ax, chi_ax, grad_ax = fig.axes
    layers = [t.layer for t in r.layers]
    for ax, values in (
        (q_ax, [t.log10_preact_var for t in r.layers]),
        (chi_ax, [t.chi for t in r.layers]),
        (grad_ax, [t.log10_grad_rms for t in r.layers]),
    ):
        np.testing.assert_array_equal(ax.get_lines()[0].get_xydata(), _stated(layers, values))
    q_star = q_ax.get_lines()[1].get_ydata()
    np.testing.assert_allclose(q_star, np.log10(s.q_star))
    assert f"q_l: {s.forward}" in _legend(q_ax) and s.phase in _legend(chi_ax)
    assert f"RMS(δ): {s.backward}" in _legend(grad_ax)
    assert "theory: 1.5 + tanh" in fig._suptitle.get_text()
    assert "sigma_b^2 0.05" in fig._suptitle.get_text()


def test_recommend_draws_every_init_and_criterion(results):
    r = results["recommend"]
    bar_ax, var_ax = plotting.figure(r).axes
    forward, grad = bar_ax.containers
    np.testing.assert_allclose(
        [p.get_width() for p in forward], [np.log10(i.forward_factor) for i in r.inits]
    )
    np.testing.assert_allclose(
        [p.get_width() for p in grad], [np.log10(i.grad_factor) for i in r.inits]
    )
    np.testing.assert_allclose(
        var_ax.collections[0].get_offsets()[:, 0], [i.sigma_w2 for i in r.inits]
    )
    drawn = {line.get_xdata()[0] for line in var_ax.get_lines()}
    assert {c.sigma_w2 for c in r.criteria if c.sigma_w2 is not None} <= drawn


def test_phase_colours_log_chi_1_and_draws_the_line_contours_and_inits(results):
    r = results["phase"]
    fig = plotting.figure(r)
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if hasattr(c, "get_coordinates")]
    want = np.log10(np.array(r.chi_1, dtype=float))
    np.testing.assert_allclose(mesh.get_array().reshape(want.shape), want)
    assert mesh.norm.vcenter == 0.0  # diverging at chi_1 = 1
    want = [(p.sigma_w2, p.sigma_b2) for p in r.critical_line if p.sigma_w2 is not None]
    np.testing.assert_allclose(_line(ax, "order-to-chaos: chi_1 = 1"), want)
    (points,) = [c for c in ax.collections if c.get_label().startswith("named inits")]
    inside = [i for i in r.inits if 0.5 <= i.sigma_w2 <= 2.0]
    np.testing.assert_allclose(points.get_offsets(), [(i.sigma_w2, i.sigma_b2) for i in inside])
    labels = " ".join(t.get_text() for t in ax.texts)
    assert all(i.init in labels for i in inside) and "q* " in labels  # contours labelled
    assert "off the map: normal (512)" in fig._suptitle.get_text()


def test_save_refuses_another_extension_before_any_work(tmp_path, monkeypatch, results):
    monkeypatch.setattr(plotting, "figure", lambda *a: pytest.fail("drew a figure"))
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        plotting.save(results["theory"], str(tmp_path / "q.jpg"))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("kind", ["png", "svg", "pdf"])
def test_the_same_result_gives_the_same_bytes(results, kind):
    # No dates in the files, and svg ids from a fixed salt.
    first = plotting.to_bytes(plotting.figure(results["theory"]), kind)
    assert plotting.to_bytes(plotting.figure(results["theory"]), kind) == first


# ---------------------------------------------------------------- the CLI

COMMANDS = {
    "simulate": (["simulate", "--init", "he", *TINY], ["he + relu"], (900, 400)),
    "seeds": (["simulate", *TINY, "--seeds", "2"], ["he:relu", "seeds 0–1"], (900, 400)),
    "compare": (["compare", "he:relu", "xavier:tanh", *TINY], ["he:relu", "xavier:tanh"],
                (900, 400)),
    "grid": (["grid", "--inits", "he,xavier", "--acts", "relu,tanh", *TINY],
             ["xavier", "tanh", "grid 2 x 2"], (900, 300)),
    "theory": (["theory", "--act", "tanh", "--depth", "6"], ["he + tanh"], (1000, 400)),
    "recommend": (["recommend", "--act", "tanh", "--depth", "6"], ["recommend: tanh"],
                  (900, 400)),
    "phase": (["phase", "--act", "tanh", "--steps", "5", "--bias-steps", "3"],
              ["phase diagram: tanh", "xavier"], (900, 500)),
}  # fmt: skip


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_plots_to_every_file_type(tmp_path, command, ext):
    args, labels, size = COMMANDS[command]
    path = tmp_path / f"figure.{ext}"
    r = invoke(*args, "--plot", str(path))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip()  # the table still goes to stdout
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    data = path.read_bytes()
    if ext == "png":
        assert _png_size(data) == size
        assert len(data) < 150_000
    elif ext == "svg":
        text = " ".join(ET.fromstring(data).itertext())
        for label in labels:
            assert label in text
    else:
        assert data.startswith(b"%PDF") and len(data) > 1000


def test_plot_goes_beside_output_in_any_format(tmp_path):
    r = invoke("theory", "--act", "tanh", "--depth", "6", "--format", "json",
               "-o", str(tmp_path / "t.json"), "--plot", str(tmp_path / "t.svg"))  # fmt: skip
    assert r.exit_code == 0 and r.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["t.json", "t.svg"]


def _one_error(r) -> str:
    assert r.exit_code == 2
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("Error")]
    return line


def test_without_matplotlib_the_cli_says_how_to_install_before_any_work(tmp_path, monkeypatch):
    import varprop.api
    import varprop.sweep

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    monkeypatch.setattr(varprop.api, "simulate", lambda **kw: pytest.fail("simulated"))
    monkeypatch.setattr(varprop.sweep, "run_pairs", lambda *a, **kw: pytest.fail("simulated"))
    for args in (COMMANDS["simulate"][0], COMMANDS["compare"][0], COMMANDS["theory"][0]):
        r = invoke(*args, "--plot", str(tmp_path / "f.png"))
        assert HINT in _one_error(r)
        assert r.stdout == ""
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("f.gif", ".png, .svg or .pdf"),
        ("f", ".png, .svg or .pdf"),
        ("missing/f.png", "does not exist"),
        ("adir.png", "it is a directory"),
        ("out.png", "it is the --output file"),
    ],
)
def test_a_bad_plot_path_is_one_line_and_exit_2(tmp_path, name, needle):
    (tmp_path / "adir.png").mkdir()
    r = invoke(*COMMANDS["simulate"][0], "-o", str(tmp_path / "out.png"),
               "--plot", str(tmp_path / name))  # fmt: skip
    line = _one_error(r)
    assert "'--plot'" in line and needle in line
    assert sorted(os.listdir(tmp_path)) == ["adir.png"]


def test_list_takes_no_plot(tmp_path):
    assert "No such option" in _one_error(invoke("list", "--plot", str(tmp_path / "l.png")))
