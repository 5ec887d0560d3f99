"""SELU under LeCun init keeps mean 0 and variance 1: a stable fixed point.

Claim: with lambda = 1.0507, alpha = 1.6733 and weights of variance 1/fan_in (LeCun),
SELU maps (mean 0, variance 1) to itself and pulls nearby moments back to it, so a deep
stack keeps Var(h) = 1, mean(a) = 0 and Var(a) = 1 at every layer, without any
normalization layer.  varprop's theory gives q* = 1 (stable) and the simulation stays
there.  (In mean-field terms the gradient is mildly chaotic, chi_1 = 1.07: the RMS grows
by 1.035 per layer toward the input, which varprop still calls stable at depth 50.)
Source: Klambauer, Unterthiner, Mayr & Hochreiter (2017), "Self-Normalizing Neural
Networks", Sec. 3, Theorem 1 (the fixed point (0, 1) of the moment map is stable).
Run: python examples/klambauer_2017.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, seconds)
"""

import math
import os
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (20, 128, 64) if SMALL else (50, 512, 256)

theory = varprop.theory("selu", init="lecun", depth=DEPTH, width=WIDTH)
run = varprop.simulate("lecun", "selu", DEPTH, WIDTH, BATCH, seed=0)
t = theory.summary
slope = math.exp(-1 / t.xi_q)  # the variance map's slope at q*, from xi_q = -1/ln slope

print(f"selu + lecun, depth {DEPTH}, width {WIDTH}, batch {BATCH}")
print(f"theory: q* = {t.q_star:.6g} ({'stable' if t.fixed_point_stable else 'unstable'}, "
      f"slope {slope:.3f}), chi_1 = {t.chi_1:.4f}")  # fmt: skip
print(f"{'layer':>5}  {'Var(h)':>8}  {'mean(a)':>8}  {'Var(a)':>8}  {'RMS(δ)':>8}  {'theory':>8}")
for s in run.layers[:: max(DEPTH // 6, 1)]:
    print(f"{s.layer:5d}  {s.preact_var:8.4f}  {s.act_mean:8.4f}  {s.act_var:8.4f}  "
          f"{s.grad_rms:8.4f}  {s.theory_grad_rms:8.4f}")  # fmt: skip
print(f"forward {run.summary.forward}, backward {run.summary.backward}")

assert abs(t.q_star - 1) < 1e-6 and t.fixed_point_stable, t
# Each layer's Var(h) is an average over n units whose relative sd is at most sqrt(2/n)
# (all samples alike; the batch only adds samples); the map pulls a deviation back by
# its slope k = 0.78, so deviations settle with sd at most sqrt(2/n) / sqrt(1 - k^2)
# (0.10 at n = 512, 0.20 at 128).  A bound, not an estimate: over 8 seeds the measured
# sd is a quarter of it, so the largest of L layers stays well inside.
VAR_TOL = math.sqrt(2 / WIDTH) / math.sqrt(1 - slope**2)
# mean(a): an average over n units of values of variance ~1, sd at most 1/sqrt(n).
MEAN_TOL = 1 / math.sqrt(WIDTH)
for s in run.layers:
    assert abs(s.preact_var - 1) < VAR_TOL, (s, VAR_TOL)
    assert abs(s.act_var - 1) < VAR_TOL, (s, VAR_TOL)
    assert abs(s.act_mean) < MEAN_TOL, (s, MEAN_TOL)
assert run.summary.forward == "stable"
print(f"ok: Var(h) and Var(a) within {VAR_TOL:.3f} of 1, mean(a) within {MEAN_TOL:.3f} of 0")

save_figure(run, "klambauer_2017")
