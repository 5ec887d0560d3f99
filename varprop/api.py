"""The library API: ``varprop.simulate(...)`` and friends, with the CLI's names and defaults."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace as _replace
from itertools import pairwise

import numpy as np

from varprop import __version__, budget
from varprop.activations import Activation, get_activation
from varprop.errors import VarpropError, is_count
from varprop.initializers import Initializer, get_initializer
from varprop.judge import judge
from varprop.meanfield import Prediction, predict
from varprop.network import (
    DTYPES,
    Network,
    RawStats,
    WeightCache,
    hidden_widths,
    run,
)
from varprop.results import (
    Config,
    Fix,
    LayerStats,
    SimulationResult,
    Summary,
    finite_or_none,
    ratio_fields,
)

# float32 weights must stay finite: std = sqrt(sigma_w^2 / fan_in) far below 3.4e38.
MAX_WEIGHT_VAR = 1e30
# ... and must not underflow: below this (and above 0) float32 weights lose their bits.
MIN_WEIGHT_VAR = 1e-30
# Biases too stay well inside float32 (the engine scales everything else exactly).
MAX_BIAS_STD = 1e30
# Python keeps a few KiB per layer; beyond this depth even building the layer list fails
# (the memory check, which counts them, refuses most runs long before).
MAX_SAMPLED_DEPTH = 10**7
# Raw data (or ``inputs``) must have a mean square that float64 can state: E[a_0^2].
MAX_INPUT = 1e150
DEFAULT_BATCH = 256


def simulate(
    init: str | float | Initializer = "he",
    act: str | Activation = "relu",
    depth: int = 50,
    width: int = 512,
    batch: int | None = None,
    seed: int = 0,
    *,
    dtype: str = "float32",
    bias_std: float | None = None,
    bias_var: float | None = None,
    widths: Sequence[int] | None = None,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
    input: str = "normal",
    standardize: bool = True,
    inputs: np.ndarray | None = None,
    input_name: str | None = None,
    max_memory: int | None = None,
    weight_cache: WeightCache | None = None,
    progress: Callable[[int], None] | None = None,
    block: str = "plain",
    norm: str = "none",
    branch_scale: float | str | None = None,
    hist_layers: Sequence[int] | str | None = None,
) -> SimulationResult:
    """Push one random batch forward and back through a fresh random stack.

    ``depth`` is the number of weight layers L: ``depth=1`` is one layer
    ``a_1 = phi(a_0 @ W_1 + b_1)``; ``depth=50`` applies 50 such layers.  Every layer is
    ``width`` wide (and so is the input) unless ``widths = [n_1, ..., n_L]`` is given.
    ``input`` is the input batch: ``"normal"`` (N(0, 1)), ``"uniform"`` (unit variance)
    or the path of a ``.npy``/``.csv`` file, rows = samples (see :mod:`varprop.inputs`),
    standardized per column unless ``standardize=False``.  ``batch`` is the number of
    samples: 256 by default, or with a file every row (``batch=N`` takes the first N).
    ``inputs`` (batch, n_0), an array used as it is, replaces all of that
    (``input_name`` labels it).  The batch's second moment feeds the theory.
    ``bias_var`` (sigma_b^2) or ``bias_std`` (its square root; give one) draws biases
    from N(0, sigma_b^2); neither keeps the initializer's own biases (zero, except for
    presets such as ``torch-default``).  ``weight_cache`` (a ``network.WeightCache``)
    lets consecutive runs that draw the same weights share them, with identical results;
    ``progress(n)`` is told of each layer done, forward and backward (2 L in all).
    ``block`` (``plain`` | ``residual``), ``norm`` (``none`` | ``layer`` | ``rms`` |
    ``batch``) and ``branch_scale`` (alpha of a residual branch, a number > 0 or
    ``"auto"`` = 1/sqrt(depth); default 1) build the blocks of DESIGN.md (see
    :mod:`varprop.blocks`); ``init="lsuv"`` rescales each layer on the batch.
    ``hist_layers`` (layers in 1..depth, or ``"auto"``: first, last and three between)
    adds the distributions of h, a and delta at those layers, gathered in the same
    pass (``result.histograms``, see :mod:`varprop.histograms`; plain stacks only).

    >>> r = simulate(init="he", act="relu", depth=10, width=64, batch=32)
    >>> r.summary.forward
    'stable'
    """
    _check_counts(depth, width, batch, seed)
    bias_std = _bias_std(bias_std, bias_var)
    from varprop.inputs import is_distribution

    # DESIGN: theory takes E[a_0^2] from the distribution (1 for normal and uniform), from
    # the data only when the user gives data.
    named = inputs is None and is_distribution("normal" if input is None else str(input))
    _check_sizes(width, widths, depth, batch, dtype, max_memory, named)
    inputs, input_name = _resolve_input(
        input, standardize, inputs, input_name, batch, width, seed, dtype, max_memory
    )
    batch = DEFAULT_BATCH if batch is None else batch
    net, x0 = build(
        init, act, depth, width, batch, seed, dtype, bias_std, widths, gain, fan_mode, inputs
    )
    rows = x0.shape[0] if x0 is not None else batch
    net = with_blocks(net, block, norm, branch_scale, rows)
    collector = _collector(hist_layers, net)
    budget.check_simulate(
        net.widths,
        rows,
        dtype,
        max_memory,
        distribution=net.init.distribution,
        homogeneous=net.act.homogeneous,
        input_bytes=0 if x0 is None or named else x0.nbytes,  # a file's data stays held
        widths_given=widths is not None,
        block=net.block,
        norm=net.norm,
    )
    raw = run(
        net,
        seed=seed,
        inputs=x0,
        batch=batch,
        weight_cache=weight_cache,
        progress=progress,
        histograms=collector,
    )
    second_moment = 1.0 if x0 is None or named else _second_moment(x0)
    batch_var = 1.0 if x0 is None or named else _batch_variance(x0)
    lsuv = lsuv_record(raw, net)
    sigma_w2 = None if lsuv is None else [layer["sigma_w2"] for layer in lsuv["layers"]]
    config = Config(
        init=net.init.name,
        act=net.act.label,
        depth=net.depth,
        width=width,
        batch=batch if x0 is None else x0.shape[0],
        seed=seed,
        dtype=dtype,
        weight_var=(
            net.init.sigma_w2(net.widths[-2], net.widths[-1]) if sigma_w2 is None else sigma_w2[-1]
        ),
        bias_std=net.layer_bias_std(net.depth),
        widths=net.widths,
        input=input_name,
        input_second_moment=second_moment,
        fan_mode=net.init.fan_mode,
        gain=net.init.gain,
        block=net.block,
        norm=net.norm,
        branch_scale=net.branch_scale,
    )
    prediction = predict_any(net, second_moment, input_batch_var=batch_var, sigma_w2=sigma_w2)
    layers = _layers(raw, prediction)
    raw_input = x0 is not None and not named and not standardize and input_name is not None
    summary = summarize(
        layers, raw, net, prediction, second_moment, raw_input, bias_std, layers_batch(x0, batch)
    )
    return SimulationResult(
        version=__version__,
        config=config,
        layers=layers,
        summary=_replace(summary, theory_max_log10_error=_theory_error(raw, prediction), lsuv=lsuv),
        histograms=raw.histograms,
    )


def _collector(hist_layers, net: Network):
    """A histogram collector for the layers asked (checked), or None when none are."""
    from varprop.histograms import Collector, check_layers

    layers = check_layers(hist_layers, net.depth)
    if layers is None:
        return None
    if not net.plain:
        raise VarpropError(
            "histograms are gathered for plain stacks only (--block plain --norm none), "
            f"not block {net.block!r} with norm {net.norm!r}",
            param="--hist",
        )
    return Collector(layers, net.act)


def _bias_std(bias_std: float | None, bias_var: float | None) -> float | None:
    """The bias std from whichever of the two the caller gave (checked like theory's)."""
    if bias_var is None:
        return bias_std
    if bias_std is not None:
        raise VarpropError("give --bias-var or --bias-std, not both", param="--bias-var")
    from varprop.meanfield.stack import check_var

    return math.sqrt(check_var(bias_var, "bias variance", "--bias-var"))


def with_blocks(net: Network, block, norm, branch_scale, batch: int | None) -> Network:
    """``net`` with its blocks checked (:func:`varprop.blocks.check`) and set."""
    from varprop.blocks import check

    block, norm, alpha = check(block, norm, branch_scale, net.widths, batch)
    return _replace(net, block=block, norm=norm, branch_scale=alpha)


def predict_any(net: Network, second_moment: float, *, input_batch_var=1.0, sigma_w2=None):
    """Mean-field prediction of any stack: plain ones by meanfield.predict, the rest by
    the block theory (which also takes LSUV's measured per-layer sigma_w^2)."""
    if net.plain and sigma_w2 is None:
        return predict(net, second_moment)
    from varprop.meanfield.blocks import predict_blocks

    return predict_blocks(net, second_moment, input_batch_var=input_batch_var, sigma_w2=sigma_w2)


def lsuv_record(raw: RawStats, net: Network) -> dict | None:
    """``summary.lsuv``: each layer's LSUV scale, sigma_w^2, iterations and final Var(h)."""
    if raw.lsuv is None:
        return None
    from varprop.blocks import LSUV_MAX_ITERATIONS, LSUV_TOLERANCE

    layers = []
    for l, fit in enumerate(raw.lsuv, start=1):
        n_in, n_out = net.widths[l - 1], net.widths[l]
        # Orthogonal entries have mean square 1 / max(n_in, n_out); times scale^2 fan_in.
        try:
            scale = math.ldexp(fit.factor, fit.shift)
            sw2 = scale * scale * n_in / max(n_in, n_out)
        except OverflowError:
            scale = sw2 = math.inf
        layers.append(
            {
                "layer": l,
                "scale": finite_or_none(scale),
                "sigma_w2": finite_or_none(sw2),
                "iterations": fit.iterations,
                "var": finite_or_none(fit.var),
            }
        )
    return {
        "tolerance": LSUV_TOLERANCE,
        "max_iterations": LSUV_MAX_ITERATIONS,
        "converged": all(abs((x["var"] or 0.0) - 1) < LSUV_TOLERANCE for x in layers),
        "layers": layers,
    }


def _batch_variance(x0: np.ndarray) -> float:
    """Mean over columns of each column's variance over the batch (BatchNorm's scale)."""
    x = np.asarray(x0, dtype=np.float64)
    top = float(np.max(np.abs(x)))
    if top == 0:
        return 0.0
    return top * top * float(np.mean(np.var(x / top, axis=0)))


def _check_counts(depth, width, batch, seed) -> None:
    """depth, width and batch are integers >= 1 (batch may be None), seed >= 0."""
    for name, value in (("depth", depth), ("width", width), ("batch", batch)):
        if value is None and name == "batch":
            continue
        if not is_count(value):
            raise VarpropError(f"{name} must be an integer >= 1, got {value!r}", param=f"--{name}")
    if depth > MAX_SAMPLED_DEPTH:
        raise VarpropError(
            f"depth {depth} is above {MAX_SAMPLED_DEPTH}, the most varprop simulates",
            param="--depth",
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise VarpropError(f"seed must be an integer >= 0, got {seed!r}", param="--seed")


def _check_sizes(width, widths, depth, batch, dtype, max_memory, named) -> None:
    """Refuse sizes that cannot fit before anything is drawn or read (any integer size).

    The least any such run needs: a file's own columns are not known yet (the full
    estimate follows once they are), so its first layer counts as one column wide.
    """
    n0 = width if named else 1
    rows = (DEFAULT_BATCH if named else 1) if batch is None else batch
    budget.check_simulate(
        (n0, *hidden_widths(widths, width, depth)),
        rows,
        dtype if dtype in DTYPES else "float32",
        max_memory,
        widths_given=widths is not None,
    )


def _resolve_input(spec, standardize, inputs, input_name, batch, width, seed, dtype, max_memory):
    """The input batch to run on (None: the engine's own N(0, 1) draw) and its label."""
    from varprop import inputs as data

    if inputs is not None:
        if spec not in (None, "normal"):
            raise VarpropError(
                f"give either input={spec!r} or an inputs array, not both", param="--input"
            )
        return inputs, input_name or "array"
    if dtype not in DTYPES:
        return None, "normal"  # build() names the valid dtypes
    spec = "normal" if spec is None else str(spec)
    if data.is_distribution(spec):
        from varprop.network import seeds_for

        stream = seeds_for(seed, 0)["input"]  # the stream the engine's own draw uses
        n = DEFAULT_BATCH if batch is None else batch
        got = data.draw(spec, n, width, DTYPES[dtype], stream)
    else:
        got = data.load(spec, standardize=standardize, rows=batch, max_bytes=max_memory)
    return got.values, got.label


def _second_moment(x0: np.ndarray) -> float:
    """E[a_0^2] over the batch, without overflowing on large raw values."""
    x = np.asarray(x0, dtype=np.float64)
    top = float(np.max(np.abs(x)))
    if top == 0:
        return 0.0
    return top * top * float(np.mean(np.square(x / top)))


def build(init, act, depth, width, batch, seed, dtype, bias_std, widths, gain, fan_mode, inputs):
    """Validate every argument; return the Network and the input batch (or None)."""
    _check_counts(depth, width, batch, seed)
    if dtype not in DTYPES:
        raise VarpropError(
            f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}", param="--dtype"
        )
    if bias_std is not None and not (
        isinstance(bias_std, int | float | np.number) and math.isfinite(bias_std) and bias_std >= 0
    ):
        raise VarpropError(
            f"bias std must be a finite number >= 0, got {bias_std!r}", param="--bias-std"
        )
    if bias_std is not None and bias_std > MAX_BIAS_STD:
        raise VarpropError(
            f"bias std {bias_std:g} is above {MAX_BIAS_STD:g}, where float32 biases overflow",
            param="--bias-std",
        )
    activation = get_activation(act)
    initializer = get_initializer(init, gain=gain, fan_mode=fan_mode)
    x0 = None
    if inputs is not None:
        x0 = np.asarray(inputs)
        if x0.ndim != 2 or x0.shape[0] < 1 or x0.shape[1] < 1:
            raise VarpropError(
                f"inputs must be a 2-D (batch, features) array, got shape {x0.shape}"
            )
        if x0.dtype.kind not in "biuf":
            raise VarpropError(f"inputs must hold real numbers, got dtype {x0.dtype}")
        top = float(np.max(np.abs(x0)))
        if not top <= MAX_INPUT:  # also catches nan and inf
            raise VarpropError(
                f"inputs must be finite with magnitudes up to {MAX_INPUT:g}, got {top:g}; "
                "standardize the data first",
                param="--input",
            )
    n0 = x0.shape[1] if x0 is not None else width
    hidden = hidden_widths(widths, width, depth)
    net = Network(initializer, activation, (n0, *hidden), bias_std, dtype)
    _check_weight_var(initializer, net.widths, init)
    return net, x0


def _check_weight_var(initializer: Initializer, widths: tuple[int, ...], spec) -> None:
    """sigma_w^2 of every layer between MIN_WEIGHT_VAR (or 0) and MAX_WEIGHT_VAR."""
    if initializer.distribution == "orthogonal":
        param = "--gain"
    elif isinstance(spec, int | float) and not isinstance(spec, bool):
        param = "--weight-var"  # the CLI passes --weight-var as a number
    else:
        param = "--init"
    pairs = set(pairwise(widths))  # a deep stack of one width has at most two shapes
    try:
        values = [initializer.sigma_w2(a, b) for a, b in pairs]
    except OverflowError:
        values = [math.inf]
    high, low = max(values), min(values)
    if not high <= MAX_WEIGHT_VAR:
        raise VarpropError(
            f"weight variance sigma_w^2 = {high:g} is above {MAX_WEIGHT_VAR:g}, "
            "where weights themselves leave float range",
            param=param,
        )
    if 0 < low < MIN_WEIGHT_VAR:
        raise VarpropError(
            f"weight variance sigma_w^2 = {low:g} is below {MIN_WEIGHT_VAR:g} (and not 0), "
            "where float32 weights underflow",
            param=param,
        )


def _theory_error(raw: RawStats, prediction: Prediction) -> float | None:
    """Largest |log10(measured Var(h) / theory)| over the layers where both are known."""
    gap = np.abs(raw.log10_preact_var - prediction.log10_preact_var)
    gap = gap[np.isfinite(gap)]
    return float(gap.max()) if gap.size else None


def _layers(raw: RawStats, theory: Prediction) -> tuple[LayerStats, ...]:
    f = finite_or_none
    return tuple(
        LayerStats(
            layer=i + 1,
            preact_mean=f(raw.preact_mean[i]),
            preact_var=f(raw.preact_var[i]),
            act_mean=f(raw.act_mean[i]),
            act_var=f(raw.act_var[i]),
            saturated_frac=f(raw.saturated_frac[i]),
            grad_rms=f(raw.grad_rms[i]),
            weight_grad_norm=f(raw.weight_grad_norm[i]),
            theory_preact_var=f(theory.preact_var[i]),
            theory_grad_rms=f(theory.grad_rms[i]),
            log10_preact_var=f(raw.log10_preact_var[i]),
            log10_grad_rms=f(raw.log10_grad_rms[i]),
            log10_weight_grad_norm=f(raw.log10_weight_grad_norm[i]),
            log10_theory_preact_var=f(theory.log10_preact_var[i]),
            log10_theory_grad_rms=f(theory.log10_grad_rms[i]),
        )
        for i in range(len(raw.preact_var))
    )


def summarize(
    layers: Sequence[LayerStats],
    raw: RawStats,
    net: Network,
    prediction: Prediction,
    input_second_moment: float = 1.0,
    raw_input: bool = False,
    user_bias_std: float | None = None,
    batch: int = 256,
) -> Summary:
    """Verdicts (varprop.judge's one rule), total ratios, theory's verdicts and the fix."""
    from varprop.meanfield import RunFacts, fix_for, judge_prediction

    measured = judge(
        [_log10_or_zero(s.log10_preact_var, s.preact_var) for s in layers],
        [_log10_or_zero(s.log10_grad_rms, s.grad_rms) for s in layers],
        saturated_frac=layers[-1].saturated_frac,
        bounded=net.act.saturation == "flat",
        overflow=raw.overflow_kind,
    )
    theory = judge_prediction(net.act, prediction, net.widths)
    bias_var = 0.0 if user_bias_std is None else user_bias_std**2
    if not measured.stable and not net.plain:
        fix = block_fix(net, input_second_moment, batch)
        limit = None if fix is not None else "no-stable-setting"
    else:
        fix, limit = fix_for(
            RunFacts(
                act=net.act,
                init=net.init,
                widths=net.widths,
                bias_var=bias_var,
                user_bias=user_bias_std is not None,
                input_second_moment=input_second_moment,
                raw_input=raw_input,
                first_saturated=layers[0].saturated_frac,
                measured=measured,
                theory=theory,
            )
        )
    return Summary(
        forward=measured.forward.word,
        backward=measured.backward.word,
        **ratio_fields(layers),
        overflow_layer=raw.overflow_layer,
        overflow_kind=raw.overflow_kind,
        forward_exponent=measured.forward.exponent,
        backward_exponent=measured.backward.exponent,
        fix=fix,
        limit=limit,
        theory_forward=theory.forward.word,
        theory_backward=theory.backward.word,
    )


def layers_batch(x0: np.ndarray | None, batch: int) -> int:
    """The number of samples the run pushed through."""
    return batch if x0 is None else x0.shape[0]


def _log10_or_zero(log10: float | None, plain: float | None) -> float | None:
    """log10 of a figure, -inf for an exact zero (a curve that has certainly vanished)."""
    return -math.inf if log10 is None and plain == 0.0 else log10


# What a residual or normalized stack that goes wrong may change instead of its init, in
# the order tried: a residual stream grows by its branch's variance each block (scale it
# by 1/sqrt(depth), or normalize the branch's input); BatchNorm's gradient grows by
# E[phi'^2]/Var[phi] per layer (Yang et al. 2019), which LayerNorm or a residual avoids.
BLOCK_CHANGES = {
    "residual": (
        {"branch_scale": "auto"},
        {"norm": "layer"},
        {"norm": "layer", "branch_scale": "auto"},
    ),
    "batch": ({"norm": "layer"}, {"block": "residual", "branch_scale": "auto"}),
}
BLOCK_FLAGS = {"block": "--block", "norm": "--norm", "branch_scale": "--branch-scale"}


def block_fix(net: Network, input_second_moment: float, batch: int):
    """The structured fix of an unstable residual or BatchNorm stack: the first change of
    :data:`BLOCK_CHANGES` whose theory is robustly stable both ways, or None."""
    from varprop.meanfield import judge_prediction

    key = "residual" if net.block == "residual" else "batch" if net.norm == "batch" else None
    for change in BLOCK_CHANGES.get(key, ()):
        options = {"block": net.block, "norm": net.norm, "branch_scale": net.branch_scale}
        options.update(change)
        try:
            other = with_blocks(
                net, options["block"], options["norm"], options["branch_scale"], batch
            )
        except VarpropError:
            continue
        j = judge_prediction(net.act, predict_any(other, input_second_moment), net.widths)
        if j.stable and j.robust:
            return Fix(
                kind="stable",
                act=net.act.label,
                depth=net.depth,
                init=None,
                sigma_w2=net.init.sigma_w2(net.widths[-2], net.widths[-1]),
                bias_var=net.layer_bias_std(net.depth) ** 2,
                standardize=False,
                expect_forward=j.forward.word,
                expect_backward=j.backward.word,
                source=key,
                options=tuple((BLOCK_FLAGS[k], str(v)) for k, v in change.items()),
                log10_forward_change=j.forward.log10_change,
                log10_backward_change=j.backward.log10_change,
            )
    return None
