"""The table format: for people at a terminal.

Every renderer here returns a rich renderable that fits itself to the screen when it
is printed (:mod:`varprop.render.layout`): columns leave whole, in a documented order,
rather than wrap or cut a number; colour only repeats what words say.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from varprop.listing import Listing
from varprop.render import View, advice, layers, runs
from varprop.render.phase import phase_table
from varprop.results import PhaseResult, RecommendResult, SimulationResult, TheoryResult
from varprop.sweep import Runs


def render(result, view: View):
    if isinstance(result, SimulationResult):
        return layers.simulate(result, view)
    if isinstance(result, Runs):
        return {"seeds": layers.seeds, "grid": runs.grid}.get(result.kind, runs.compare)(
            result, view
        )
    if isinstance(result, TheoryResult):
        return layers.theory(result, view)
    if isinstance(result, RecommendResult):
        return advice.recommend(result, view)
    if isinstance(result, Listing):
        return listing(result)
    if isinstance(result, PhaseResult):
        return phase_table(result, view)
    raise TypeError(f"no table rendering for {type(result).__name__}")


def listing(result: Listing) -> Group:
    t1 = Table(title="initializers", title_justify="left", header_style="bold")
    for col in ("name", "aliases", "sigma_w^2", "distribution", "what it is"):
        t1.add_column(col)
    for i in result.inits:
        name = i["name"] + ("\n" + ", ".join(i["flavours"]) if i["flavours"] else "")
        t1.add_row(name, ", ".join(i["aliases"]), i["sigma_w2"], i["distribution"], i["summary"])
    t2 = Table(title="activations", title_justify="left", header_style="bold")
    for col in ("name", "aliases", "what it is"):
        t2.add_column(col)
    for a in result.acts:
        t2.add_row(a["name"], ", ".join(a["aliases"]), a["summary"])
    note = Text("A number in place of an initializer is sigma_w^2: --init 1.5 or 1.5:tanh.")
    return Group(t1, t2, note)
