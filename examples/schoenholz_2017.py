"""tanh's order-to-chaos line, and the depth scale that diverges on it.

Claim: for tanh the mean-field phase boundary chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] = 1
starts at sigma_w^2 = 1 for sigma_b^2 = 0 and moves to larger sigma_w^2 as sigma_b^2
grows; the correlation depth scale xi_c = -1/ln chi_c (how deep information about two
inputs' difference survives) diverges on the line and is short away from it; and the
gradient's RMS changes by sqrt(chi_1) per layer: it vanishes in the ordered phase
(chi_1 < 1), is kept at criticality and explodes in the chaotic phase (chi_1 > 1).
The line is found here by bisecting chi_1 - 1 over sigma_w^2 with varprop.theory.
Source: Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep Information
Propagation", Fig. 1 (phase diagram), eq. (9) (xi_c) and Sec. 5 (gradients,
xi_grad = -1/ln chi_1); Poole et al. (2016) for the maps.
Run: python examples/schoenholz_2017.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, seconds)
"""

import math
import os
import sys
from itertools import pairwise

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (60, 128, 32) if SMALL else (60, 512, 128)
BIASES = (0.0, 0.05, 0.3) if SMALL else (0.0, 0.01, 0.05, 0.1, 0.3)
STEP = 1e-3  # bisection stops when the bracket is this narrow (theory is deterministic)


def summary(sw2, sb2):
    return varprop.theory("tanh", weight_var=sw2, bias_var=sb2, depth=5).summary


def critical_weight_var(sb2):
    """The sigma_w^2 where chi_1 crosses 1, bracketed on a grid then bisected."""
    lo = 0.5
    hi = next(w / 4 for w in range(3, 41) if summary(w / 4, sb2).chi_1 >= 1)
    assert summary(lo, sb2).chi_1 < 1 <= summary(hi, sb2).chi_1
    while hi - lo > STEP:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if summary(mid, sb2).chi_1 >= 1 else (mid, hi)
    return (lo + hi) / 2


def xi_c(sw2, sb2):
    x = summary(sw2, sb2).xi_c
    return math.inf if x is None else x  # None: infinite, exactly at criticality


line = {sb2: critical_weight_var(sb2) for sb2 in BIASES}
print("tanh: sigma_w^2 where chi_1 = 1, and xi_c (layers) around it")
print(f"{'sigma_b^2':>9}  {'sigma_w^2*':>10}  {'xi_c at x0.5':>12}  {'x0.95':>8}  "
      f"{'x1.05':>8}  {'x2':>8}")  # fmt: skip
for sb2, sw2 in line.items():
    far_lo, near_lo, near_hi, far_hi = (xi_c(sw2 * k, sb2) for k in (0.5, 0.95, 1.05, 2))
    print(f"{sb2:9.2f}  {sw2:10.4f}  {far_lo:12.3g}  {near_lo:8.3g}  {near_hi:8.3g}  "
          f"{far_hi:8.3g}")  # fmt: skip
    # The divergence: on each side, 5% off the line xi_c is several times what it is a
    # factor 2 off (the chaotic side at sigma_b^2 = 0 stays long, c* = 0 there).
    assert near_lo > 3 * far_lo and near_hi > 3 * far_hi, (sb2, sw2)

# The line starts at sigma_w^2 = 1 (bisection error STEP / 2) and moves right with bias.
assert abs(line[0.0] - 1) < STEP, line
assert all(line[a] + STEP < line[b] for a, b in pairwise(BIASES)), line

# Gradients in the three phases at sigma_b^2 = 0.05, simulated against theory.
sb2 = 0.05
phases = {"ordered": line[sb2] / 1.75, "critical": line[sb2], "chaotic": 1.75 * line[sb2]}
print(f"\ngradient, sigma_b^2 = {sb2}, depth {DEPTH}, width {WIDTH}, batch {BATCH}")
print(f"{'phase':>8}  {'sigma_w^2':>9}  {'chi_1':>6}  {'RMS(δ) x/layer':>14}  "
      f"{'theory':>6}  {'sqrt(chi_1)':>11}  verdict")  # fmt: skip
# Per-layer factor of the gradient RMS: log E[delta^2] fluctuates at finite width by at
# most ReLU's sd 0.97 sqrt((L-1)/n) decades over the stack (Hanin & Rolnick 2018); three
# of those, halved for an RMS, over L-1 layers (0.008 decades at n = 512, 0.02 at 128).
TOL = 3 * 0.97 * math.sqrt((DEPTH - 1) / WIDTH) / (DEPTH - 1) / 2
runs = {}
for name, sw2 in phases.items():
    t = varprop.theory("tanh", weight_var=sw2, bias_var=sb2, depth=DEPTH).summary
    r = runs[name] = varprop.simulate(sw2, "tanh", DEPTH, WIDTH, BATCH, seed=0, bias_var=sb2)
    s = r.summary
    print(f"{name:>8}  {sw2:9.4f}  {t.chi_1:6.3f}  {s.backward_factor:14.4f}  "
          f"{t.backward_factor:6.4f}  {math.sqrt(t.chi_1):11.4f}  {s.backward}")  # fmt: skip
    assert abs(math.log10(s.backward_factor / t.backward_factor)) < TOL, (name, s, t)
    assert t.phase == name, t
# ... and each phase's factor is off 1 by more than that tolerance.
assert math.log10(runs["ordered"].summary.backward_factor) < -TOL
assert math.log10(runs["chaotic"].summary.backward_factor) > TOL
print("ok: chi_1 = 1 at sigma_w^2 = 1 without bias, right of it with one; xi_c diverges")

save_figure(runs["critical"], "schoenholz_2017_critical")
