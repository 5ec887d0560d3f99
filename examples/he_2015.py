"""He init keeps a ReLU signal; Xavier halves its variance at every layer.

Claim: with ReLU, Var(h_{l+1}) = sigma_w^2 E[relu(h_l)^2] = (sigma_w^2 / 2) Var(h_l), so
He's sigma_w^2 = 2 keeps the variance (factor 1 per layer) and Xavier's sigma_w^2 = 1
(square layers) halves it: 0.5 per layer, 2^-49 over 50 layers; the gradient's RMS
shrinks by 1/sqrt(2) per layer toward the input the same way.
Source: He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2,
eqs. (10) and (14) (forward and backward conditions), Fig. 3 (a 30-layer ReLU net under
Xavier does not learn).
Run: python examples/he_2015.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, a few seconds)
"""

import math
import os
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (20, 128, 64) if SMALL else (50, 512, 256)
EXPECTED = {"he": 1.0, "xavier": 0.5}  # Var(h) factor per layer, sigma_w^2 / 2

# Tolerance on a per-layer factor, in decades.  At finite width every layer multiplies
# |h|^2 of one input by an independent factor of mean 1 and variance 5/n (Hanin & Rolnick
# 2018), so log10 Var(h_L / h_1) has sd sqrt(5 (L-1)/n) / ln 10 = 0.97 sqrt((L-1)/n)
# decades (a batch only averages it down), and its mean drifts by -5/(2 n ln 10) = -1.1/n
# per layer.  Three sd spread over L-1 layers, plus the drift: 0.019 decades (4%) per
# layer at L = 50, n = 512; 0.067 (17%) at L = 20, n = 128 -- both far below the
# 0.3 decades between He and Xavier.  The gradient's RMS is a square root: half of it.
TOL = 3 * 0.97 * math.sqrt((DEPTH - 1) / WIDTH) / (DEPTH - 1) + 1.1 / WIDTH

runs = {}
for init in EXPECTED:
    runs[init] = varprop.simulate(init, "relu", DEPTH, WIDTH, BATCH, seed=0)
theory = {init: varprop.theory("relu", init=init, depth=DEPTH, width=WIDTH) for init in EXPECTED}

print(f"ReLU, depth {DEPTH}, width {WIDTH}, batch {BATCH}: Var(h) per layer")
print(f"{'layer':>5}  {'He':>9}  {'theory':>9}  {'Xavier':>9}  {'theory':>9}")
for i in range(0, DEPTH, max(DEPTH // 5, 1)):
    he, xa = runs["he"].layers[i], runs["xavier"].layers[i]
    print(f"{he.layer:5d}  {he.preact_var:9.3g}  {he.theory_preact_var:9.3g}  "
          f"{xa.preact_var:9.3g}  {xa.theory_preact_var:9.3g}")  # fmt: skip
print()
print(f"{'init':>6}  {'Var(h) x/layer':>14}  {'expected':>8}  {'RMS(δ) x/layer':>14}  "
      f"{'expected':>8}  verdicts")  # fmt: skip
for init, factor in EXPECTED.items():
    s = runs[init].summary
    print(f"{init:>6}  {s.forward_factor:14.4f}  {factor:8.4f}  {s.backward_factor:14.4f}  "
          f"{math.sqrt(factor):8.4f}  {s.forward}/{s.backward}")  # fmt: skip

for init, factor in EXPECTED.items():
    s = runs[init].summary
    assert abs(theory[init].summary.forward_factor - factor) < 1e-9, theory[init].summary
    assert abs(math.log10(s.forward_factor / factor)) < TOL, (init, s.forward_factor, TOL)
    assert abs(math.log10(s.backward_factor / math.sqrt(factor))) < TOL / 2, (init, s)
assert runs["he"].summary.forward == runs["he"].summary.backward == "stable"
assert runs["xavier"].summary.forward == runs["xavier"].summary.backward == "vanishing"
print(f"ok: He x1 and Xavier x0.5 per layer, within {TOL:.3f} decades")

save_figure(runs["he"], "he_2015_he")
save_figure(runs["xavier"], "he_2015_xavier")
