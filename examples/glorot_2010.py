"""tanh saturates under large N(0, 1) weights and stays in its linear part under Xavier.

Claim: with weights too large for the fan-in, tanh units sit in their flat part (|a| near
1, where tanh' ~ 0) from the first layer on; Xavier's 2/(fan_in + fan_out) keeps them in
the linear part at every depth.  A unit counts as saturated in varprop when
|tanh(h)| > 0.97, i.e. |h| > atanh(0.97) = 2.09; for h ~ N(0, Var(h)) that fraction is
1 - erf(2.09 / sqrt(2 Var(h))), which the script checks against what it measures.
Source: Glorot & Bengio (2010), "Understanding the difficulty of training deep
feedforward neural networks", eq. (16) (normalized initialization) and Figs. 3 and 6
(tanh activations, standard vs normalized init).  Their "standard" init, eq. (1), is
U(+-1/sqrt(n)), sigma_w^2 = 1/3: in varprop (last column) it does not saturate tanh at
initialization -- its signal vanishes instead (chi_1 = 1/3); the saturation they saw
under it appeared during training.  varprop's "normal" init, plain
N(0, 1) weights (sigma_w^2 = fan_in), is the init that saturates at initialization.
Run: python examples/glorot_2010.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, a few seconds)
"""

import math
import os
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (10, 128, 64) if SMALL else (20, 512, 256)
EDGE = math.atanh(0.97)  # varprop's flat part of tanh: |tanh(h)| > 0.97

INITS = {"normal": "normal", "xavier": "xavier", "U(+-1/sqrt n)": 1 / 3}
runs = {name: varprop.simulate(i, "tanh", DEPTH, WIDTH, BATCH, seed=0) for name, i in INITS.items()}


def gaussian_saturation(var):
    """Fraction of h ~ N(0, var) beyond the flat-part edge."""
    return 1 - math.erf(EDGE / math.sqrt(2 * var))


print(f"tanh, depth {DEPTH}, width {WIDTH}, batch {BATCH}: saturated fraction per layer")
print(f"{'layer':>5}  " + "  ".join(f"{name:>14}" for name in INITS))
for i in range(0, DEPTH, max(DEPTH // 5, 1)):
    print(f"{i + 1:5d}  " + "  ".join(f"{r.layers[i].saturated_frac:14.1%}" for r in runs.values()))
print(f"{'Var(h)':>6} " + "  ".join(f"{r.layers[-1].preact_var:14.3g}" for r in runs.values()))
print(f"{'fwd':>5}  " + "  ".join(f"{r.summary.forward:>14}" for r in runs.values()))

# The measured fraction against the Gaussian prediction at the measured Var(h): units are
# independent given the layer's input, so the fraction over n units has sd at most
# sqrt(p (1 - p) / n) (the batch adds samples).  Four of those, and at least 0.01.
for name, r in runs.items():
    for s in r.layers:
        p = gaussian_saturation(s.preact_var)
        tol = max(4 * math.sqrt(p * (1 - p) / WIDTH), 0.01)
        assert abs(s.saturated_frac - p) < tol, (name, s.layer, s.saturated_frac, p)
# The claim: most units saturated at every layer under N(0, 1) weights (Var(h) ~ 0.9 n,
# so 1 - 1.67 / sqrt(0.9 n) = 84% at n = 128, 92% at 512), a few percent at most under
# Xavier (3.7% at layer 1, where Var(h) = 1, then less as the signal decays like 1/(2l)).
assert all(s.saturated_frac > 0.75 for s in runs["normal"].layers)
assert all(s.saturated_frac < 0.05 for s in runs["xavier"].layers)
assert runs["normal"].summary.forward == "saturated"
assert runs["xavier"].summary.forward in ("stable", "power-law")
print("ok: N(0, 1) weights saturate tanh at every layer; Xavier does not")

save_figure(runs["normal"], "glorot_2010_normal")
save_figure(runs["xavier"], "glorot_2010_xavier")
