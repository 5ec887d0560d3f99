"""The ``varprop`` command: parse, call the core, render.  No numerics here.

Heavy modules (numpy, rich, the registries) are imported inside commands, so that
``varprop --help`` answers at once.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable
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

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(int(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if not items or min(items) < 1:
            self.fail(f"{value!r}: every width must be >= 1", param, ctx)
        return items


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


# ---------------------------------------------------------------- shared options

DEPTH = click.IntRange(min=1)


def common_run_options(f):
    """Options every sampling command shares (simulate, compare, grid)."""
    options = [
        click.option("--depth", type=DEPTH, default=50, show_default=True,
                     help="Number of weight layers L."),
        click.option("--width", type=click.IntRange(min=1), default=512, show_default=True,
                     help="Units per layer (and input dimension)."),
        click.option("--widths", type=IntList(), default=None,
                     help="Layer widths n_1,...,n_L instead of --width/--depth."),
        click.option("--batch", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Samples per batch."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Random seed; same seed, same numbers bit for bit."),
        click.option("--bias-std", type=FiniteFloat(0), default=None,
                     help="Biases ~ N(0, std^2). Default: zero (a preset's own bias)."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
                     show_default=True, help="Arithmetic of the simulation."),
        click.option("--gain", type=FiniteFloat(0, strict=True), default=1.0, show_default=True,
                     help="Gain of the orthogonal initializer."),
        click.option("--fan-mode", type=click.Choice(["fan_in", "fan_out"]), default="fan_in",
                     show_default=True, help="Fan used by he and lecun."),
        click.option("--max-memory", type=ByteSize(), default=None,
                     help="Memory limit for the run, e.g. 4GiB (default: 90% of available)."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def output_options(f):
    f = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=False),
        default=None,
        help="Write to this file (whole or not at all) instead of stdout.",
    )(f)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
        help="table for people, json or csv for scripts.",
    )(f)


# ---------------------------------------------------------------- output


def emit(renderable, output: str | None) -> None:
    """Print to stdout, or write ``output`` atomically (temp file, then rename)."""
    if not isinstance(renderable, str):
        if output is None:
            from rich.console import Console

            Console().print(renderable)
            return
        renderable = _capture(renderable)
    if output is None:
        click.echo(renderable, nl=False)
    else:
        write_atomic(output, renderable)


def _capture(renderable) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None, soft_wrap=False).print(renderable)
    return buf.getvalue()


def write_atomic(path: str, text: str) -> None:
    """Write the whole file or nothing: an interrupted run leaves no truncated file."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".varprop-", suffix=".tmp")
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise click.ClickException(f"cannot write {path}: {e.strerror}") from None
        raise


def core_errors(param_names: dict[str, str] | None = None):
    """Turn VarpropError from the core into a usage error (exit 2), in one place."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        from varprop.errors import VarpropError

        try:
            yield
        except VarpropError as e:
            raise click.UsageError(
                f"Invalid value for '{e.param}': {e}" if e.param else str(e)
            ) from None

    return guard()


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
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Show every K-th layer (first and last always shown).",
)
@output_options
def simulate(init, act, weight_var, every, fmt, output, **run) -> None:  # fmt: skip
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
    """
    from varprop.api import simulate as run_simulation
    from varprop.render import layers_csv, simulate_json, simulate_table

    with core_errors():
        result = run_simulation(init=weight_var if weight_var is not None else init, act=act, **run)
    if fmt == "json":
        emit(simulate_json(result), output)
    elif fmt == "csv":
        emit(layers_csv([result]), output)
    else:
        emit(simulate_table(result, every=every), output)


@cli.command(name="list")
@output_options
def list_(fmt, output) -> None:
    """List the registered initializers and activations."""
    from varprop.render import registry_csv, registry_json, registry_table

    render = {"json": registry_json, "csv": registry_csv, "table": registry_table}[fmt]
    emit(render(), output)


def main() -> None:
    """Console entry point: Ctrl-C ends with status 130 and one line."""
    try:
        cli.main(prog_name="varprop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
