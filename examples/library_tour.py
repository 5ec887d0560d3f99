"""python examples/library_tour.py

varprop as a library, for scripts and notebooks: one simulation against its theory, the
He-vs-Xavier question for ReLU in numbers, and what an activation without a textbook
init (GELU) needs.  Runs in a few seconds.
Source: He et al. (2015), "Delving Deep into Rectifiers", eq. (10) (He vs Xavier for
ReLU); Schoenholz et al. (2017) for the theory beside each run.
"""

import varprop

# One run: every per-layer figure of the table, as plain floats.
run = varprop.simulate(init="xavier", act="relu", depth=30, width=256, batch=128, seed=0)
print(f"xavier + relu over {run.config.depth} layers: forward {run.summary.forward}, "
      f"backward {run.summary.backward}")  # fmt: skip
for layer in run.layers[::10]:
    print(f"  layer {layer.layer:2d}: Var(h) {layer.preact_var:.3e} "
          f"(theory {layer.theory_preact_var:.3e}), grad RMS {layer.grad_rms:.3e}")  # fmt: skip
fix = run.summary.fix.to_dict()  # what to run instead, and what it will show
print("  fix:", " ".join(fix["args"]), "->", fix["expect"])

# He vs Xavier for ReLU: the per-layer variance factor, measured and predicted.
for init in ("he", "xavier"):
    r = varprop.simulate(init=init, act="relu", depth=30, width=256, batch=128, seed=0)
    t = varprop.theory(act="relu", init=init, depth=30, width=256)
    print(f"{init:>6} + relu: Var(h) x{r.summary.forward_factor:.3f} per layer "
          f"(theory x{t.summary.forward_factor:.3f}), phase {t.summary.phase}")  # fmt: skip

# An activation without a textbook init.
advice = varprop.recommend("gelu")
best = advice.best.to_dict()
print(f"gelu: {' '.join(best['args'])} ({advice.best_criterion}) -> {best['expect']}; "
      f"q = 1 a stable fixed point: {advice.criteria[0].stable}")  # fmt: skip

# Everything above is also plain JSON, exactly what `--format json` prints.
assert run.to_dict()["summary"]["forward"] == run.summary.forward
