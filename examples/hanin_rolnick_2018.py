"""At finite width, log Var(h_L) spreads across seeds like sqrt(sum of 1/width).

Claim: in a He + ReLU stack the infinite-width theory says Var(h_l) = 2 at every layer,
but at finite width each layer multiplies one input's |a|^2 by an independent factor of
mean 1 and variance 5/n, so ln Var(h_L) has variance about 5 sum_l 1/n_l: the spread
grows with depth/width, not with depth alone -- a deep narrow stack fluctuates as much
as a shallower stack of the same depth/width.  Here, for one input (batch 1, as in the
paper; a batch's average of correlated samples spreads a little less), the sd of
log10 Var(h_L) over seeds is compared with sqrt((5 L - 1) / n) / ln 10 (5 / n per layer,
2 / n for the input's own |a_0|^2 and for Var(h_L) as an average over n units).
Source: Hanin & Rolnick (2018), "How to Start Training: The Effect of Initialization
and Architecture", NeurIPS (arXiv:1803.01719): failure mode FM2, the variance of the
activation length, exponential in sum_j 1/n_j for fully connected nets (their
exp(5 sum 1/n_j)), avoided by keeping that sum constant.  The mean column shows the
other side of it: E[log Var] drifts below log E[Var] = log10 2 by about half the
variance.
Run: python examples/hanin_rolnick_2018.py   (VARPROP_EXAMPLE_SMALL=1: seconds)
"""

import math
import os
import statistics
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
SEEDS = 50 if SMALL else 100
WIDE, NARROW = (128, 32) if SMALL else (256, 64)
# depth/width 1/32, 1/8, 1/8, 1/2 (small: 1/32, 1/8, 1/8, 1/2 too).
CONFIGS = [(4, WIDE), (16, WIDE), (4, NARROW), (16, NARROW)] if SMALL else [
    (8, WIDE), (32, WIDE), (8, NARROW), (32, NARROW)]  # fmt: skip


def spread(depth, width):
    logs = [
        varprop.simulate("he", "relu", depth, width, batch=1, seed=s).layers[-1].log10_preact_var
        for s in range(SEEDS)
    ]
    return statistics.stdev(logs), statistics.mean(logs)


# An sd estimated from S seeds has relative sd 1/sqrt(2 (S - 1)) (7% for 100, 10% for
# 50); three of those, plus 10% for the 1/n^2 terms left out of 5/n.
TOL = 3 / math.sqrt(2 * (SEEDS - 1)) + 0.1
print(f"He + relu, batch 1, {SEEDS} seeds: sd of log10 Var(h_L) (theory: Var(h_L) = 2)")
print(f"{'depth':>5}  {'width':>5}  {'L/n':>6}  {'sd':>6}  {'predicted':>9}  {'mean-log10 2':>12}")
measured = {}
for depth, width in CONFIGS:
    sd, mean = measured[depth, width] = spread(depth, width)
    predicted = math.sqrt((5 * depth - 1) / width) / math.log(10)
    print(f"{depth:5d}  {width:5d}  {depth / width:6.3f}  {sd:6.3f}  {predicted:9.3f}  "
          f"{mean - math.log10(2):12.3f}")  # fmt: skip
    assert abs(sd / predicted - 1) < TOL, (depth, width, sd, predicted, TOL)

sd = {k: v[0] for k, v in measured.items()}
(d1, w1), (d2, w1), (d1, w2), (d2, w2) = CONFIGS
# Same depth/width, four times deeper and four times wider: the same spread, within the
# sampling error of a ratio of two independent sd estimates (sqrt 2 times one, thrice).
assert abs(math.log(sd[d2, w1] / sd[d1, w2])) < 3 * math.sqrt(2) / math.sqrt(2 * (SEEDS - 1))
# Four times depth/width doubles the spread: far beyond that sampling error.
assert sd[d1, w1] < sd[d2, w1] < sd[d2, w2] and sd[d1, w1] < sd[d1, w2] < sd[d2, w2], sd
print("ok: the spread follows sum 1/n (depth/width), not depth alone")

save_figure(varprop.simulate("he", "relu", d2, w2, batch=1, seed=0), "hanin_rolnick_2018")
