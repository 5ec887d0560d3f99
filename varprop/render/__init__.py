"""The output formats, one module each, in one registry (as pip-audit's ``_format``).

Every format renders every result type: a simulation (:class:`SimulationResult`), several
runs (:class:`varprop.sweep.Runs`: compare, grid, ``simulate --seeds``), a theory
prediction, a recommendation, the phase diagram and the registry listing.  The CLI makes
one call, :func:`render`, and prints what it returns (a string, or a rich renderable that
fits itself to the screen when printed).

Text formats are chosen with ``--format``; the plot format (``--plot PATH``, with the
``plot`` extra) writes a figure file instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class View:
    """How much a rendering shows, the options every format reads (most ignore some).

    ``every``: show every K-th layer (None: at most about 20 layers, see
    :func:`varprop.render.numbers.rows_to_show`); ``explain``: the full legend and the
    reasoning behind advice; ``summary``: CSV with one row per run instead of one per
    layer; ``layers`` and ``chart``: compare's per-layer table and depth chart.
    (Histograms are in the result itself: ``simulate(hist_layers=...)``.)
    """

    every: int | None = None
    explain: bool = False
    summary: bool = False
    layers: bool = False
    chart: bool = True


# name -> module.  Each module has ``render(result, view)``; imported only when used, so
# that ``varprop --help`` (which lists the names) stays fast.
# The text formats, ``--format``'s choices:
FORMATS = {
    "table": "varprop.render.table",
    "json": "varprop.render.json",
    "csv": "varprop.render.csv",
}
# The figure formats: a matplotlib Figure, saved by ``--plot PATH`` (the ``plot`` extra).
FIGURES = {
    "plot": "varprop.render.plot",
}
ALL_FORMATS = FORMATS | FIGURES


def format_module(fmt: str) -> ModuleType:
    import importlib

    if fmt not in ALL_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(ALL_FORMATS)}")
    return importlib.import_module(ALL_FORMATS[fmt])


def render(result, fmt: str = "table", view: View | None = None):
    """``result`` in format ``fmt``: a string (json, csv), a rich renderable (table) or
    a matplotlib Figure (plot)."""
    return format_module(fmt).render(result, view or View())
