"""What every table shares: verdict words and their colours, set-up lines, legends.

Colour never carries a meaning alone: where it marks a verdict the word is printed too,
and a legend speaks of colour only when there is colour on the screen.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from varprop.judge import STABLE_DECADES
from varprop.render.layout import Lines, Screen
from varprop.render.numbers import num
from varprop.words import fix_parts, limit_text, verdict_text

VERDICT_STYLE = {
    "stable": "bold green",
    "vanishing": "bold blue",
    "exploding": "bold red",
    "saturated": "bold yellow",
    "power-law": "bold cyan",
    "overflow": "bold red",
    "unknown": "bold magenta",
}
# A verdict in a narrow cell.
SHORT = {
    "stable": "ok",
    "power-law": "pow",
    "vanishing": "van",
    "exploding": "exp",
    "saturated": "sat",
    "overflow": "ovf",
    "unknown": "?",
}
SHORT_LEGEND = "ok stable, van vanishing, exp exploding, sat saturated, pow power-law, ovf overflow"


def verdict(word: str, screen: Screen, exponent: float | None = None) -> Text:
    """A verdict word, coloured where colour is available."""
    return Text(verdict_text(word, exponent), style=screen.style(VERDICT_STYLE.get(word, "")))


def votes_text(word: str, votes: dict[str, int]) -> str:
    """The seeds' majority verdict, with its count when they disagree: ``stable 4/5``."""
    n = sum(votes.values())
    return word if votes.get(word, 0) == n else f"{word} {votes[word]}/{n}"


def drift_style(log10: float | None, origin: float | None, screen: Screen) -> str:
    """Red above 10^2 times ``origin``, blue below 10^-2 (the verdicts' band)."""
    if not screen.colour or log10 is None or origin is None:
        return ""
    drift = log10 - origin
    if drift > STABLE_DECADES:
        return "red"
    if drift < -STABLE_DECADES:
        return "blue"
    return ""


def block_text(c) -> str:
    """``residual blocks, alpha 0.1, layer norm before phi`` (empty for a plain stack)."""
    parts = []
    if getattr(c, "block", "plain") == "residual":
        parts.append(f"residual blocks, alpha {num(c.branch_scale, 4)}")
    if getattr(c, "norm", "none") != "none":
        parts.append(f"{c.norm} norm before phi")
    return ", ".join(parts)


def uniform(c) -> bool:
    """Every layer as wide as the others (the input's own width n_0 aside)."""
    return len(set(c.widths[1:])) <= 1


def width_text(c) -> str:
    """``width 512``, or the chain ``widths 512-784-256-10``."""
    n = c.widths
    if uniform(c):
        return f"width {n[-1] if n else c.width}"
    return "widths " + ("-".join(map(str, n)) if len(n) <= 8 else f"{n[0]}-{n[1]}-...-{n[-1]}")


def var_name(c) -> str:
    """What a stack's per-layer variance is of: the residual stream x or the pre-activation h."""
    return "Var(x)" if getattr(c, "block", "plain") == "residual" else "Var(h)"


def seed_text(seeds) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"


def advice(fix, limit: str | None, label: str = "fix:      ") -> Group:
    """The ``fix:`` sentence, the options to paste on a line of their own (never broken
    across lines), and what it will show; or why there is none."""
    if fix is None:
        if limit is None:
            return Group()
        return Group(Text.assemble(("no fix:   ", "bold"), limit_text(limit)))
    head = Text(label, style="bold")
    indent = " " * len(label)
    sentence, command = fix_parts(fix)
    head.append(sentence + (":" if command else ""))
    parts: list = [head]
    if command:
        parts.append(Lines(indent + command))
    expect = ", ".join(f"{k} {v}" for k, v in fix.expect.items())
    parts.append(Text(f"{indent}expect: {expect}", style="dim"))
    return Group(*parts)


def rows_note(shown: int, total: int) -> Text:
    """The line under a thinned table: how to see every layer."""
    if shown >= total:
        return Text()
    return Text(f"showing {shown} of {total} layers; --every 1 shows all\n", style="dim")


def legend_hint(what: str, more: str = "the full legend") -> Text:
    """The one legend line a table ends with by default."""
    return Text(f"{what}; --explain for {more}", style="dim")


# The full legends, printed with --explain.
DRIFT = (
    "A figure more than 10^{d:g} above or below layer 1 (Var) or layer L (RMS(δ), where "
    "backprop starts) is {how}; the verdicts use the same band on the last (Var) or first "
    "(RMS(δ)) layer; an algebraic drift (l^p) reads power-law."
)


def drift_legend(screen: Screen) -> str:
    how = "red above, blue below" if screen.colour else "out of the stable band"
    return DRIFT.format(d=STABLE_DECADES, how=how)


LEGEND = {
    "plain": (
        "h = a W + b, a = phi(h), δ = dL/dh.  theory: mean field, infinite width.  mean(a): "
        "mean activation.  sat.: units in the flat part, or dead on the whole batch.  "
        "‖dL/dW‖: the weight gradient's norm."
    ),
    "norm": (
        "h = a W + b, a = phi(N(h)), δ = dL/dh (through the norm N).  theory: mean field, "
        "infinite width and batch.  sat.: units in the flat part, or dead on the whole batch."
    ),
    "residual": (
        "x_l = x_(l-1) + alpha (a W + b), a = phi(N(x_(l-1))), δ = dL/dx; mean(a) and sat.: "
        "the branch's a.  theory: mean field, infinite width."
    ),
}


def stack_kind(c) -> str:
    if getattr(c, "block", "plain") == "residual":
        return "residual"
    return "norm" if getattr(c, "norm", "none") != "none" else "plain"
