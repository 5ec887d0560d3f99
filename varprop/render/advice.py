"""``recommend``'s table: the criteria, every named initializer, and the answer."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from varprop.render import View
from varprop.render.layout import Adaptive, Column, Screen, draw
from varprop.render.numbers import num
from varprop.render.terms import SHORT, SHORT_LEGEND, VERDICT_STYLE, advice, legend_hint
from varprop.results import RecommendResult

CRITERION_TITLES = {
    "forward": "forward (q=1 fixed)",
    "edge_of_chaos": "edge of chaos",
    "kumar": "Kumar 2017",
    "torch_gain": "torch gain^2",
}


def short_verdicts(i) -> str:
    """A named init's two verdicts in a narrow column: ``ok/ok`` or ``van/van``."""
    return f"{SHORT.get(i.forward, i.forward)}/{SHORT.get(i.backward, i.backward)}"


def recommend(result: RecommendResult, view: View) -> Adaptive:
    return Adaptive(lambda screen: _recommend(result, view, screen))


def _recommend(result: RecommendResult, view: View, screen: Screen) -> Group:
    crits = result.criteria
    best = [c.name == result.best_criterion for c in crits]
    yes_no = {True: Text("yes", screen.style("green")), False: Text("NO", screen.style("bold red"))}
    criteria = draw(
        [
            Column(
                "criterion",
                [
                    Text(("* " if b else "  ") + CRITERION_TITLES.get(c.name, c.name), "bold" * b)
                    for c, b in zip(crits, best, strict=True)
                ],
                justify="left",
            ),
            Column("sigma_w^2", [num(c.sigma_w2, 4) for c in crits]),
            Column("q*", [num(c.q_star, 3) for c in crits], drop=3),
            Column("stable", [yes_no.get(c.stable, Text("-")) for c in crits], justify="left"),
            Column("chi_1", [num(c.chi_1, 4) for c in crits], drop=2),
            Column("phase", [c.phase or "-" for c in crits], justify="left", drop=1),
        ],
        screen,
        title=f"sigma_w^2 for {result.act} (sigma_b^2 = {num(result.bias_var)}), by criterion",
    )
    mark = screen.glyph("✓", "+")
    inits = result.inits
    named = draw(
        [
            Column(
                "init",
                [
                    Text(
                        (mark + " " if i.verdict == "stable" else "  ") + i.init,
                        screen.style("bold green") if i.verdict == "stable" else "",
                    )
                    for i in inits
                ],
                justify="left",
            ),
            Column("sigma_w^2", [num(i.sigma_w2, 4) for i in inits]),
            Column("Var(h)\nx/layer", [num(i.forward_factor, 3) for i in inits], drop=2),
            Column("RMS(δ)\nx/layer", [num(i.grad_factor, 3) for i in inits], drop=2),
            Column("q*", [num(i.q_star, 3) for i in inits], drop=3),
            Column(
                "fwd/bwd",
                [
                    Text(short_verdicts(i), screen.style(VERDICT_STYLE.get(i.forward, "")))
                    for i in inits
                ],
                justify="left",
            ),
        ],
        screen,
        title=f"named initializers with {result.act} (theory, width {result.width}, "
        f"{result.depth} layers)",
    )
    if result.best is None:
        answer = Text.assemble(("best: ", "bold"), "no criterion has an answer for this activation")
    else:
        answer = advice(result.best, None, label="best: ")
    parts = [criteria, Text(), named, Text(), answer]
    if view.explain:
        notes = Text(style="dim")
        for c in crits:
            if c.note:
                notes.append(f"{c.name}: ", style="bold")
                notes.append(c.note + "\n")
        notes.append(
            f"fwd/bwd: theory's verdicts over {result.depth} layers ({SHORT_LEGEND}); "
            "x/layer: geometric mean per layer over the stack."
        )
        parts.append(notes)
    else:
        parts.append(legend_hint(f"fwd/bwd: {SHORT_LEGEND}", more="how each criterion is derived"))
    return Group(*parts)
