"""One judgement, used everywhere: the same configuration gets the same words from
simulate, compare, grid, theory, recommend and --seeds (DESIGN.md, "Verdicts")."""

from __future__ import annotations

import pathlib
import tomllib

import pytest
from support import invoke, strict_json

import varprop

# The pairs the literature prescribes, at depth 50 and width 512 (the done-when of the
# advice issue).  Finite-width noise at this size is ~0.25 decades a curve, far from
# every threshold these pairs sit near in theory (xavier:tanh's power-law share is 0.57
# against a band of 0.35-0.8; its 2.0-decade drift is judged by shape, not by the band).
PAIRS = {
    ("xavier", "tanh"): ("power-law", "stable"),
    ("he", "relu"): ("stable", "stable"),
    ("lecun", "selu"): ("stable", "stable"),
}
SIZE = ("--depth", "50", "--width", "512")


def words(summary: dict) -> tuple[str, str]:
    return summary["forward"], summary["backward"]


@pytest.mark.parametrize(("pair", "expect"), PAIRS.items())
def test_every_command_says_the_same(pair, expect):
    init, act = pair
    simulate = strict_json(
        invoke("simulate", "--init", init, "--act", act, *SIZE, "--format", "json").stdout
    )
    theory = strict_json(
        invoke("theory", "--init", init, "--act", act, *SIZE, "--format", "json").stdout
    )
    seeds = strict_json(
        invoke(
            "simulate", "--init", init, "--act", act, *SIZE, "--seeds", "3", "--format", "json"
        ).stdout
    )
    recommend = varprop.recommend(act, depth=50, width=512)
    row = next(i for i in recommend.inits if i.init == init)
    assert words(simulate["summary"]) == expect
    assert words(theory["summary"]) == expect
    assert (row.forward, row.backward) == expect
    assert all(words(r["summary"]) == expect for r in seeds["runs"])


def test_compare_and_grid_agree_with_simulate():
    pairs = [f"{i}:{a}" for i, a in PAIRS]
    compare = strict_json(invoke("compare", *pairs, *SIZE, "--format", "json").stdout)
    grid = strict_json(
        invoke("grid", "--inits", "xavier,he,lecun", "--acts", "tanh,relu,selu", *SIZE,
               "--format", "json").stdout
    )  # fmt: skip
    for runs in (compare["runs"], grid["runs"]):
        got = {(r["config"]["init"], r["config"]["act"]): words(r["summary"]) for r in runs}
        for pair, expect in PAIRS.items():
            assert got[pair] == expect, pair


def test_every_subpackage_is_installed():
    """A non-editable install ships only the packages pyproject lists."""
    root = pathlib.Path(__file__).resolve().parents[1]
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(root).parts) for p in (root / "varprop").rglob("__init__.py")
    }
    assert found <= listed
