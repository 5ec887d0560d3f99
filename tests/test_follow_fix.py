"""Every fix and recommendation varprop prints holds when a user follows it.

For every registered activation and the starting inits torch-default, xavier, he and
normal (depth 50, width 512), the run's ``summary.fix`` is followed: its ``args``
replace the run's init / bias / standardize options, the run is repeated over seeds
0, 1, 2, and the measured verdicts must equal ``fix.expect`` in at least 2 of 3.

Why 2 of 3: a verdict is a statistic of one random network.  The fix only proposes a
setting whose theory curves end 3 finite-width standard deviations inside the verdict
bands (``varprop.meanfield`` ``robust``; sd = 0.8 sqrt(L / width) = 0.25 decades here),
so one seed misses with probability ~1e-3 if the noise were Gaussian; it is heavier
tailed at depth (products of random factors), and a majority of 3 makes a false alarm
need two such tails at once, while a promise that is wrong on average still fails.
"""

from __future__ import annotations

import pytest
from support import invoke, strict_json

import varprop
from varprop.activations import activation_names, get_activation

ACTS = sorted({get_activation(n).name for n in activation_names()})
STARTS = ("torch-default", "xavier", "he", "normal")
DEPTH, WIDTH, SEEDS = 50, 512, (0, 1, 2)


def as_kwargs(args: list[str]) -> dict:
    """simulate() keywords for the options a fix names (the CLI spelling)."""
    kw, i = {}, 0
    while i < len(args):
        name = args[i]
        if name == "--standardize":
            kw["standardize"] = True
            i += 1
            continue
        value = args[i + 1]
        kw[name[2:].replace("-", "_")] = float(value) if name == "--bias-var" else value
        i += 2
    assert set(kw) <= {"init", "bias_var", "standardize", "block", "norm", "branch_scale"}, args
    return kw


def followed(act: str, args: list[str], **run) -> list[dict[str, str]]:
    out = []
    for seed in SEEDS:
        s = varprop.simulate(act=act, depth=DEPTH, width=WIDTH, seed=seed, **run, **as_kwargs(args))
        out.append({"forward": s.summary.forward, "backward": s.summary.backward})
    return out


def assert_holds(expect: dict, got: list[dict], what: str) -> None:
    hits = sum(g == expect for g in got)
    assert hits >= 2, f"{what}: expected {expect}, measured {got}"


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("start", STARTS)
def test_fix_holds_when_followed(act, start):
    s = varprop.simulate(init=start, act=act, depth=DEPTH, width=WIDTH, seed=0).summary
    if s.forward == "stable" and s.backward == "stable":
        assert s.fix is None and s.limit is None
        return
    if s.fix is None:
        # No fix only for a stated reason, never silence next to a failing verdict.
        assert s.limit in ("finite-width", "no-stable-setting"), s
        return
    fix = s.fix.to_dict()
    assert_holds(fix["expect"], followed(act, fix["args"]), f"{start}:{act} -> {fix['args']}")
    if fix["expect"] != {"forward": "stable", "backward": "stable"}:
        assert "no setting keeps both" in fix["text"]


@pytest.mark.parametrize("act", ACTS)
def test_recommend_best_holds_when_followed(act):
    best = varprop.recommend(act=act, depth=DEPTH, width=WIDTH).to_dict()["best"]
    assert best is not None, act
    assert_holds(best["expect"], followed(act, best["args"]), f"recommend {act} -> {best['args']}")


def test_fix_through_the_cli():
    """The JSON fix of `simulate`, pasted back into `simulate`, gives what it expects."""
    first = strict_json(
        invoke("simulate", "--act", "gelu", "--init", "he", "--format", "json").stdout
    )
    fix = first["summary"]["fix"]
    assert fix["args"][:2] == ["--init", fix["args"][1]]
    got = []
    for seed in SEEDS:
        out = invoke(
            "simulate", "--act", "gelu", "--seed", str(seed), "--format", "json", *fix["args"]
        )
        summary = strict_json(out.stdout)["summary"]
        got.append({"forward": summary["forward"], "backward": summary["backward"]})
    assert_holds(fix["expect"], got, "gelu he via the CLI")


@pytest.mark.parametrize(
    "blocks",
    [{"block": "residual"}, {"norm": "batch"}, {"block": "residual", "norm": "batch"}],
)
def test_block_fix_holds_when_followed(blocks):
    """A residual stack under He doubles its variance every block, BatchNorm's gradient
    grows by pi/(pi-1) per layer: the fix changes the block options, not the init."""
    s = varprop.simulate(init="he", act="relu", depth=DEPTH, width=WIDTH, **blocks).summary
    if s.forward == "stable" and s.backward == "stable":
        return
    fix = s.fix.to_dict()
    assert "--init" not in fix["args"]
    kw = {**blocks, **as_kwargs(fix["args"])}
    got = []
    for seed in SEEDS:
        f = varprop.simulate(init="he", act="relu", depth=DEPTH, width=WIDTH, seed=seed, **kw)
        got.append({"forward": f.summary.forward, "backward": f.summary.backward})
    assert_holds(fix["expect"], got, f"he:relu {blocks} -> {fix['args']}")
