"""Monte-Carlo forward and backward passes through a deep fully-connected stack.

Conventions (DESIGN.md): ``h_l = a_{l-1} @ W_l + b_l``, ``a_l = phi(h_l)`` for
``l = 1..L`` (``depth = L`` weight layers; ``depth=1`` is a single layer applied to the
input).  Each sample's output gets a fixed probe ``g ~ N(0, 1)``: the per-sample loss is
``<a_L, g>``, ``delta_l = dl/dh_l`` and ``dL/dW_l = a_{l-1}^T delta_l / B``.

Exact extremes.  Every array is held as ``stored * 2**e`` with an integer exponent
``e`` per layer.  Multiplying by a power of two is exact in binary floating point, so
the backward pass (linear in the probe) is renormalised every layer and its magnitudes
are exact at any depth; so is the forward pass of positively homogeneous activations
(relu, leaky-relu, linear), where ``phi(2**e h) = 2**e phi(h)``.  Statistics are
computed on the stored arrays (of order 1, so squares neither underflow nor overflow)
and shifted by the exponent in log form.

Memory.  One array per layer is kept for the backward pass: ``a_l`` when phi' can be
written from phi's output (relu, tanh, sigmoid, elu, ...), else ``h_l`` (gelu, silu,
mish), from which ``a_l`` is recomputed.  Everything else lives in reused buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from varprop.activations import Activation
from varprop.errors import VarpropError
from varprop.initializers import Initializer

LOG10_2 = math.log10(2.0)
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Network:
    """A stack to simulate: ``widths = (n_0, n_1, ..., n_L)``, so ``depth = len - 1``."""

    init: Initializer
    act: Activation
    widths: tuple[int, ...]
    bias_std: float | None = None  # None: the initializer's own bias (zero for most)
    dtype: str = "float32"

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def layer_bias_std(self, l: int) -> float:
        """Bias std of layer ``l`` (1-based): the user's, else the preset's."""
        if self.bias_std is not None:
            return self.bias_std
        return self.init.bias_std(self.widths[l - 1])


@dataclass
class RawStats:
    """Per-layer figures as float64 arrays of length L, ``nan`` where not stated."""

    preact_mean: np.ndarray
    preact_var: np.ndarray
    act_mean: np.ndarray
    act_var: np.ndarray
    saturated_frac: np.ndarray
    grad_rms: np.ndarray
    weight_grad_norm: np.ndarray
    log10_preact_var: np.ndarray
    log10_act_var: np.ndarray
    log10_grad_rms: np.ndarray
    log10_weight_grad_norm: np.ndarray
    overflow_layer: int | None = None
    overflow_kind: str | None = None


def memory_estimate(widths: tuple[int, ...], batch: int, dtype: str) -> dict[str, int]:
    """Bytes a run allocates: weights, stored per-layer arrays, and working buffers."""
    item = np.dtype(DTYPES[dtype]).itemsize
    n_max = max(widths)
    weights = sum(a * b for a, b in pairwise(widths)) * item
    stored = sum(widths[1:]) * batch * item + widths[0] * batch * item
    # delta, the next delta, phi' and one activation buffer, plus one weight-gradient.
    work = 4 * batch * n_max * item + n_max * n_max * item
    return {"weights": weights, "activations": stored, "work": work}


def available_memory() -> int:
    """Bytes the OS says are available now (MemAvailable), or total memory as a fallback."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(widths: tuple[int, ...], batch: int, dtype: str, limit: int | None) -> int:
    """Refuse, before allocating, a run that would not fit; return the estimate in bytes."""
    parts = memory_estimate(widths, batch, dtype)
    need = sum(parts.values())
    cap = available_memory() * 9 // 10 if limit is None else limit
    if need > cap:
        detail = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items())
        raise VarpropError(
            f"this run needs about {_gib(need)} ({detail}) but the limit is {_gib(cap)}; "
            "lower --depth, --width or --batch, or set --max-memory",
            param="--max-memory" if limit is not None else "--width",
        )
    return need


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


