"""The library API: ``varprop.simulate(...)`` and friends, with the CLI's names and defaults."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

from varprop import __version__
from varprop.activations import Activation, get_activation
from varprop.errors import VarpropError
from varprop.initializers import Initializer, get_initializer
from varprop.network import DTYPES, Network, RawStats, WeightCache, check_memory, run
from varprop.results import (
    STABLE_DECADES,
    Config,
    LayerStats,
    SimulationResult,
    Summary,
    finite_or_none,
)

# float32 weights must stay finite: std = sqrt(sigma_w^2 / fan_in) far below 3.4e38.
MAX_WEIGHT_VAR = 1e30


def simulate(
    init: str | float | Initializer = "he",
    act: str | Activation = "relu",
    depth: int = 50,
    width: int = 512,
    batch: int = 256,
    seed: int = 0,
    *,
    dtype: str = "float32",
    bias_std: float | None = None,
    widths: Sequence[int] | None = None,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
    inputs: np.ndarray | None = None,
    input_name: str = "normal",
    max_memory: int | None = None,
    weight_cache: WeightCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Push one random batch forward and back through a fresh random stack.

    ``depth`` is the number of weight layers L: ``depth=1`` is one layer
    ``a_1 = phi(a_0 @ W_1 + b_1)``; ``depth=50`` applies 50 such layers.  Every layer is
    ``width`` wide (and so is the input) unless ``widths = [n_1, ..., n_L]`` is given.
    ``inputs`` (batch, n_0) replaces the N(0, 1) input batch; its second moment feeds
    the theory.  ``bias_std=None`` keeps the initializer's own biases (zero, except for
    presets such as ``torch-default``).  ``weight_cache`` (a ``network.WeightCache``)
    lets consecutive runs that draw the same weights share them, with identical results;
    ``progress(n)`` is told of each layer done, forward and backward (2 L in all).

    >>> r = simulate(init="he", act="relu", depth=10, width=64, batch=32)
    >>> r.summary.forward
    'stable'
    """
    net, x0 = build(
        init, act, depth, width, batch, seed, dtype, bias_std, widths, gain, fan_mode, inputs
    )
    check_memory(net.widths, x0.shape[0] if x0 is not None else batch, dtype, max_memory)
    raw = run(
        net, seed=seed, inputs=x0, batch=batch, weight_cache=weight_cache, progress=progress
    )
    second_moment = 1.0 if x0 is None else float(np.mean(np.square(x0, dtype=np.float64)))
    config = Config(
        init=net.init.name,
        act=net.act.label,
        depth=net.depth,
        width=width,
        batch=batch if x0 is None else x0.shape[0],
        seed=seed,
        dtype=dtype,
        weight_var=net.init.sigma_w2(net.widths[-2], net.widths[-1]),
        bias_std=net.layer_bias_std(net.depth),
        widths=net.widths,
        input=input_name,
        input_second_moment=second_moment,
    )
    layers = _layers(raw)
    return SimulationResult(
        version=__version__,
        config=config,
        layers=layers,
        summary=summarize(layers, raw, net),
    )


def build(init, act, depth, width, batch, seed, dtype, bias_std, widths, gain, fan_mode, inputs):
    """Validate every argument; return the Network and the input batch (or None)."""
    for name, value in (("depth", depth), ("width", width), ("batch", batch)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise VarpropError(f"{name} must be an integer >= 1, got {value!r}", param=f"--{name}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise VarpropError(f"seed must be an integer >= 0, got {seed!r}", param="--seed")
    if dtype not in DTYPES:
        raise VarpropError(
            f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}", param="--dtype"
        )
    if bias_std is not None and not (math.isfinite(bias_std) and bias_std >= 0):
        raise VarpropError(
            f"bias std must be a finite number >= 0, got {bias_std!r}", param="--bias-std"
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
    n0 = x0.shape[1] if x0 is not None else width
    if widths is None:
        hidden = (width,) * depth
    else:
        hidden = tuple(int(w) for w in widths)
        if not hidden or min(hidden) < 1:
            raise VarpropError(
                f"widths must be integers >= 1, got {list(widths)!r}", param="--widths"
            )
    net = Network(initializer, activation, (n0, *hidden), bias_std, dtype)
    sigma_w2 = max(initializer.sigma_w2(a, b) for a, b in pairwise(net.widths))
    if sigma_w2 > MAX_WEIGHT_VAR:
        raise VarpropError(
            f"weight variance sigma_w^2 = {sigma_w2:g} is above {MAX_WEIGHT_VAR:g}, "
            "where weights themselves leave float range",
            param="--init",
        )
    return net, x0


def _layers(raw: RawStats) -> tuple[LayerStats, ...]:
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
            log10_preact_var=f(raw.log10_preact_var[i]),
            log10_grad_rms=f(raw.log10_grad_rms[i]),
        )
        for i in range(len(raw.preact_var))
    )


# Above this fraction of saturated units at the last layer, a bounded activation's
# forward verdict is "saturated" whatever the variance does (tanh under naive init keeps
# q large but flat).  ReLU-like activations are judged by variance alone: deep in a
# ReLU stack the batch's samples become correlated, so units go dead on the whole batch
# (up to about half of them) even where He init keeps the variance exactly.
SATURATED = 0.5


def verdict(log10_ratio: float | None) -> str:
    """stable / vanishing / exploding, from the total change in decades."""
    if log10_ratio is None:
        return "unknown"
    if log10_ratio > STABLE_DECADES:
        return "exploding"
    if log10_ratio < -STABLE_DECADES:
        return "vanishing"
    return "stable"


def summarize(layers: Sequence[LayerStats], raw: RawStats, net: Network) -> Summary:
    """Verdicts, total ratios and per-layer factors of a run."""
    first, last = layers[0], layers[-1]
    L = len(layers)
    fwd_log = _diff(last.log10_preact_var, first.log10_preact_var)
    bwd_log = _diff(first.log10_grad_rms, last.log10_grad_rms)
    forward = verdict(fwd_log)
    if raw.overflow_layer is not None:
        forward = "exploding" if raw.overflow_kind == "overflow" else "vanishing"
    elif net.act.saturation == "flat" and (last.saturated_frac or 0.0) > SATURATED:
        forward = "saturated"
    backward = verdict(bwd_log)
    summary = Summary(
        forward=forward,
        backward=backward,
        preact_var_ratio=_pow10(fwd_log),
        grad_rms_ratio=_pow10(bwd_log),
        log10_preact_var_ratio=fwd_log,
        log10_grad_rms_ratio=bwd_log,
        forward_factor=_pow10(fwd_log / (L - 1)) if fwd_log is not None and L > 1 else None,
        backward_factor=_pow10(bwd_log / (L - 1)) if bwd_log is not None and L > 1 else None,
        overflow_layer=raw.overflow_layer,
        overflow_kind=raw.overflow_kind,
    )
    if forward != "stable" or backward != "stable":
        from dataclasses import replace

        summary = replace(summary, fix=fix_for(net))
    return summary


def fix_for(net: Network) -> str | None:
    """One line of advice for an unstable pair: the init this activation needs."""
    from varprop.theory import suggest_init

    return suggest_init(net.act, net.init)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _pow10(x: float | None) -> float | None:
    if x is None or x > 307 or x < -307:
        return None
    return 10.0**x
