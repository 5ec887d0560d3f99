"""GELU and SiLU lose their signal under He init; a critical point with a bias keeps it.

Claim: He's sigma_w^2 = 2 is derived for ReLU.  For GELU and SiLU, q = 1 is not a
stable fixed point of the variance map at any zero-bias sigma_w^2 (varprop's ``forward``
criterion: stable = False), and under He the signal drifts toward q = 0, where
phi(h) ~ h/2 and each layer multiplies the variance by sigma_w^2 / 4 = 0.5: both the
signal and the gradient vanish at depth 50.  varprop.recommend gives an edge-of-chaos
point with a bias (GELU: sigma_w^2 ~ 1.97, sigma_b^2 = 0.2; SiLU: ~1.97, 1.0), and a
simulation that follows it is stable both ways, as its ``expect`` says.
Source: Hendrycks & Gimpel (2016), GELU; Ramachandran, Zoph & Le (2017), Swish/SiLU;
their initialization by mean field as in Schoenholz et al. (2017); He et al. (2015)
for the sigma_w^2 = 2 it is measured against.
Run: python examples/gelu_silu.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, a few seconds)
"""

import math
import os
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (50, 128, 32) if SMALL else (50, 512, 256)

# Where the signal has died (the last TAIL layers, q < 1e-3), phi(h) ~ h/2 and He's
# sigma_w^2 = 2 halves Var(h) per layer.  Tolerance on that per-layer factor, in decades:
# at finite width log Var(h) of one input has sd at most ReLU's 0.97 sqrt(k/n) over k
# layers (Hanin & Rolnick 2018; a linear layer adds 2/n, not 5/n) and drifts by -1.1/n
# per layer; three sd spread over the k layers, plus the drift.  The whole-stack factor
# is not compared with theory: near q = 1, which repels, the map amplifies finite-width
# noise (at width 512 the run leaves q = 1 a few layers late, 1.9 decades above theory).
TAIL = 20
TOL = 3 * 0.97 * math.sqrt(TAIL / WIDTH) / TAIL + 1.1 / WIDTH


def tail_factor(layers):
    """Var(h) factor per layer over the last TAIL layers (from the log10 fields)."""
    return 10 ** ((layers[-1].log10_preact_var - layers[-1 - TAIL].log10_preact_var) / TAIL)


print(f"depth {DEPTH}, width {WIDTH}, batch {BATCH}")
print(f"{'act':>4}  {'setting':>22}  {'Var(h) x/layer':>14}  {'last 20':>7}  {'theory':>6}  "
      "verdicts")  # fmt: skip
for act in ("gelu", "silu"):
    he = varprop.simulate("he", act, DEPTH, WIDTH, BATCH, seed=0)
    he_theory = varprop.theory(act, init="he", depth=DEPTH, width=WIDTH)
    advice = varprop.recommend(act, depth=DEPTH, width=WIDTH)
    best = advice.best
    fixed = varprop.simulate(best.sigma_w2, act, DEPTH, WIDTH, BATCH, seed=0,
                             bias_var=best.bias_var)  # fmt: skip
    fixed_theory = varprop.theory(act, weight_var=best.sigma_w2, bias_var=best.bias_var,
                                  depth=DEPTH, width=WIDTH)  # fmt: skip
    setting = f"{best.sigma_w2:.4g}, sigma_b^2 {best.bias_var:.3g}"
    for name, r, t in (("he", he, he_theory), (setting, fixed, fixed_theory)):
        s = r.summary
        print(f"{act:>4}  {name:>22}  {s.forward_factor:14.4f}  {tail_factor(r.layers):7.4f}  "
              f"{tail_factor(t.layers):6.4f}  {s.forward}/{s.backward}")  # fmt: skip
    assert abs(tail_factor(he_theory.layers) - 0.5) < 1e-3, he_theory.layers[-1]
    assert abs(math.log10(tail_factor(he.layers) / 0.5)) < TOL, (act, tail_factor(he.layers))

    forward = next(c for c in advice.criteria if c.name == "forward")
    assert forward.stable is False, forward  # q = 1 repels: no zero-bias sigma_w^2 fixes it
    assert he.summary.forward == he.summary.backward == "vanishing", he.summary
    assert he_theory.summary.forward == "vanishing", he_theory.summary
    # Following the advice gives what it promised (stable both ways) ...
    assert best.kind == "stable" and best.bias_var > 0, best
    expect = (best.expect_forward, best.expect_backward)
    assert (fixed.summary.forward, fixed.summary.backward) == expect, fixed.summary
    assert expect == ("stable", "stable"), best
    # ... and it is the fix the He run itself suggests.
    assert he.summary.fix is not None and he.summary.fix.sigma_w2 == best.sigma_w2, he.summary
    assert he.summary.fix.bias_var == best.bias_var, he.summary.fix
    args = " ".join(best.to_dict()["args"])
    print(f"{act:>4}  recommend: {args} -> {best.expect_forward}/{best.expect_backward}")
print("ok: He vanishes for GELU and SiLU; recommend's critical point with a bias is stable")

save_figure(fixed, "gelu_silu_silu_fixed")
