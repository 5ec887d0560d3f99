"""The ``varprop`` command: parse, call the core, render.  No numerics here.

Heavy modules (numpy, rich, the registries) are imported inside commands, so that
``varprop --help`` answers at once.
"""

from __future__ import annotations

import errno
import functools
import io
import math
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import ClassVar

import click

# ---------------------------------------------------------------- parameter types


class RegistryName(click.ParamType):
    """A name looked up in a registry at parse time (activations or initializers).

    The lookup function raises VarpropError with the valid choices; that message
    becomes click's usage error (exit 2).
    """

    def __init__(self, name: str, lookup: Callable[[], Callable], names: Callable[[], list[str]]):
        self.name = name
        self._lookup = lookup
        self._names = names

    def get_metavar(self, param, ctx=None) -> str:  # click >= 8.2 passes ctx
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from varprop.errors import VarpropError

        try:
            self._lookup()(value)
        except VarpropError as e:
            self.fail(str(e), param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        """The registry's names that start with what is typed (bash, zsh, fish)."""
        return _complete(self._names(), incomplete)


def _complete(names, incomplete: str, prefix: str = "") -> list:
    from click.shell_completion import CompletionItem

    return [CompletionItem(prefix + n) for n in names if n.startswith(incomplete)]


def _act_lookup():
    from varprop.activations import get_activation

    return get_activation


def _act_names():
    from varprop.activations import activation_names

    return activation_names()


def _init_lookup():
    from varprop.initializers import get_initializer

    return get_initializer


def _init_names():
    from varprop.initializers import init_names

    return init_names()


ACT = RegistryName("activation", _act_lookup, _act_names)
INIT = RegistryName("initializer", _init_lookup, _init_names)


class FiniteFloat(click.ParamType):
    """A finite float, optionally bounded below; rejects nan and inf."""

    name = "float"

    def __init__(self, minimum: float | None = None, *, strict: bool = False):
        self.minimum = minimum
        self.strict = strict

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.minimum is not None and (x <= self.minimum if self.strict else x < self.minimum):
            op = ">" if self.strict else ">="
            self.fail(f"{value!r} must be {op} {self.minimum:g}", param, ctx)
        return x


class IntList(click.ParamType):
    """Comma-separated positive integers: ``512,256,128``."""

    name = "N,N,..."

    def __init__(self, maximum: int | None = None):
        self.maximum = maximum

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(int(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{_short(value)!r} is not a comma-separated list of integers", param, ctx)
        if not items or min(items) < 1:
            self.fail(f"{_short(value)!r}: every width must be >= 1", param, ctx)
        if self.maximum is not None and max(items) > self.maximum:
            self.fail(f"every width must be at most {self.maximum:,}", param, ctx)
        return items


class HistLayers(click.ParamType):
    """``--hist``: comma-separated layers ``1,10,50``, or ``auto`` (a bare ``--hist``)."""

    name = "L,L,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple) or value == "auto":
            return value
        try:
            return tuple(int(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{_short(value)!r} is not a comma-separated list of layers", param, ctx)


def _short(value, limit: int = 60) -> str:
    """A value as the user gave it, cut short for a one-line message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ByteSize(click.ParamType):
    """A memory size: ``4GiB``, ``512MiB``, ``2e9`` (bytes)."""

    name = "SIZE"
    UNITS: ClassVar[dict[str, int]] = {
        "": 1, "b": 1, "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20,
        "g": 2**30, "gib": 2**30, "t": 2**40, "tib": 2**40,
        "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    }  # fmt: skip

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
        unit = text[len(number) :].strip()
        try:
            x = float(number) * self.UNITS[unit]
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size such as 4GiB, 512MiB or 2e9", param, ctx)
        if not (math.isfinite(x) and x > 0):
            self.fail(f"{value!r} must be a positive size", param, ctx)
        return int(x)


class BranchScale(click.ParamType):
    """``--branch-scale``: a finite number > 0, or ``auto`` (1/sqrt(depth))."""

    name = "ALPHA|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float):
            return value
        from varprop.blocks import branch_alpha
        from varprop.errors import VarpropError

        text = str(value).strip().lower()
        try:
            branch_alpha(text, 1)
        except VarpropError as e:
            self.fail(str(e), param, ctx)
        return "auto" if text == "auto" else float(text)


# ---------------------------------------------------------------- shared options

EVERY_OPTION = click.option(
    "--every",
    type=click.IntRange(min=1),
    default=None,
    help="Show every K-th layer (first and last always) [default: about 20 layers].",
)
MAX_MEMORY_HELP = "Memory limit for the run, e.g. 4GiB (default: 90% of available)."

DEPTH = click.IntRange(min=1)
# Theory needs no memory per unit, but 'normal' init has sigma_w^2 = width: keep it sane.
THEORY_WIDTH = click.IntRange(min=1, max=10**9)


# Options that shape the initializer, shared by the sampling commands and `theory`.
GAIN_OPTION = click.option(
    "--gain", type=FiniteFloat(0, strict=True), default=1.0, show_default=True,
    help="Gain of the orthogonal initializer.",
)  # fmt: skip
FAN_MODE_OPTION = click.option(
    "--fan-mode", type=click.Choice(["fan_in", "fan_out"]), default="fan_in",
    show_default=True, help="Fan used by he and lecun.",
)  # fmt: skip


BLOCK_OPTIONS = [
    click.option("--block", type=click.Choice(["plain", "residual"]), default="plain",
                 show_default=True,
                 help="plain: a = phi(N(h)), h = a W + b.  residual: x_l = x_(l-1) + "
                      "alpha (phi(N(x_(l-1))) W + b), every width equal."),
    click.option("--norm", type=click.Choice(["none", "layer", "rms", "batch"]),
                 default="none", show_default=True,
                 help="N before phi: layer (per sample, mean 0 var 1), rms (per sample, "
                      "mean square 1), batch (per unit over the batch); eps 1e-5, no affine."),
    click.option("--branch-scale", type=BranchScale(), default=None,
                 help="alpha of a residual branch: a number > 0, or auto = 1/sqrt(depth) "
                      "[default: 1]."),
]  # fmt: skip


def block_options(f):
    """--block, --norm, --branch-scale (DESIGN.md "Blocks")."""
    for option in reversed(BLOCK_OPTIONS):
        f = option(f)
    return f


def common_run_options(f):
    """Options every sampling command shares (simulate, compare, grid)."""
    options = [*BLOCK_OPTIONS,
        click.option("--depth", type=DEPTH, default=50, show_default=True,
                     help="Number of weight layers L."),
        click.option("--width", type=click.IntRange(min=1), default=512, show_default=True,
                     help="Units per layer (and input dimension)."),
        click.option("--widths", type=IntList(), default=None,
                     help="Layer widths n_1,...,n_L; sets the depth (overrides --depth). "
                          "The input n_0 stays --width, or the data's columns."),
        click.option("--batch", type=click.IntRange(min=1), default=None,
                     help="Samples per batch [default: 256; with --input FILE every row, "
                          "and N takes the first N rows]."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Random seed; same seed, same numbers bit for bit."),
        click.option("--bias-var", type=FiniteFloat(0), default=None,
                     help="sigma_b^2: biases ~ N(0, sigma_b^2). Default: zero (a preset's "
                          "own bias)."),
        click.option("--bias-std", type=FiniteFloat(0), default=None,
                     help="The same as a standard deviation (give one of the two)."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
                     show_default=True, help="Arithmetic of the simulation."),
        GAIN_OPTION,
        FAN_MODE_OPTION,
        click.option("--max-memory", type=ByteSize(), default=None, help=MAX_MEMORY_HELP),
        click.option("--input", default="normal", show_default=True, metavar="normal|uniform|PATH",
                     help="Input batch: N(0,1), unit-variance uniform, or your data in a .npy "
                          "or .csv file (rows = samples, columns = features; a non-numeric "
                          "first CSV line is a header). Its columns set the first fan-in."),
        click.option("--standardize/--no-standardize", default=True, show_default=True,
                     help="Scale each column of an --input file to mean 0, variance 1 over "
                          "the whole file (a constant column is then an error)."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


MAX_SEEDS = 10_000


def seeds_option(f):
    """``--seeds N``: repeat with seeds seed .. seed+N-1 and report mean and band."""
    return click.option(
        "--seeds",
        type=click.IntRange(min=1, max=MAX_SEEDS),  # each seed is a whole run
        default=1,
        show_default=True,
        help="Repeat with seeds SEED..SEED+N-1; report the geometric mean and min-max band.",
    )(f)


def output_options(f=None, *, plot: bool = True):
    """``--format``, ``--output``, ``--explain`` and (``plot``) ``--plot``; the targets
    are checked before the command runs, and for ``--plot`` that matplotlib is there."""
    if f is None:
        return functools.partial(output_options, plot=plot)

    @functools.wraps(f)
    def checked(*args, **kwargs):
        from varprop.output import check_figure, check_target

        inputs = (kwargs.get("input"),)
        kwargs["output"] = check_target(kwargs["output"], inputs)
        if plot:
            kwargs["plot"] = check_figure(kwargs["plot"], inputs, kwargs["output"])
        return f(*args, **kwargs)

    from varprop.render import FORMATS

    options = [
        click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="table",
                     show_default=True, help="table for people, json or csv for scripts."),
        click.option("--output", "-o", type=str, default=None, metavar="PATH",
                     help="Write to this file (whole or not at all) instead of stdout (- is "
                          "stdout)."),
        click.option("--explain", is_flag=True,
                     help="Table: add the full legend and the reasoning behind the advice."),
    ]  # fmt: skip
    if plot:
        options.append(
            click.option("--plot", type=str, default=None, metavar="PATH",
                         help="Also draw the result to PATH.png, .svg or .pdf (needs "
                              'matplotlib: pip install "varprop[plot]").'),
        )  # fmt: skip
    for option in reversed(options):
        checked = option(checked)
    return checked


def summary_option(f):
    """``--summary``: the csv format's one row per run (the commands that sample)."""

    @functools.wraps(f)
    def checked(*args, **kwargs):
        if kwargs["summary"] and kwargs["fmt"] != "csv":
            raise click.UsageError("--summary is a csv form: give it with --format csv")
        return f(*args, **kwargs)

    return click.option(
        "--summary", is_flag=True,
        help="With --format csv: one row per run (its figures, verdicts and fix) instead of "
             "one per layer.",
    )(checked)  # fmt: skip


# ---------------------------------------------------------------- output


# Piped output and files: a fixed width, unless COLUMNS says otherwise.
PIPE_WIDTH = 100


def show(result, fmt: str, output: str | None, plot: str | None = None, **view) -> None:
    """Every command's one output call: ``result`` in format ``fmt``, printed or written,
    and its figure written to ``plot`` first (both targets checked before the work)."""
    from varprop.render import View, render

    shown = View(**view)
    if plot is not None:
        from varprop.render.plot import save

        save(result, plot, shown)
    emit(render(result, fmt, shown), output)


def emit(renderable, output: str | None) -> None:
    """Print to stdout, or write ``output`` atomically (temp file, then rename).

    A renderable is laid out for where it goes: the terminal's width (COLUMNS honoured)
    and colours, or PIPE_WIDTH and plain ASCII for a pipe or a file; no line ends in
    spaces.  A stdout that cannot encode Unicode gets the ASCII rendering; one that
    cannot be written at all is an OutputError (exit 2, one line).
    """
    from varprop import output as out

    if output is not None:
        text = renderable if isinstance(renderable, str) else _capture(renderable, None)
        out.write_atomic(output, text)
        return
    with out.stdout_errors():
        ascii_only = not out.stdout_encodes()
        text = renderable if isinstance(renderable, str) else _capture(renderable, ascii_only)
        sys.stdout.write(out.asciify(text) if ascii_only else text)


class _AsciiBuffer(io.StringIO):
    """A buffer that tells rich it cannot take Unicode: ASCII boxes, plain charts."""

    encoding = "ascii"


def _capture(renderable, ascii_only: bool | None) -> str:
    """The text rich prints for ``renderable``: like stdout's console (``ascii_only``
    says whether stdout takes Unicode), or for a file when ``ascii_only`` is None."""
    import os
    import re

    from rich.console import Console

    if ascii_only is None:  # a file
        console = Console(file=io.StringIO(), width=PIPE_WIDTH, color_system=None)
    else:
        real = Console()
        width = real.width if real.is_terminal or os.environ.get("COLUMNS") else PIPE_WIDTH
        console = Console(
            file=_AsciiBuffer() if ascii_only else io.StringIO(), width=width,
            color_system=real.color_system, force_terminal=real.is_terminal,
            no_color=real.no_color, legacy_windows=False,
        )  # fmt: skip
    console.print(renderable, soft_wrap=False, crop=False)  # tables are never cut
    text = console.file.getvalue()
    # No trailing spaces (not even before a colour's reset code).
    return re.sub(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", r"\1", text, flags=re.M)


def write_atomic(path: str, text: str) -> None:
    """Kept for scripts that import it: see :func:`varprop.output.write_atomic`."""
    from varprop.output import write_atomic as write

    write(path, text)


@contextmanager
def core_errors():
    """Turn VarpropError from the core into a usage error (exit 2), in one place."""
    from varprop.errors import VarpropError

    try:
        yield
    except VarpropError as e:
        raise click.UsageError(
            f"Invalid value for '{e.param}': {e}" if e.param else str(e)
        ) from None
    except MemoryError:
        # The estimate fitted (or --max-memory raised the limit) but the OS said no.
        raise click.UsageError(
            "out of memory: the machine could not allocate what this run needs, though it "
            "fits the --max-memory limit; lower --depth, --width or --batch"
        ) from None


# ---------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="varprop")
def cli() -> None:
    """See why initialization must match the activation.

    varprop builds deep fully-connected stacks from an initializer and an activation,
    pushes a random batch forward and backward, and shows per layer how the signal's
    variance and the gradient's magnitude evolve, beside the mean-field prediction.

    \b
      varprop simulate --init he --act relu --depth 50
      varprop compare he:relu xavier:relu xavier:tanh he:tanh
      varprop grid --depth 50
      varprop theory --act tanh --weight-var 1.5 --depth 100
      varprop recommend --act gelu
      varprop list
    """


@cli.command()
@click.option(
    "--init",
    type=INIT,
    default="he",
    show_default=True,
    help="Initializer (see `varprop list`), or a number: sigma_w^2.",
)
@click.option(
    "--act",
    type=ACT,
    default="relu",
    show_default=True,
    help="Activation (see `varprop list`); leaky-relu:SLOPE, elu:ALPHA.",
)
@click.option(
    "--weight-var",
    type=FiniteFloat(0),
    default=None,
    help="Explicit sigma_w^2 (weights N(0, sigma_w^2/fan_in)); replaces --init.",
)
@common_run_options
@EVERY_OPTION
@click.option(
    "--hist",
    type=HistLayers(),
    is_flag=False,
    flag_value="auto",
    default=None,
    help="Histograms of h, a and dL/dh at these layers (bare --hist: first, last, 3 between).",
)
@seeds_option
@output_options
@summary_option
def simulate(init, act, weight_var, every, hist, seeds, fmt, output, explain, plot, summary, **run):
    """Simulate one initializer/activation pair, layer by layer.

    Prints, for each layer l, the variance of the pre-activations h_l, the mean and
    variance of the activations a_l, the saturated fraction, the RMS of the
    backpropagated gradient dL/dh_l and the norm of dL/dW_l, with the mean-field
    prediction beside them; then whether the forward signal and the gradient are
    stable, vanish or explode, and the fix when they do.

    \b
      varprop simulate --init he --act relu --depth 50
      varprop simulate --init xavier --act relu --depth 50 --every 10
      varprop simulate --init torch-default --act relu --format json
      varprop simulate --init he --act relu --seeds 5
      varprop simulate --init normal --act tanh --depth 10 --hist 1,5,10
    """
    from varprop.api import simulate as run_simulation
    from varprop.sweep import total_work

    ctx = click.get_current_context()
    if weight_var is not None and ctx.get_parameter_source("init").name != "DEFAULT":
        raise click.UsageError("give --init or --weight-var, not both")
    init = weight_var if weight_var is not None else init
    view = {"every": every, "explain": explain, "summary": summary}
    if seeds > 1:
        if hist is not None:
            raise click.BadParameter(
                "histograms are drawn from one run: drop --seeds", param_hint="'--hist'"
            )
        from varprop.sweep import Pair, Runs

        pair = Pair(init, act)
        groups = run_many([pair], seeds, fmt, run, f"{init}:{act} x {seeds} seeds")
        show(Runs("seeds", groups, (pair.label,)), fmt, output, plot, **view)
        return
    with core_errors(), progress_bar(fmt, total_work(1, run), f"{init}:{act}") as tick:
        result = run_simulation(init=init, act=act, progress=tick, hist_layers=hist, **run)
    show(result, fmt, output, plot, **view)


@cli.command(name="list")
@output_options(plot=False)
def list_(fmt, output, explain) -> None:
    """List the registered initializers and activations."""
    from varprop.listing import listing

    show(listing(), fmt, output)


# ---------------------------------------------------------------- compare, grid, --seeds


class PairType(click.ParamType):
    """``INIT:ACT[@BLOCKS]``, split at the first colon (``he:leaky-relu:0.2``, ``1.5:tanh``)."""

    name = "INIT:ACT[@BLOCK,NORM,SCALE]"

    def convert(self, value, param, ctx):
        from varprop.errors import VarpropError
        from varprop.sweep import Pair, parse_pair

        if isinstance(value, Pair):
            return value
        try:
            return parse_pair(value)
        except VarpropError as e:
            self.fail(str(e), param, ctx)

    def shell_complete(self, ctx, param, incomplete):
        """An initializer, then after the colon an activation."""
        init, colon, act = incomplete.partition(":")
        if not colon:
            return _complete([n + ":" for n in _init_names()], init)
        return _complete(_act_names(), act, prefix=init + ":")


class NameList(click.ParamType):
    """Comma-separated initializers (``kind="init"``) or activations (``"act"``)."""

    name = "NAME,NAME,..."

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx):
        from varprop.errors import VarpropError
        from varprop.sweep import parse_names

        if isinstance(value, tuple):
            return value
        try:
            return parse_names(value, self.kind)
        except VarpropError as e:
            self.fail(str(e), param, ctx)

    def shell_complete(self, ctx, param, incomplete):
        """The last name of the list, from the registry."""
        done, _, last = incomplete.rpartition(",")
        names = _init_names() if self.kind == "init" else _act_names()
        return _complete(names, last, prefix=done + "," if done else "")


# Show the bar only for work that lasts: a quick run stays silent.
PROGRESS_AFTER = 1.0


def progress_bar(fmt: str, total: int, description: str):
    """A rich progress bar on stderr; yields ``advance(n)`` (or None when off).

    Off unless the format is a table and stderr is a terminal, and it appears only once
    the work has lasted PROGRESS_AFTER seconds; it removes itself when done.
    """

    @contextmanager
    def bar():
        if fmt != "table" or total <= 0:
            yield None
            return
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            yield None
            return
        import time

        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        task = progress.add_task(description, total=total)
        start = time.monotonic()
        shown = False

        def advance(n: int) -> None:
            nonlocal shown
            progress.advance(task, n)
            if not shown and time.monotonic() - start > PROGRESS_AFTER:
                progress.start()
                shown = True

        try:
            yield advance
        finally:
            if shown:
                progress.stop()

    return bar()


def run_many(pairs, seeds: int, fmt: str, run: dict, description: str):
    """Every pair over every seed, with a progress bar; ``[pair][seed]`` results."""
    from varprop.sweep import run_pairs, total_work

    seed = run.pop("seed")
    total = total_work(len(pairs) * seeds, run)
    with core_errors(), progress_bar(fmt, total, description) as tick:
        groups = run_pairs(pairs, seed=seed, seeds=seeds, progress=tick, **run)
    return tuple(tuple(runs) for runs in groups)


@cli.command()
@click.argument("pairs", nargs=-1, required=True, type=PairType())
@common_run_options
@seeds_option
@click.option(
    "--layers",
    "show_layers",
    is_flag=True,
    help="Add a per-layer view: layers as rows, each pair's Var(h) and grad RMS.",
)
@EVERY_OPTION
@click.option(
    "--chart/--no-chart",
    default=True,
    show_default=True,
    help="Chart log10 Var(h) and grad RMS against depth, one row per pair (table format).",
)
@output_options
@summary_option
def compare(pairs, seeds, show_layers, every, chart, fmt, output, explain, plot, summary, **run):
    """Compare initializer:activation pairs side by side.

    Each PAIR is INIT:ACT (split at the first colon, so he:leaky-relu:0.2 works; INIT may
    be a number, sigma_w^2, as in 1.5:tanh).  All pairs share depth, width, batch,
    seed, dtype and input.  Prints a chart of log10 Var(h) and log10 grad RMS against
    depth and a summary table: the variance ratio layer L / layer 1, the gradient
    ratio layer 1 / layer L, per-layer factors, theory beside them, and the verdicts.

    A pair may carry its own blocks after an @: INIT:ACT@ITEM,ITEM,... where each item
    is a block (plain, residual), a norm (none, layer, rms, batch) or a branch scale (a
    number > 0, or auto = 1/sqrt(depth)), in any order; what a pair leaves out comes
    from --block, --norm and --branch-scale.

    \b
      varprop compare he:relu xavier:relu xavier:tanh he:tanh --depth 50
      varprop compare he:relu 1.5:relu --layers --every 10
      varprop compare lecun:selu he:selu --seeds 5 --format json
      varprop compare he:relu he:relu@residual he:relu@residual,auto he:relu@residual,layer
      varprop compare he:relu@plain,batch he:relu@plain,layer --depth 30
    """
    from varprop.sweep import Runs

    description = f"compare {len(pairs)} pairs" + (f" x {seeds} seeds" if seeds > 1 else "")
    groups = run_many(list(pairs), seeds, fmt, run, description)
    result = Runs("compare", groups, tuple(p.label for p in pairs))
    show(result, fmt, output, plot, every=every, layers=show_layers, chart=chart,
         explain=explain, summary=summary)  # fmt: skip


def _default(names) -> str:
    return ",".join(names)


@cli.command()
@click.option(
    "--inits",
    type=NameList("init"),
    default=_default(("he", "xavier", "lecun", "normal", "torch-default")),
    show_default=True,
    help="Initializers, the rows (comma-separated; a number is sigma_w^2).",
)
@click.option(
    "--acts",
    type=NameList("act"),
    default=_default(("relu", "tanh", "sigmoid", "selu", "gelu")),
    show_default=True,
    help="Activations, the columns (comma-separated).",
)
@common_run_options
@seeds_option
@output_options
@summary_option
def grid(inits, acts, seeds, fmt, output, explain, plot, summary, **run) -> None:
    """Heat map of every initializer against every activation.

    Each cell holds log10 of the variance ratio Var(h) layer L / layer 1 and of the
    gradient ratio grad RMS layer 1 / layer L, coloured from vanishing (blue) through
    stable (green) to exploding (red); the pairs the literature prescribes are starred.

    \b
      varprop grid --depth 50
      varprop grid --inits he,xavier,lecun --acts relu,tanh,sigmoid --seeds 3
    """
    from varprop.sweep import Runs, grid_pairs

    pairs = grid_pairs(inits, acts)
    description = f"grid {len(inits)}x{len(acts)}" + (f" x {seeds} seeds" if seeds > 1 else "")
    groups = run_many(pairs, seeds, fmt, run, description)
    result = Runs("grid", groups, tuple(p.label for p in pairs), inits=inits, acts=acts)
    show(result, fmt, output, plot, explain=explain, summary=summary)


@cli.command()
@click.option("--act", type=ACT, default="relu", show_default=True, help="Activation.")
@click.option(
    "--init", type=INIT, default=None, help="Initializer (default he); or give --weight-var."
)
@click.option(
    "--weight-var",
    type=FiniteFloat(0),
    default=None,
    help="sigma_w^2 (weights of variance sigma_w^2/fan_in); replaces --init.",
)
@click.option(
    "--bias-var",
    type=FiniteFloat(0),
    default=None,
    help="sigma_b^2. Default: zero (a preset's own bias variance).",
)
@click.option("--depth", type=DEPTH, default=50, show_default=True, help="Number of layers L.")
@click.option(
    "--width",
    type=THEORY_WIDTH,
    default=512,
    show_default=True,
    help="Width, for width-dependent inits (xavier non-square, normal, presets).",
)
@click.option(
    "--widths",
    type=IntList(maximum=THEORY_WIDTH.max),
    default=None,
    help="Layer widths n_1,...,n_L; sets the depth. n_0 stays --width.",
)
@click.option(
    "--input-second-moment",
    type=FiniteFloat(0, strict=True),
    default=1.0,
    show_default=True,
    help="E[a_0^2] of the input (1 for N(0, 1)).",
)
@GAIN_OPTION
@FAN_MODE_OPTION
@block_options
@EVERY_OPTION
@click.option("--max-memory", type=ByteSize(), default=None, help=MAX_MEMORY_HELP)
@output_options
def theory(act, init, weight_var, every, max_memory, fmt, output, explain, plot, **kw) -> None:
    """Mean-field prediction at infinite width, no sampling.

    Iterates q_{l+1} = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2 and the gradient
    factor chi_l = sigma_w^2 E[phi'(sqrt(q_l) z)^2] (Poole et al. 2016, Schoenholz et
    al. 2017), and reports the fixed point q*, chi_1 = chi(q*), the phase (ordered
    chi_1 < 1, critical, chaotic chi_1 > 1) and the depth scales xi_q and xi_c.

    \b
      varprop theory --act tanh --weight-var 1.5 --bias-var 0.05 --depth 100
      varprop theory --act relu --init he --depth 10000
    """
    from varprop.budget import check_theory
    from varprop.meanfield.blocks import theory as predict

    if init is not None and weight_var is not None:
        raise click.UsageError("give --init or --weight-var, not both")
    with core_errors():
        check_theory(len(kw["widths"]) if kw["widths"] else kw["depth"], max_memory)
        result = predict(act=act, weight_var=weight_var, init=init, **kw)
    show(result, fmt, output, plot, every=every, explain=explain)


@cli.command()
@click.option("--act", type=ACT, default="relu", show_default=True, help="Activation.")
@click.option(
    "--bias-var",
    type=FiniteFloat(0),
    default=0.0,
    show_default=True,
    help="sigma_b^2 the criteria must work with.",
)
@click.option(
    "--width",
    type=THEORY_WIDTH,
    default=512,
    show_default=True,
    help="Width of the named initializers' layers.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1, max=10_000),
    default=50,
    show_default=True,
    help="Depth over which the named initializers are judged.",
)
@block_options
@output_options
def recommend(act, bias_var, width, depth, fmt, output, explain, plot, **blocks) -> None:
    """Which weight variance an activation needs, and which named init is closest.

    Criteria: forward (q = 1 a fixed point), edge of chaos (chi_1 = 1), Kumar (2017)
    and PyTorch's calculate_gain; each says whether its fixed point is stable.  Then
    every named initializer is judged against the activation in theory.

    \b
      varprop recommend --act gelu
      varprop recommend --act tanh --bias-var 0.05 --format json
    """
    from varprop.meanfield import recommend as advise

    block, norm, branch_scale = blocks["block"], blocks["norm"], blocks["branch_scale"]
    if (block, norm, branch_scale) != ("plain", "none", None):
        # The criteria (q = 1 fixed, chi_1 = 1, Kumar, torch gain) are plain-stack ones.
        raise click.UsageError(
            "recommend judges plain stacks without a norm only; for blocks compare "
            "initializers with `varprop compare he:relu@residual,layer lsuv:relu@residual,layer` "
            "or `varprop theory --block ... --norm ...` (got --block "
            f"{block} --norm {norm} --branch-scale {branch_scale if branch_scale else 1})"
        )
    with core_errors():
        result = advise(act, bias_var, width=width, depth=depth)
    show(result, fmt, output, plot, explain=explain)


class VarRange(click.ParamType):
    """``LO:HI``: two finite variances, 0 <= LO < HI."""

    name = "LO:HI"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        lo, sep, hi = str(value).partition(":")
        try:
            pair = (float(lo), float(hi)) if sep else None
        except ValueError:
            pair = None
        if pair is None or not all(math.isfinite(x) for x in pair):
            self.fail(f"{_short(value)!r} is not LO:HI with two finite numbers", param, ctx)
        if not 0 <= pair[0] < pair[1]:
            self.fail(f"{_short(value)!r} needs 0 <= LO < HI", param, ctx)
        return pair


GRID_STEPS = click.IntRange(min=2, max=401)


@cli.command()
@click.option("--act", type=ACT, default="tanh", show_default=True, help="Activation.")
@click.option(
    "--weight-var-range",
    type=VarRange(),
    default=None,
    help="sigma_w^2 from LO to HI [default: 0 to max(4, twice the edge of chaos)].",
)
@click.option(
    "--bias-var-range", type=VarRange(), default="0:0.3", show_default=True, help="sigma_b^2."
)
@click.option("--steps", type=GRID_STEPS, default=61, show_default=True, help="sigma_w^2 values.")
@click.option(
    "--bias-steps", type=GRID_STEPS, default=31, show_default=True, help="sigma_b^2 values."
)
@click.option(
    "--width",
    type=THEORY_WIDTH,
    default=512,
    show_default=True,
    help="Layer width of the named initializers marked on the map.",
)
@output_options
def phase(
    act, weight_var_range, bias_var_range, steps, bias_steps, width, fmt, output, explain, plot
):
    """The sigma_w^2 x sigma_b^2 phase diagram: ordered, critical or chaotic.

    At each point, chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] at the fixed point q* the
    variance map reaches from a unit input; the order-to-chaos line is chi_1 = 1
    (Poole et al. 2016, Schoenholz et al. 2017 Fig. 1).

    \b
      varprop phase --act tanh
      varprop phase --act relu --weight-var-range 1:3 --format csv
    """
    from varprop.meanfield.phase import default_weight_range, grid_values, phase_diagram

    with core_errors():
        w_lo, w_hi = weight_var_range or default_weight_range(act)
        ws = grid_values(w_lo, w_hi, steps, name="sigma_w^2", param="--weight-var-range")
        bs = grid_values(*bias_var_range, bias_steps, name="sigma_b^2", param="--bias-var-range")
        result = phase_diagram(act, weight_vars=ws, bias_vars=bs, width=width)
    show(result, fmt, output, plot, explain=explain)


class _Interrupted(BaseException):
    """Ctrl-C.  Not a KeyboardInterrupt, which click turns into a blank line and Abort."""


def _on_sigint(signum, frame):
    # Ignore any further Ctrl-C first: a second one arriving while the first unwinds
    # (milliseconds later) must not interrupt the cleanup with a traceback.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Interrupted


def main() -> None:
    """Console entry point: Ctrl-C ends with status 130 and one line, from the first
    instruction on; errors are one line with status 2."""
    import signal

    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread: Ctrl-C is not ours to handle
        previous = None
    try:
        code = _run()
    except (KeyboardInterrupt, _Interrupted):
        code = _interrupted()
    # After a Ctrl-C, further ones stay ignored until the process ends: Python's own
    # handler would turn one arriving during exit into a kill by SIGINT.
    if code != 130 and previous is not None:  # None: a handler installed outside Python
        signal.signal(signal.SIGINT, previous)
    sys.exit(code)


def _run() -> int:
    """The command's exit status, with every error reported in one line."""
    from varprop.output import OutputError, silence_stdout

    try:
        cli.main(prog_name="varprop", standalone_mode=False)
    except click.exceptions.Abort:
        return _interrupted()
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except MemoryError:
        click.echo("Error: out of memory", err=True)
        return 2
    except (OSError, ValueError) as e:
        # Only stdout can fail outside a command's own checks (--help, --version on a
        # full disk or a closed pipe); anything else is a bug and keeps its traceback.
        if not _stdout_failed(e):
            raise
        silence_stdout()
        OutputError(f"cannot write to stdout: {_why(e)}").show()
        return OutputError.exit_code
    return 0


# What a write to a full, closed or vanished stream fails with.
WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("EPIPE", "ENOSPC", "EBADF", "EIO", "EDQUOT", "EFBIG", "ECONNRESET")
    if hasattr(errno, name)
)


def _stdout_failed(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in WRITE_ERRNOS
    return "closed file" in str(e)


def _why(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else "it is closed"


def _interrupted() -> int:
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        pass
    try:
        sys.stderr.write("Interrupted.\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return 130