class _Weights:
    """Weight matrices drawn ahead of use, one independent stream per layer.

    Layer ``l`` always gets the generator ``SFC64(seeds[l])``, so the draw is the same
    bit for bit whatever thread makes it and whatever the depth; two threads draw while
    the forward pass multiplies.
    """

    def __init__(self, net: Network, seeds: list[np.random.SeedSequence]) -> None:
        dtype = DTYPES[net.dtype]
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._futures = [
            self._pool.submit(
                net.init.sample,
                net.widths[l - 1],
                net.widths[l],
                rng=np.random.Generator(np.random.SFC64(seeds[l - 1])),
                dtype=dtype,
            )
            for l in range(1, net.depth + 1)
        ]
        self._pool.shutdown(wait=False)

    def __getitem__(self, l: int) -> np.ndarray:
        """W_l, 1-based, shape (n_{l-1}, n_l)."""
        return self._futures[l - 1].result()

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


class WeightCache:
    """Weight matrices kept between runs that would draw the very same ones.

    W_l depends only on the seed (layer l's own stream, see :func:`seeds_for`), the
    shape, the dtype and how the initializer samples: its distribution and each layer's
    variance (and the orthogonal gain).  So ``he:relu`` and ``he:tanh`` of one seed
    share their weights, and so do ``xavier`` and ``lecun`` on square layers; a grid
    draws them once per initializer.  The engine never writes to a weight matrix.

    Only the last ``size`` weight sets are kept (one by default: a full set is as large
    as the weights of one run, which :func:`check_memory` budgets for once), so run
    the pairs that share weights one after another.
    """

    def __init__(self, size: int = 1) -> None:
        self.size = max(int(size), 1)
        self._sets: dict[tuple, _Weights] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(net: Network, seed: int) -> tuple:
        init = net.init
        variances = tuple(init.variance(a, b) for a, b in pairwise(net.widths))
        return (seed, net.widths, net.dtype, init.distribution, init.gain, variances)

    def weights(self, net: Network, seed: int, seeds: list[np.random.SeedSequence]) -> _Weights:
        """The weights of ``net`` for ``seed``, drawn now unless already kept."""
        key = self.key(net, seed)
        found = self._sets.pop(key, None)
        if found is None:
            self.misses += 1
            while len(self._sets) >= self.size:  # free before drawing: one set at a time
                self._sets.pop(next(iter(self._sets))).cancel()
            found = _Weights(net, seeds)
        else:
            self.hits += 1
        self._sets[key] = found  # most recently used last
        return found

    def clear(self) -> None:
        for w in self._sets.values():
            w.cancel()
        self._sets.clear()


def seeds_for(seed: int, depth: int) -> dict[str, object]:
    """Independent streams: input, probe, biases, and one per weight layer."""
    children = np.random.SeedSequence(seed).spawn(3 + depth)
    return {
        "input": children[0],
        "probe": children[1],
        "bias": children[2],
        "weights": children[3:],
    }


def _exponent(rms: float) -> int:
    """Power of two nearest ``rms`` (0 for zero or non-finite)."""
    if rms <= 0 or not math.isfinite(rms):
        return 0
    return math.frexp(rms)[1] - 1


def _scale(x: np.ndarray, k: int) -> None:
    """x *= 2**k in place: exact, as long as the results stay normal numbers.

    Steps of at most 2**100 keep each factor representable in float32; a factor that
    underflows every element is an exact zero for our purposes (it lies below the other
    term of a sum by more than the dtype's precision).
    """
    while k:
        step = max(-100, min(100, k))
        x *= x.dtype.type(math.ldexp(1.0, step))
        k -= step
        if k < -300:  # already zero in float64 too; stop early
            x.fill(0)
            return


def _mean_and_square(x: np.ndarray, work: np.ndarray) -> tuple[float, float]:
    """Mean and mean square of x, accumulated in float64.  ``work`` is x-shaped scratch."""
    n = x.size
    mean = float(x.sum(dtype=np.float64)) / n
    np.square(x, out=work)
    return mean, float(work.sum(dtype=np.float64)) / n


def _variance(mean: float, square: float) -> float:
    return max(square - mean * mean, 0.0)


def _log10(x: float, exponent2: int) -> float:
    """log10(x * 2**exponent2), nan for x <= 0."""
    if not x > 0 or not math.isfinite(x):
        return math.nan
    return math.log10(x) + exponent2 * LOG10_2


