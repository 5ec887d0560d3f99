"""PyTorch's default nn.Linear init shrinks a ReLU stack's gradient 6x per layer.

Claim: nn.Linear draws weights from U(+-1/sqrt(fan_in)), variance 1/(3 fan_in), i.e.
sigma_w^2 = 1/3 where He asks for 2: on ReLU every layer multiplies E[delta^2] by
chi = sigma_w^2 / 2 = 1/6 (RMS by 1/sqrt(6) = 0.408) toward the input, where He keeps
it at 1.  The signal shrinks by the same 1/6 per layer only without biases: the preset's
biases, also U(+-1/sqrt(fan_in)) (sigma_b^2 = 1/(3 fan_in)), stop it at the fixed point
q* = sigma_b^2 / (1 - 1/6) = 2/(5 fan_in) after a few layers, while the gradient keeps
shrinking.
Source: PyTorch, torch.nn.Linear.reset_parameters (kaiming_uniform_ with a = sqrt(5),
i.e. gain^2 = 2/6 = 1/3); the condition it misses is He et al. (2015), eq. (14).
Run: python examples/torch_default.py   (VARPROP_EXAMPLE_SMALL=1: small sizes, seconds)
"""

import math
import os
import sys

import varprop

sys.path.insert(0, os.path.dirname(__file__))
from _figure import save_figure

SMALL = os.environ.get("VARPROP_EXAMPLE_SMALL") == "1"
DEPTH, WIDTH, BATCH = (20, 128, 64) if SMALL else (50, 512, 256)
SIXTH = 1 / 6

he = varprop.simulate("he", "relu", DEPTH, WIDTH, BATCH, seed=0)
torch = varprop.simulate("torch-default", "relu", DEPTH, WIDTH, BATCH, seed=0)
nobias = varprop.simulate("torch-default", "relu", DEPTH, WIDTH, BATCH, seed=0, bias_var=0)
theory = varprop.theory("relu", init="torch-default", depth=DEPTH, width=WIDTH)

print(f"ReLU, depth {DEPTH}, width {WIDTH}, batch {BATCH}")
print(f"{'layer':>5}  {'Var(h) He':>10}  {'torch':>10}  {'theory':>10}  "
      f"{'RMS(δ) He':>10}  {'torch':>10}  {'theory':>10}")  # fmt: skip
for i in (0, 1, 2, 3, *range(9, DEPTH, max(DEPTH // 4, 1))):
    a, b = he.layers[i], torch.layers[i]
    print(f"{a.layer:5d}  {a.preact_var:10.3g}  {b.preact_var:10.3g}  {b.theory_preact_var:10.3g}  "
          f"{a.grad_rms:10.3g}  {b.grad_rms:10.3g}  {b.theory_grad_rms:10.3g}")  # fmt: skip
print()
print(f"{'run':>22}  {'Var(h) x/layer':>14}  {'RMS(δ) x/layer':>14}  verdicts")
for name, r in (("he", he), ("torch-default", torch), ("torch-default, no bias", nobias)):
    s = r.summary
    print(f"{name:>22}  {s.forward_factor:14.4f}  {s.backward_factor:14.4f}  "
          f"{s.forward}/{s.backward}")  # fmt: skip
print(f"{'expected (no bias)':>22}  {SIXTH:14.4f}  {math.sqrt(SIXTH):14.4f}")

# Per-layer factors: log Var(h) of one input has sd 0.97 sqrt((L-1)/n) decades over the
# stack at finite width (Hanin & Rolnick 2018), its mean drifts by -1.1/n per layer;
# three sd spread over L-1 layers plus the drift (17% at L = 20, n = 128; 4% at 50, 512),
# half that for an RMS.
TOL = 3 * 0.97 * math.sqrt((DEPTH - 1) / WIDTH) / (DEPTH - 1) + 1.1 / WIDTH
assert abs(theory.summary.backward_factor - math.sqrt(SIXTH)) < 1e-9, theory.summary
assert abs(math.log10(torch.summary.backward_factor / math.sqrt(SIXTH))) < TOL / 2
assert abs(math.log10(nobias.summary.forward_factor / SIXTH)) < TOL
assert abs(math.log10(he.summary.backward_factor)) < TOL / 2
assert torch.summary.backward == "vanishing" and he.summary.backward == "stable"
# With the preset's biases the signal settles at q* = 1.2 sigma_b^2: Var(h) of the last
# layer over n units has relative sd at most sqrt(2/n) (the batch only adds samples),
# and the map's slope 1/6 barely carries it over; four of those.
q_star = 1.2 * torch.config.bias_std**2
assert abs(theory.summary.q_star / q_star - 1) < 1e-9, theory.summary
assert abs(torch.layers[-1].preact_var / q_star - 1) < 4 * math.sqrt(2 / WIDTH), torch.layers[-1]
print(f"ok: gradient x{torch.summary.backward_factor:.3f} per layer (1/sqrt 6 = 0.408), "
      f"signal x1/6 down to {q_star:.3g}")  # fmt: skip

save_figure(torch, "torch_default")
