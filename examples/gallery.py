"""The README's gallery: every figure varprop draws, made by varprop itself.

Claim: each command's --plot figure states the same numbers as its table (tests/test_plot.py
reads them back from the figures); this script only regenerates the pictures.
Source: the README's "Gallery" section (Schoenholz et al. 2017 Fig. 1 for the phase
diagram; Glorot & Bengio 2010 Fig. 3 for the histograms).
Run: python examples/gallery.py   (writes docs/*.png; needs pip install ".[plot]";
VARPROP_EXAMPLE_SMALL=1: small sizes, into $VARPROP_FIGURES)
"""

import os
import sys

import varprop
from varprop.sweep import Pair, Runs, run_pairs

try:
    from varprop.render import plot
except ImportError:
    print('the gallery needs the plot extra: pip install "varprop[plot]"')
    sys.exit(0)

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get("VARPROP_FIGURES") or os.path.join(HERE, "..", "docs")
DEPTH, WIDTH, BATCH, SEEDS = (12, 64, 32, 2) if SMALL else (50, 512, 256, 3)
os.makedirs(OUT, exist_ok=True)


def runs(kind, pairs, **extra):
    groups = run_pairs(pairs, seeds=SEEDS, depth=DEPTH, width=WIDTH, batch=BATCH)
    return Runs(kind, tuple(map(tuple, groups)), tuple(p.label for p in pairs), **extra)


figures = {
    "compare": runs("compare", [Pair(*p.split(":")) for p in
                                ("he:relu", "xavier:relu", "xavier:tanh", "he:tanh")]),
    "grid": runs("grid", [Pair(i, a) for i in ("he", "xavier", "lecun", "normal", "torch-default")
                          for a in ("relu", "tanh", "sigmoid", "selu", "gelu")],
                 inits=("he", "xavier", "lecun", "normal", "torch-default"),
                 acts=("relu", "tanh", "sigmoid", "selu", "gelu")),
    "theory": varprop.theory(act="tanh", weight_var=1.5, bias_var=0.05, depth=2 * DEPTH),
    "phase": varprop.phase_diagram("tanh", **({"weight_vars": [0.5 + 0.25 * k for k in range(13)],
                                        "bias_vars": [0.05 * k for k in range(7)]}
                                       if SMALL else {})),
    "hist": varprop.simulate("normal", "tanh", depth=10, width=WIDTH, batch=BATCH,
                             hist_layers=(1, 5, 10)),
}  # fmt: skip
for name, result in figures.items():
    path = os.path.join(OUT, name + ".png")
    plot.save(result, path)
    size = os.path.getsize(path)
    print(f"{name:8s} {path} ({size / 1024:.0f} KiB)")
    assert size < 150 * 1024, f"{name}: {size} bytes, above the README's 150 KiB budget"