def _plain(x: float, exponent2: int) -> float:
    """x * 2**exponent2 as a float64, nan where that leaves float64 range."""
    if not math.isfinite(x):
        return math.nan
    try:
        y = math.ldexp(x, exponent2)
    except OverflowError:
        return math.nan
    return math.nan if (y == 0.0 and x != 0.0) else y


def run(
    net: Network,
    *,
    seed: int,
    inputs: np.ndarray | None = None,
    batch: int = 256,
    weight_cache: WeightCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> RawStats:
    """Forward and backward pass; per-layer statistics.

    ``inputs`` (batch, n_0) replaces the default N(0, 1) batch.  ``weight_cache`` lets
    runs of the same weights (init, widths, dtype, seed) share one draw; the numbers are
    the same bit for bit with or without it.  ``progress(1)`` is called once per layer
    of the forward pass and once per layer of the backward pass (2 L calls in all when
    nothing overflows).
    """
    dtype = DTYPES[net.dtype]
    L, widths = net.depth, net.widths
    streams = seeds_for(seed, L)
    if inputs is None:
        x0 = np.random.Generator(np.random.SFC64(streams["input"])).standard_normal(
            (batch, widths[0]), dtype=dtype
        )
    else:
        x0 = np.ascontiguousarray(inputs, dtype=dtype)
    B = x0.shape[0]

    nan = np.full(L, np.nan)
    st = RawStats(*(nan.copy() for _ in range(11)))
    if weight_cache is None:
        weights = _Weights(net, streams["weights"])
    else:
        weights = weight_cache.weights(net, seed, streams["weights"])
    try:
        with np.errstate(all="ignore"):
            stored, exps, ok_upto = _forward(net, x0, weights, st, streams["bias"], progress)
            if ok_upto == L:
                _backward(net, x0, weights, stored, exps, st, streams["probe"], B, progress)
    finally:
        if weight_cache is None:
            weights.cancel()
    if ok_upto < L:
        st.overflow_layer = ok_upto + 1
    return st


def _forward(net, x0, weights, st: RawStats, bias_seed, progress=None):
    """Fill the forward statistics; return (stored arrays, their exponents, layers done)."""
    dtype = DTYPES[net.dtype]
    act, L, widths = net.act, net.depth, net.widths
    B = x0.shape[0]
    n_max = max(widths)
    work = np.empty(B * n_max, dtype=dtype)  # scratch for squares
    abuf = np.empty(B * n_max, dtype=dtype)  # a_l when h_l is what we store
    bias_rng = np.random.Generator(np.random.SFC64(bias_seed))
    keep_output = act.derivative_from_output is not None

    x, ex = x0, 0  # a_{l-1} = x * 2**ex
    stored: list[np.ndarray] = []
    exps: list[int] = []
    for l in range(1, L + 1):
        n = widths[l]
        h = np.matmul(x, weights[l])  # (B, n_l); the one new array of this layer
        eh = ex
        bstd = net.layer_bias_std(l)
        if bstd > 0:
            b = _draw_bias(net, l, bias_rng, bstd, dtype)
            # true h = 2**ex m + b; store it with eh = max(ex, 0) so neither term overflows
            eh = max(ex, 0)
            _scale(h, ex - eh)
            _scale(b, -eh)
            h += b
        w = work[: h.size].reshape(h.shape)
        mean, square = _mean_and_square(h, w)
        if not math.isfinite(square):
            st.overflow_kind = "overflow"
            return stored, exps, l - 1
        if not act.homogeneous and 0 < square < np.finfo(dtype).tiny:
            st.overflow_kind = "underflow"
            return stored, exps, l - 1
        _record(st.preact_mean, st.preact_var, st.log10_preact_var, l, mean, square, eh)
        if act.saturation == "dead":
            st.saturated_frac[l - 1] = 1.0 - np.count_nonzero((h > 0).any(axis=0)) / n

        if keep_output:
            a = act.fn(h, out=h)
            stored.append(a)
        else:
            stored.append(h)
            a = act.fn(h, out=abuf[: h.size].reshape(h.shape))
        ea = eh
        mean, square = _mean_and_square(a, w)
        _record(st.act_mean, st.act_var, st.log10_act_var, l, mean, square, ea)
        if act.saturation == "flat":
            st.saturated_frac[l - 1] = float(np.count_nonzero(act.flat(a))) / a.size
        elif act.saturation == "none":
            st.saturated_frac[l - 1] = 0.0
        if act.homogeneous:
            # Renormalise by a power of two: exact, and keeps a of order 1 at any depth.
            k = _exponent(math.sqrt(square))
            _scale(a, -k)
            ea += k
        exps.append(ea)
        x, ex = a, ea
        if progress is not None:
            progress(1)
    return stored, exps, L


def _draw_bias(net, l, rng, bstd, dtype):
    """b_l: N(0, bstd^2), or a preset's own law (PyTorch: uniform +-1/sqrt(fan_in))."""
    n = net.widths[l]
    if net.bias_std is None and net.init.bias_variance is not None:
        bound = math.sqrt(3.0) * bstd  # U(-b, b) has std b / sqrt(3)
        return (rng.random(n, dtype=dtype) * dtype(2 * bound) - dtype(bound)).astype(dtype)
    return rng.standard_normal(n, dtype=dtype) * dtype(bstd)


def _record(mean_arr, var_arr, log_arr, l, mean, square, e):
    """Store mean, variance and log10 variance of ``stored * 2**e``."""
    var = _variance(mean, square)
    mean_arr[l - 1] = _plain(mean, e)
    var_arr[l - 1] = _plain(var, 2 * e)
    log_arr[l - 1] = _log10(var, 2 * e)


def _backward(net, x0, weights, stored, exps, st: RawStats, probe_seed, B, progress=None):
    """Fill the gradient statistics, from layer L down to 1."""
    dtype = DTYPES[net.dtype]
    act, L, widths = net.act, net.depth, net.widths
    n_max = max(widths)
    keep_output = act.derivative_from_output is not None
    dphi = act.derivative_from_output if keep_output else act.derivative
    buf = np.empty(B * n_max, dtype=dtype)  # phi', then a_{l-1} when recomputed
    wgrad = np.empty(n_max * n_max, dtype=dtype)

    deltas = (np.empty(B * n_max, dtype=dtype), np.empty(B * n_max, dtype=dtype))
    d = deltas[0][: B * widths[L]].reshape(B, widths[L])
    probe = np.random.Generator(np.random.SFC64(probe_seed))
    probe.standard_normal(out=d, dtype=dtype)  # g, the fixed probe of each sample's output
    d *= dphi(stored[L - 1], out=buf[: d.size].reshape(d.shape))  # delta_L = g phi'(h_L)
    eg = 0  # true delta_l = d * 2**eg
    for l in range(L, 0, -1):
        square = _mean_and_square(d, buf[: d.size].reshape(d.shape))[1]
        k = _exponent(math.sqrt(square))
        _scale(d, -k)  # exact: keeps delta of order 1 however deep the stack
        eg += k
        rms = math.sqrt(square)
        st.grad_rms[l - 1] = _plain(rms, eg - k)
        st.log10_grad_rms[l - 1] = _log10(rms, eg - k)

        # dL/dW_l = a_{l-1}^T delta_l / B, with a_{l-1} = prev * 2**ep.
        if l == 1:
            prev, ep = x0, 0
        elif keep_output:
            prev, ep = stored[l - 2], exps[l - 2]
        else:
            h_prev = stored[l - 2]
            prev = act.fn(h_prev, out=buf[: h_prev.size].reshape(h_prev.shape))
            ep = exps[l - 2]
        g = wgrad[: prev.shape[1] * d.shape[1]].reshape(prev.shape[1], d.shape[1])
        np.matmul(prev.T, d, out=g)
        norm = math.sqrt(float(np.square(g, out=g).sum(dtype=np.float64)))
        st.weight_grad_norm[l - 1] = _plain(norm / B, ep + eg)
        st.log10_weight_grad_norm[l - 1] = _log10(norm / B, ep + eg)
        if progress is not None:
            progress(1)

        if l == 1:
            break
        # delta_{l-1} = (delta_l @ W_l^T) * phi'(h_{l-1})
        nxt = deltas[(L - l + 1) % 2][: B * widths[l - 1]].reshape(B, widths[l - 1])
        d = np.matmul(d, weights[l].T, out=nxt)  # (B, n_{l-1})
        s = stored[l - 2]
        d *= dphi(s, out=buf[: s.size].reshape(s.shape))
        stored[l - 1] = None  # free layer l's array as soon as it is used
