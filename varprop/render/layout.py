"""Tables that fit the screen: whole columns are dropped, numbers never wrap or get cut.

A table is a list of :class:`Column` s.  Each has a drop rank: 0 for the columns that
must stay (the one naming the row, the main figures), higher for those that can go,
the highest first.  :func:`draw` keeps as many columns as the width holds and names
the ones it left out in one line.

Whether colour and Unicode are available is known only when the output is printed:
:class:`Adaptive` builds a renderable then, from a :class:`Screen`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.segment import Segment
from rich.text import Text


@dataclass(frozen=True)
class Screen:
    """Where a table is printed: its width, and whether colour and Unicode can be used.

    ``colour`` is false under NO_COLOR, TERM=dumb, a pipe or a file: then every meaning
    that colour would carry must be spelled.  ``unicode`` is false for a pipe or a file
    (saved tables stay plain ASCII) and for a terminal that cannot encode it.
    """

    width: int = 100
    colour: bool = False
    unicode: bool = False

    def glyph(self, fancy: str, plain: str) -> str:
        return fancy if self.unicode else plain

    def style(self, style: str) -> str:
        return style if self.colour else ""


class Adaptive:
    """A renderable built at print time: ``build(screen)`` returns what to print."""

    def __init__(self, build: Callable[[Screen], object]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(screen_of(console, options))


def screen_of(console: Console, options: ConsoleOptions) -> Screen:
    terminal = console.is_terminal
    return Screen(
        width=options.max_width,
        colour=terminal and console.color_system is not None and not console.no_color,
        unicode=terminal and not options.ascii_only,
    )


@dataclass
class Column:
    """One column: a header (``\\n`` for two lines), its cells, how to justify them,
    and its drop rank (0: always kept; higher: dropped earlier when space runs out).
    ``name`` says what it holds in the "left out" line (default: the header)."""

    header: str
    cells: list = field(default_factory=list)
    justify: str = "right"
    drop: int = 0
    name: str | None = None

    @property
    def width(self) -> int:
        lines = self.header.split("\n")
        return max([cell_len(s) for s in lines] + [_len(c) for c in self.cells])

    @property
    def title(self) -> str:
        return self.name or " ".join(self.header.split())


GAP = 2


def fit(columns: Sequence[Column], width: int) -> tuple[list[Column], list[Column]]:
    """(kept, dropped): drop the columns of the highest rank, all of them together (a
    measured figure's theory goes with its twin's), until the rest fit ``width``."""
    kept = list(columns)
    dropped: list[Column] = []
    while table_width(kept) > width:
        rank = max((c.drop for c in kept), default=0)
        if rank == 0:
            break
        dropped += [c for c in kept if c.drop == rank]
        kept = [c for c in kept if c.drop != rank]
    return kept, dropped


def table_width(columns: Sequence[Column]) -> int:
    """The width the columns take side by side."""
    return sum(c.width for c in columns) + GAP * max(len(columns) - 1, 0)


def draw(columns: Sequence[Column], screen: Screen, *, title: str | None = None):
    """The table as lines of text: header, a rule, one line per row; no trailing spaces.

    Columns that do not fit ``screen.width`` are left out (highest drop rank first) and
    named in a last line.  A Group when there is a title or such a line, else the
    table's own :class:`Lines`.
    """
    kept, dropped = fit(columns, screen.width)
    widths = [c.width for c in kept]
    out = Lines()
    depth = max(len(c.header.split("\n")) for c in kept)
    for k in range(depth):
        cells = []
        for c in kept:
            lines = c.header.split("\n")
            lines = [""] * (depth - len(lines)) + lines  # bottom-aligned
            cells.append(Text(lines[k], style="bold"))
        _line(out, cells, kept, widths)
    rule = screen.glyph("─", "-") * table_width(kept)
    out.append(rule + "\n", style="dim")
    for r in range(max((len(c.cells) for c in kept), default=0)):
        _line(out, [c.cells[r] if r < len(c.cells) else "" for c in kept], kept, widths)
    out.rstrip()
    if not (title or dropped):
        return out
    # The title and the note are prose: they may wrap, the table may not.
    parts = [Text(title, style="bold")] if title else []
    parts.append(out)
    if dropped:
        names = ", ".join(dict.fromkeys(c.title for c in sorted(dropped, key=columns.index)))
        parts.append(Text(f"not shown at {screen.width} columns: {names}", style="dim"))
    return Group(*parts)


class Lines(Text):
    """Text printed line for line, never wrapped: a wrapped table line would put half a
    row under the other half.  (Only a table whose essential columns alone exceed the
    screen is wider than it; the CLI prints without cropping, so nothing is cut.)"""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.render(console)
        yield Segment.line()


def _line(out: Text, cells: Sequence, columns: Sequence[Column], widths: Sequence[int]) -> None:
    line = Text()
    for i, (cell, column, width) in enumerate(zip(cells, columns, widths, strict=True)):
        text = cell if isinstance(cell, Text) else Text(str(cell))
        pad = " " * (width - text.cell_len)
        if i:
            line.append(" " * GAP)
        if column.justify == "right":
            line.append(pad)
            line.append_text(text)
        else:
            line.append_text(text)
            line.append(pad)
    line.rstrip()
    out.append_text(line)
    out.append("\n")


def _len(cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))
