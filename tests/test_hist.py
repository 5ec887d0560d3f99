"""Per-layer histograms (varprop.histograms, render.hist, simulate --hist).

Tolerances.  A layer's histogram pools B * n values that share one set of weights.  At
layer 1 (N(0, 1) input, zero bias) every value h_ij = x_i . w_j is, given the weights,
an independent symmetric draw, so a share of them has the binomial sd sqrt(p (1-p) / (B
n)).  Deeper layers make samples alike (DESIGN.md), and the values of one unit move
together: there we count only n independent values (sd sqrt(p (1-p) / n)), which is
conservative.  Bounds are 5 sd (false-fail rate ~6e-7 each) unless stated.
"""

import json
import math

import pytest
from support import invoke, strict_json

import varprop
from varprop.activations import get_activation
from varprop.errors import VarpropError
from varprop.histograms import BINS, Collector, Histogram, default_layers
from varprop.render import render
from varprop.render.hist import BARS, hist_rows
from varprop.render.json import to_json

W, B, DEPTH = 256, 64, 10
SMALL = {"depth": DEPTH, "width": W, "batch": B}


def run(init, act, layers=(1, 5, 10), **kw):
    return varprop.simulate(init=init, act=act, hist_layers=layers, **{**SMALL, **kw})


def hist(result, layer, quantity) -> Histogram:
    (h,) = [h for h in result.histograms if (h.layer, h.quantity) == (layer, quantity)]
    return h


def outer_share(h: Histogram) -> float:
    return (h.counts[0] + h.counts[-1]) / h.total


# ------------------------------------------------------------------ JSON unchanged


def test_json_without_hist_is_as_before():
    plain = varprop.simulate(init="he", act="relu", **SMALL)
    assert plain.histograms == ()
    assert list(plain.to_dict()) == ["varprop_version", "config", "layers", "summary"]
    # The hooks change no figure: the run with histograms, minus its key, is the same JSON
    # byte for byte.
    with_hist = run("he", "relu")
    d = with_hist.to_dict()
    assert len(d.pop("histograms")) == 3 * 3
    assert to_json(d) == render(plain, "json")


def test_json_histograms_are_strict_json():
    doc = strict_json(render(run("xavier", "tanh", layers=(2,)), "json"))
    assert [(h["layer"], h["quantity"]) for h in doc["histograms"]] == [
        (2, "h"),
        (2, "a"),
        (2, "delta"),
    ]
    for h in doc["histograms"]:
        assert len(h["edges"]) == BINS + 1 and len(h["counts"]) == BINS
        assert sum(h["counts"]) + h["outside"] == W * B


# ------------------------------------------------------------------ what they show


def test_tanh_saturation_fills_the_outer_bins():
    # 'a' of tanh is binned on [-1, 1] in 41 bins: the outer two are |a| > 1 - 2/41,
    # i.e. |h| > atanh(0.951) = 1.84.  N(0, 1) weights: q = width * E[tanh^2] >= 0.9 W,
    # so P(|h| < 1.84) <= 2 * 1.84 / sqrt(2 pi 0.9 * 256) = 0.097: outer share >= 0.90.
    # Xavier: q_1 = 1 and q shrinks with depth, so the outer share <= P(|z| > 1.84) =
    # 0.066.  sd with n = 256 independent units: <= 0.019 and 0.016; the bounds 0.8
    # and 0.15 sit more than 5 sd away.
    sat = run("normal", "tanh")
    fine = run("xavier", "tanh")
    for l in (1, 5, 10):
        assert outer_share(hist(sat, l, "a")) > 0.8
        assert outer_share(hist(fine, l, "a")) < 0.15
        # The same rule as the table's sat. column, on the same values.
        assert hist(sat, l, "a").saturated_frac == sat.layers[l - 1].saturated_frac
        assert hist(sat, l, "a").edges[0] == -1.0 and hist(sat, l, "a").edges[-1] == 1.0


def test_xavier_tanh_collapses_toward_the_middle_bins():
    # Fixed [-1, 1] bins make the shrinking variance of Xavier + tanh (q_l ~ 1/(2l))
    # visible: the middle 11 bins (|a| < 0.27) hold more of layer 10 than of layer 1.
    r = run("xavier", "tanh")

    def middle(h):
        return sum(h.counts[15:26]) / h.total

    assert middle(hist(r, 10, "a")) > middle(hist(r, 1, "a")) + 0.2


def test_he_relu_puts_half_of_a_at_zero():
    r = run("he", "relu")
    h1 = hist(r, 1, "a")
    assert h1.edges[0] == 0.0  # no negative value: bins on [0, R]
    # Layer 1: h ~ N(0, q), independent given the weights.  The first bin holds the
    # zeros (h <= 0, share 1/2) and the values in (0, edges[1]).
    q = r.layers[0].preact_var
    expected = 0.5 + 0.5 * math.erf(h1.edges[1] / math.sqrt(2 * q)) - 0.5 * math.erf(0)
    sd = 0.5 / math.sqrt(W * B)
    assert abs(h1.counts[0] / h1.total - expected) < 5 * sd
    assert abs(h1.off_frac - 0.5) < 5 * sd
    # Layer 10: still symmetric in the weights, but values of a unit move together:
    # sd <= 0.5 / sqrt(W) = 0.031.
    h10 = hist(r, 10, "a")
    assert abs(h10.off_frac - 0.5) < 5 * 0.5 / math.sqrt(W)
    assert h10.counts[0] / h10.total >= h10.off_frac


def test_gradient_shape_and_scale():
    r = run("torch-default", "relu")  # a vanishing gradient: scale, not shape, shows it
    for l in (1, 5, 10):
        d = hist(r, l, "delta")
        assert d.scale == r.layers[l - 1].grad_rms  # exactly the table's RMS(δ)
        assert d.log10_scale == r.layers[l - 1].log10_grad_rms
        assert max(abs(d.edges[0]), d.edges[-1]) <= 4.0
        assert d.mean**2 + d.std**2 == pytest.approx(1.0)  # delta / RMS has RMS 1
    assert hist(r, 1, "delta").scale < 1e-3 * hist(r, 10, "delta").scale  # x0.41 per layer


def test_every_value_is_counted_once_and_same_seed_same_histograms():
    r = run("he", "gelu", layers="auto")
    assert sorted({h.layer for h in r.histograms}) == list(default_layers(DEPTH))
    for h in r.histograms:
        assert h.skipped is None
        assert h.total == W * B and len(h.edges) == BINS + 1
        assert all(a < b for a, b in zip(h.edges, h.edges[1:], strict=False))
    assert run("he", "gelu", layers="auto").histograms == r.histograms


def test_values_beyond_float64_keep_their_bins_in_log_scale():
    # Xavier + relu halves Var(h) per layer: 2**-3000 at depth 3000, far below 1e-308.
    r = varprop.simulate(
        init="xavier", act="relu", depth=3000, width=16, batch=8, hist_layers=(3000,)
    )
    h = hist(r, 3000, "h")
    assert h.scale is None and h.log10_scale < -500 and h.total == 16 * 8
    lo = math.log10(h.edges[-1]) + h.log10_scale  # the range, in log10 of true units
    assert lo == pytest.approx(0.5 * r.layers[-1].log10_preact_var, abs=1.5)


def test_layers_not_reached_say_why():
    c = Collector((2, 4), get_activation("tanh"))
    got = c.result(overflow_layer=3)
    assert len(got) == 6 and all(h.counts == () for h in got)
    assert "no backward pass" in hist_in(got, 2, "delta").skipped
    assert "layer 3" in hist_in(got, 4, "h").skipped


def hist_in(hs, layer, quantity):
    return next(h for h in hs if (h.layer, h.quantity) == (layer, quantity))


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("layers", [(0,), (11,), (1, 11), ("2",), (1.5,), (True,), "some"])
def test_bad_layers_are_refused_with_the_range(layers):
    with pytest.raises(VarpropError, match=r"1\.\.10") as e:
        run("he", "relu", layers=layers)
    assert e.value.param == "--hist"


def test_blocks_are_refused():
    with pytest.raises(VarpropError, match="plain stacks only"):
        run("he", "relu", block="residual")


def test_default_layers():
    assert default_layers(1) == (1,)
    assert default_layers(3) == (1, 2, 3)
    assert default_layers(50) == (1, 13, 26, 38, 50)


# ------------------------------------------------------------------ rendering


@pytest.mark.parametrize("width", [100, 80, 60, 40, 20])
@pytest.mark.parametrize("plain", [False, True])
def test_rows_fit_the_width(width, plain):
    r = run("he", "relu", layers=(1, 10))
    lines = hist_rows(r.histograms, width=width, plain=plain).plain.splitlines()
    assert len(lines) >= 7  # 6 rows, then the legend (wrapped when narrow)
    assert lines[0].startswith("layer  1 h") and lines[3].startswith("layer 10 h")
    for line in lines:
        assert len(line) <= width and line == line.rstrip()
        assert line.isascii() or not plain


def test_rows_show_saturation():
    sat = run("normal", "tanh", layers=(5,))
    row = hist_rows(sat.histograms, width=80, plain=False).plain.splitlines()[1]
    assert row.startswith("layer 5 a  █") and "█  ±1 sat " in row
    assert "▁" * 30 in row  # the middle is almost empty
    fine = run("xavier", "tanh", layers=(5,))
    row = hist_rows(fine.histograms, width=80, plain=False).plain.splitlines()[1]
    assert row[len("layer 5 a  ")] != BARS[-1]


# ------------------------------------------------------------------ CLI

CLI = ["simulate", "--depth", "10", "--width", "32", "--batch", "16"]


def test_cli_table_gets_rows_after_it():
    r = invoke(*CLI, "--init", "normal", "--act", "tanh", "--hist", "1,10")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("layer  1 h"))
    assert lines[first - 1] == "" and "backward:" in "\n".join(lines[:first])
    # Piped: plain ASCII, so the gradient's row is labelled d.
    assert [line[:10] for line in lines[first : first + 6]] == [
        "layer  1 h",
        "layer  1 a",
        "layer  1 d",
        "layer 10 h",
        "layer 10 a",
        "layer 10 d",
    ]


def test_cli_bare_hist_is_auto_and_json_carries_it():
    r = invoke(*CLI, "--hist", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert sorted({h["layer"] for h in doc["histograms"]}) == [1, 3, 6, 8, 10]
    plain = invoke(*CLI, "--format", "json")
    assert "histograms" not in json.loads(plain.stdout)


def test_cli_csv_ignores_hist():
    assert (
        invoke(*CLI, "--hist", "--format", "csv").stdout == invoke(*CLI, "--format", "csv").stdout
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["--hist", "0"], "1..10"),
        (["--hist", "11"], "1..10"),
        (["--hist", "1,x"], "comma-separated list of layers"),
        (["--hist", "2.5"], "comma-separated list of layers"),
        (["--hist", "1", "--seeds", "2"], "drop --seeds"),
        (["--hist", "1", "--block", "residual"], "plain stacks only"),
    ],
)
def test_cli_bad_hist_exits_2_with_one_line(args, words):
    r = invoke(*CLI, *args)
    assert r.exit_code == 2
    message = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(message) == 1 and words in message[0] and "--hist" in message[0]
