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

import functools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from varprop.activations import LINEAR_BELOW, LINEAR_BEYOND, Activation
from varprop.budget import size_text
from varprop.errors import VarpropError, is_count
from varprop.initializers import Initializer
from varprop.threads import draw_workers, engine_threads

LOG10_2 = math.log10(2.0)
DTYPES = {"float32": np.float32, "float64": np.float64}
RECORD_BYTES = 8 * 1024  # per layer, see memory_estimate
# Below this mean square, squares of the smaller elements of a float32 array lose bits.
SMALL_SQUARE = 2.0**-60
# A non-homogeneous phi is applied directly to h with SMALL_SQUARE <= mean(h^2) <=
# BIG_SQUARE and an exponent of 0; otherwise exactly through its asymptotes.
BIG_SQUARE = 2.0**60


@dataclass(frozen=True)
class Network:
    """A stack to simulate: ``widths = (n_0, n_1, ..., n_L)``, so ``depth = len - 1``."""

    init: Initializer
    act: Activation
    widths: tuple[int, ...]
    bias_std: float | None = None  # None: the initializer's own bias (zero for most)
    dtype: str = "float32"
    block: str = "plain"  # plain | residual (see varprop.blocks)
    norm: str = "none"  # none | layer | rms | batch (see varprop.norms)
    branch_scale: float = 1.0  # alpha of a residual block

    @property
    def lsuv(self) -> bool:
        """Whether the weights are rescaled on the batch (Mishkin & Matas 2015)."""
        return self.init.name == "lsuv"

    @property
    def plain(self) -> bool:
        """The textbook stack: plain blocks, no norm."""
        return self.block == "plain" and self.norm == "none"

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
    lsuv: list | None = None  # per layer, varprop.blocks.Lsuv, for --init lsuv
    histograms: tuple = ()  # varprop.histograms.Histogram, for the layers asked


def hidden_widths(widths, width: int, depth: int) -> tuple[int, ...]:
    """n_1, ..., n_L: ``widths`` as given (checked), or ``width`` repeated ``depth`` times."""
    if widths is None:
        return (width,) * depth
    hidden = tuple(widths)
    if not hidden or not all(is_count(w) for w in hidden):
        raise VarpropError(f"widths must be integers >= 1, got {list(widths)!r}", param="--widths")
    return tuple(map(int, hidden))


def memory_estimate(
    widths: tuple[int, ...],
    batch: int,
    dtype: str,
    *,
    distribution: str = "normal",
    homogeneous: bool = True,
    block: str = "plain",
    norm: str = "none",
) -> dict[str, int]:
    """Bytes a run allocates: weights, stored per-layer arrays, and working buffers.

    ``distribution`` is the initializer's: an orthogonal draw goes through a float64 QR.
    ``homogeneous=False`` (an activation other than relu, leaky-relu, linear) adds the
    float64 temporaries of :func:`_phi_scaled`.
    """
    item = np.dtype(DTYPES[dtype]).itemsize
    n_max = max(widths)
    weights = sum(a * b for a, b in pairwise(widths)) * item
    stored = sum(widths[1:]) * batch * item + widths[0] * batch * item
    # delta, the next delta, phi' and one activation buffer, plus one weight-gradient
    # (the largest layer's n_{l-1} x n_l, not n_max^2: a wide input at a narrow width).
    work = 4 * batch * n_max * item + max(a * b for a, b in pairwise(widths)) * item
    # Python-side bookkeeping per layer (seeds, futures, records, the rendered output):
    # measured at width 1 as about 7 KiB per layer of peak RSS for a table, 4 KiB for
    # JSON (benchmarks/bench_extremes.py).
    records = (len(widths) - 1) * RECORD_BYTES
    parts = {"weights": weights, "activations": stored, "work": work, "records": records}
    if distribution == "orthogonal":
        # Each of the two drawing threads holds a float64 Gaussian, Q and R of the QR and
        # the cast result: about 32 bytes per entry of the largest matrix (measured).
        parts["draws"] = 2 * 32 * max(a * b for a, b in pairwise(widths))
    if not homogeneous:
        # _phi_scaled holds up to ~77 bytes per element of one layer (measured, silu).
        parts["phi"] = 80 * batch * n_max
    if block == "residual":
        parts["work"] += 2 * batch * n_max * item  # the stream and the branch
    if norm != "none":
        # varprop.norms: one layer-sized temporary in the backward pass, and one float64
        # scale vector per layer (per sample, or per unit for batch norm).
        parts["norm"] = item * batch * n_max + 8 * max(batch, n_max) * (len(widths) - 1)
    return parts


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


def check_memory(
    widths: tuple[int, ...],
    batch: int,
    dtype: str,
    limit: int | None,
    *,
    distribution: str = "normal",
    homogeneous: bool = True,
    block: str = "plain",
    norm: str = "none",
) -> int:
    """Refuse, before allocating, a run that would not fit; return the estimate in bytes."""
    parts = memory_estimate(
        widths,
        batch,
        dtype,
        distribution=distribution,
        homogeneous=homogeneous,
        block=block,
        norm=norm,
    )
    need = sum(parts.values())
    cap = available_memory() * 9 // 10 if limit is None else limit
    if need > cap:
        detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items())
        raise VarpropError(
            f"this run needs about {size_text(need)} ({detail}) but the limit is {size_text(cap)}; "
            "lower --depth, --width or --batch, or set --max-memory",
            param="--max-memory" if limit is not None else "--width",
        )
    return need


class _Weights:
    """Weight matrices drawn ahead of use, one independent stream per layer.

    Layer ``l`` always gets the generator ``SFC64(seeds[l])``, so the draw is the same
    bit for bit whatever thread makes it and whatever the depth; two threads draw while
    the forward pass multiplies.
    """

    def __init__(self, net: Network, seeds: list[np.random.SeedSequence]) -> None:
        dtype = DTYPES[net.dtype]
        workers = draw_workers()
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers else _OnDemand()
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


class _OnDemand:
    """No drawing threads: each layer's weights are drawn on the caller's thread, when
    the forward pass first needs them (the same numbers: one stream per layer)."""

    def submit(self, fn, *args, **kwargs) -> _Later:
        return _Later(functools.partial(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True) -> None:
        pass


class _Later:
    def __init__(self, call: Callable[[], np.ndarray]) -> None:
        self._call: Callable[[], np.ndarray] | None = call
        self._value: np.ndarray | None = None

    def result(self) -> np.ndarray:
        if self._call is not None:
            self._value, self._call = self._call(), None
        return self._value

    def cancel(self) -> None:
        self._call = None


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


@functools.lru_cache(maxsize=8)
def _ones(n: int, dtype) -> np.ndarray:
    return np.ones(n, dtype=dtype)


# A stored array is renormalised once its RMS drifts beyond 2**+-RESCALE_AFTER: until
# then its squares are safe in float32 and a rescaling pass would buy nothing.
RESCALE_AFTER = 8


def _rescale_exponent(square: float) -> int:
    """The power of two to divide by, 0 while the RMS sqrt(square) is still near 1."""
    k = _exponent(math.sqrt(square))
    return k if abs(k) > RESCALE_AFTER else 0


def _mean_square(x: np.ndarray, work: np.ndarray) -> float:
    """Mean square of x alone (the backward pass needs no mean): one pass, not two."""
    if x.ndim == 2 and x.size:
        square = float(np.einsum("ij,ij->i", x, x).sum(dtype=np.float64)) / x.size
        if SMALL_SQUARE <= square < math.inf:
            return square
    return _mean_and_square(x, work)[1]


def _mean_and_square(x: np.ndarray, work: np.ndarray) -> tuple[float, float]:
    """Mean and mean square of x, accumulated in float64.  ``work`` is x-shaped scratch."""
    n = x.size
    if x.ndim == 2 and x.size:
        # Row sums through BLAS (gemv) and row sums of squares (einsum): each row adds at
        # most `width` numbers of order 1 in x's dtype, and the rows are added in float64.
        # Three times faster than x.sum(dtype=float64), which casts element by element.
        mean = float((x @ _ones(x.shape[1], x.dtype)).sum(dtype=np.float64)) / n
        square = float(np.einsum("ij,ij->i", x, x).sum(dtype=np.float64)) / n
    else:
        mean = float(x.sum(dtype=np.float64)) / n
        np.square(x, out=work)
        square = float(work.sum(dtype=np.float64)) / n
    if not SMALL_SQUARE <= square < math.inf and x.size:
        # Some squares overflowed or fell below the dtype's normal range (finite x of
        # order 1e20 or 1e-20 in float32).  Square x / 2**k instead (exact) and scale
        # back in float64.
        top = float(np.max(np.abs(x)))
        if top > 0 and math.isfinite(top):
            k = _exponent(top)
            np.copyto(work, x)
            _scale(work, -k)
            np.square(work, out=work)
            try:
                square = math.ldexp(float(work.sum(dtype=np.float64)) / n, 2 * k)
            except OverflowError:
                square = math.inf
    return mean, square


def _variance(mean: float, square: float) -> float:
    return max(square - mean * mean, 0.0)


def _log10_scaled(x: float, exponent2: int) -> float:
    """log10(x * 2**exponent2), nan for x <= 0."""
    if not x > 0 or not math.isfinite(x):
        return math.nan
    return math.log10(x) + exponent2 * LOG10_2


def _ldexp_or_nan(x: float, exponent2: int) -> float:
    """x * 2**exponent2 as a float64, nan where that leaves float64 range."""
    if not math.isfinite(x):
        return math.nan
    try:
        y = math.ldexp(x, exponent2)
    except OverflowError:
        return math.nan
    return math.nan if (y == 0.0 and x != 0.0) else y


def run(net: Network, **options) -> RawStats:
    """:func:`_run` with BLAS held to its share of the cores (see varprop/threads.py)."""
    with engine_threads():
        return _run(net, **options)


def _run(
    net: Network,
    *,
    seed: int,
    inputs: np.ndarray | None = None,
    batch: int = 256,
    weight_cache: WeightCache | None = None,
    progress: Callable[[int], None] | None = None,
    histograms=None,
) -> RawStats:
    """Forward and backward pass; per-layer statistics.

    ``inputs`` (batch, n_0) replaces the default N(0, 1) batch.  ``weight_cache`` lets
    runs of the same weights (init, widths, dtype, seed) share one draw; the numbers are
    the same bit for bit with or without it.  ``progress(1)`` is called once per layer
    of the forward pass and once per layer of the backward pass (2 L calls in all when
    nothing overflows).  ``histograms`` (a :class:`varprop.histograms.Collector`, plain
    stacks only) gathers the distributions of its layers on the way.
    """
    dtype = DTYPES[net.dtype]
    L, widths = net.depth, net.widths
    streams = seeds_for(seed, L)
    e0 = 0  # the batch is x0 * 2**e0
    if inputs is None:
        x0 = np.random.Generator(np.random.SFC64(streams["input"])).standard_normal(
            (batch, widths[0]), dtype=dtype
        )
    else:
        x0, e0 = _input_batch(inputs, dtype)
    B = x0.shape[0]

    nan = np.full(L, np.nan)
    st = RawStats(*(nan.copy() for _ in range(11)))
    if weight_cache is None:
        weights = _Weights(net, streams["weights"])
    else:
        weights = weight_cache.weights(net, seed, streams["weights"])
    try:
        st.lsuv = [] if net.lsuv else None
        with np.errstate(all="ignore"):
            if net.plain:
                stored, exps, ok_upto = _forward(
                    net, x0, weights, st, streams["bias"], progress, x0_exp=e0, hist=histograms
                )
                if ok_upto == L:
                    _backward(
                        net,
                        x0,
                        weights,
                        stored,
                        exps,
                        st,
                        streams["probe"],
                        B,
                        progress,
                        x0_exp=e0,
                        hist=histograms,
                    )
            else:
                from varprop import blocks

                kept, ok_upto = blocks.forward(
                    net, x0, weights, st, streams["bias"], progress, x0_exp=e0, lsuv=st.lsuv
                )
                if ok_upto == L:
                    blocks.backward(
                        net,
                        x0,
                        weights,
                        kept,
                        st,
                        streams["probe"],
                        B,
                        progress,
                        x0_exp=e0,
                        lsuv=st.lsuv,
                    )
    except BaseException:
        # Ctrl-C or an error: drop the draws not started yet, cached or not, or the
        # interpreter would wait for the pool threads to draw every layer before exiting.
        if weight_cache is not None:
            weight_cache.clear()
        raise
    finally:
        if weight_cache is None:
            weights.cancel()
    if ok_upto < L:
        st.overflow_layer = ok_upto + 1
    if histograms is not None:
        st.histograms = histograms.result(st.overflow_layer)
    return st


def _input_batch(inputs: np.ndarray, dtype) -> tuple[np.ndarray, int]:
    """The user's batch as ``(x0, e0)`` with batch = x0 * 2**e0 in ``dtype``.

    A batch of moderate size is used as it is; one far from 1 (raw data of order 1e30,
    say) is scaled by a power of two first, which is exact and keeps float32 in range.
    """
    x = np.asarray(inputs)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0 or not math.isfinite(top) or 2.0**-30 <= top <= 2.0**30:
        return np.ascontiguousarray(x, dtype=dtype), 0
    x64 = x.astype(np.float64)
    k = _exponent(top * math.sqrt(float(np.mean(np.square(x64 / top)))))
    return np.ascontiguousarray(np.ldexp(x64, -k, out=x64), dtype=dtype), k


def _forward(net, x0, weights, st: RawStats, bias_seed, progress=None, *, x0_exp=0, hist=None):
    """Fill the forward statistics; return (stored arrays, their exponents, layers done)."""
    from varprop.blocks import _linear_out

    dtype = DTYPES[net.dtype]
    act, L, widths = net.act, net.depth, net.widths
    B = x0.shape[0]
    n_max = max(widths)
    work = np.empty(B * n_max, dtype=dtype)  # scratch for squares
    abuf = np.empty(B * n_max, dtype=dtype)  # a_l when h_l is what we store
    bias_rng = np.random.Generator(np.random.SFC64(bias_seed))
    keep_output = act.derivative_from_output is not None

    x, ex = x0, x0_exp  # a_{l-1} = x * 2**ex
    stored: list[np.ndarray] = []
    exps: list[int] = []
    # Every layer's stored array, carved out of one block: one allocation instead of L,
    # and the kernel can back it with huge pages (fewer page faults on first touch).
    block = np.empty(B * sum(widths[1:]), dtype=dtype)
    offset = 0
    for l in range(1, L + 1):
        n = widths[l]
        h = block[offset : offset + B * n].reshape(B, n)  # (B, n_l)
        offset += B * n
        np.matmul(x, weights[l], out=h)
        # + b_l, and the LSUV factor (varprop.blocks) for --init lsuv
        eh = _linear_out(net, l, h, ex, bias_rng, st.lsuv, dtype)
        w = work[: h.size].reshape(h.shape)
        mean, square = _mean_and_square(h, w)
        if not math.isfinite(square):
            st.overflow_kind = "overflow"
            return stored, exps, l - 1
        _record(st.preact_mean, st.preact_var, st.log10_preact_var, l, mean, square, eh)
        seen = hist is not None and hist.wants(l)
        if seen:
            hist.preact(l, h, eh, mean, square)  # before phi overwrites h
        if act.saturation == "dead":
            st.saturated_frac[l - 1] = 1.0 - np.count_nonzero(h.max(axis=0) > 0) / n

        # A non-homogeneous phi is applied to h directly while h is of moderate size;
        # beyond that (or once h carries an exponent) by _phi_scaled, exactly.
        if not act.homogeneous and (eh != 0 or not SMALL_SQUARE <= square <= BIG_SQUARE):
            k = _exponent(math.sqrt(square))
            _scale(h, -k)
            eh += k
            stored.append(_PreAct(h, eh))
            t, ea = _phi_scaled(act, h, eh)
            a = abuf[: h.size].reshape(h.shape)
            np.copyto(a, t, casting="same_kind")
            del t
        elif keep_output:
            a = act.fn(h, out=h)
            stored.append(a)
            ea = eh
        else:
            stored.append(h)
            a = act.fn(h, out=abuf[: h.size].reshape(h.shape))
            ea = eh
        mean, square = _mean_and_square(a, w)
        _record(st.act_mean, st.act_var, st.log10_act_var, l, mean, square, ea)
        if act.saturation == "flat":
            true_a = a if ea == 0 else np.ldexp(a, ea, dtype=np.float64)
            st.saturated_frac[l - 1] = float(np.count_nonzero(act.flat(true_a))) / a.size
        elif act.saturation == "none":
            st.saturated_frac[l - 1] = 0.0
        if seen:
            hist.activation(l, a, ea, mean, square, st.saturated_frac[l - 1])
        if act.homogeneous:
            # Renormalise by a power of two: exact, and keeps a of order 1 at any depth.
            k = _rescale_exponent(square)
            _scale(a, -k)
            ea += k
        exps.append(ea)
        x, ex = a, ea
        if progress is not None:
            progress(1)
    return stored, exps, L


class _PreAct(NamedTuple):
    """What the forward pass keeps of a layer evaluated by :func:`_phi_scaled`: h * 2**e."""

    h: np.ndarray
    e: int


def _dphi(act: Activation, dphi, item, out: np.ndarray) -> np.ndarray:
    """phi'(h_l) into ``out``, from what the forward pass stored for layer l."""
    if isinstance(item, _PreAct):
        np.copyto(out, _dphi_scaled(act, item.h, item.e), casting="same_kind")
        return out
    return dphi(item, out=out)


def _phi_scaled(act: Activation, s: np.ndarray, e: int) -> tuple[np.ndarray, int]:
    """phi(s * 2**e) as float64 ``(t, ea)`` with phi = t * 2**ea and t of order 1.

    Exact to float64 rounding for any integer ``e``, however far ``s * 2**e`` lies
    outside float64: there phi is its asymptote (``Activation.asymptotes``), split into a
    part proportional to h (kept relative to 2**e) and a constant.
    """
    a_neg, b_neg, a_pos, b_pos, f0, d0_neg, d0_pos = act.asymptotes
    s = s.astype(np.float64)
    x = np.ldexp(s, e)  # the true h, where float64 holds it
    ax = np.abs(x)
    big, small = ax > LINEAR_BEYOND, ax < LINEAR_BELOW
    del ax
    pos = s > 0
    # phi(h) = lin * 2**e + const
    lin = np.where(big, np.where(pos, a_pos, a_neg), 0.0)
    lin[small] = np.where(pos[small], d0_pos, d0_neg)
    lin *= s
    const = np.where(big, np.where(pos, b_pos, b_neg), 0.0)
    const[small] = f0
    mid = ~(big | small)
    const[mid] = act.fn(x[mid])
    del x, big, small, pos, mid, s
    tops = []
    top = float(np.max(np.abs(lin))) if lin.size else 0.0
    if top > 0:
        tops.append(_exponent(top) + e)
    top = float(np.max(np.abs(const))) if const.size else 0.0
    if top > 0:
        tops.append(_exponent(top))
    if not tops:
        return const, 0  # phi = 0 everywhere
    ea = max(tops)  # both parts below 2**(ea+1): neither overflows, the smaller may vanish
    t = np.ldexp(lin, e - ea, out=lin)
    t += np.ldexp(const, -ea, out=const)
    k = _exponent(math.sqrt(float(np.mean(np.square(t)))))
    return np.ldexp(t, -k, out=t), ea + k


def _dphi_scaled(act: Activation, s: np.ndarray, e: int) -> np.ndarray:
    """phi'(s * 2**e) in float64, exact to float64 rounding for any integer ``e``."""
    x = np.ldexp(s.astype(np.float64), e)
    # Far out phi' is constant and near 0 it is phi'(0+-) (see Activation.asymptotes): evaluate it
    # at the edge of the window, keeping the sign of h.
    np.clip(x, -LINEAR_BEYOND, LINEAR_BEYOND, out=x)
    tiny = (np.abs(x) < LINEAR_BELOW) & (s != 0)
    x[tiny] = np.copysign(LINEAR_BELOW, s[tiny])
    return act.derivative(x)


def use_gram(batch: int, fan_in: int, fan_out: int) -> bool:
    """Whether ||a^T delta||_F is cheaper from the batch's Gram matrices: two (B, B)
    float64 products, B^2 (n_in + n_out) multiply-adds at about twice the float32 cost,
    against B n_in n_out for a^T delta in float32."""
    return 2 * batch * (fan_in + fan_out) < fan_in * fan_out


def _weight_grad_norm(prev: np.ndarray, d: np.ndarray, wgrad: np.ndarray) -> float:
    """||prev^T d||_F for prev (B, n_in) and d (B, n_out), in the cheaper form.

    ``||A^T D||_F^2 = sum((A A^T) * (D D^T))``, in float64: the off-diagonal terms have
    either sign and, once deep layers make the samples alike, are ~100x the result, which
    float32 Gram matrices would leave with 1e-3 relative error.  ``wgrad`` is scratch
    for the direct form (n_in n_out elements, used when the batch is the larger side).
    """
    B, n_in = prev.shape
    n_out = d.shape[1]
    if use_gram(B, n_in, n_out):
        a64, d64 = prev.astype(np.float64), d.astype(np.float64)
        gram_a = a64 @ a64.T  # (B, B)
        gram_d = d64 @ d64.T  # (B, B)
        square = float(np.einsum("ij,ij->", gram_a, gram_d))
        if math.isfinite(square):
            return math.sqrt(max(square, 0.0))
    g = wgrad[: n_in * n_out].reshape(n_in, n_out)
    np.matmul(prev.T, d, out=g)
    return math.sqrt(_mean_square(g, g) * g.size)


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
    mean_arr[l - 1] = _ldexp_or_nan(mean, e)
    var_arr[l - 1] = _ldexp_or_nan(var, 2 * e)
    log_arr[l - 1] = _log10_scaled(var, 2 * e)


def _backward(
    net,
    x0,
    weights,
    stored,
    exps,
    st: RawStats,
    probe_seed,
    B,
    progress=None,
    *,
    x0_exp=0,
    hist=None,
):
    """Fill the gradient statistics, from layer L down to 1."""
    dtype = DTYPES[net.dtype]
    act, L, widths = net.act, net.depth, net.widths
    n_max = max(widths)
    keep_output = act.derivative_from_output is not None
    dphi = act.derivative_from_output if keep_output else act.derivative
    buf = np.empty(B * n_max, dtype=dtype)  # phi', then a_{l-1} when recomputed
    wgrad = np.empty(max(a * b for a, b in pairwise(widths)), dtype=dtype)

    deltas = (np.empty(B * n_max, dtype=dtype), np.empty(B * n_max, dtype=dtype))
    d = deltas[0][: B * widths[L]].reshape(B, widths[L])
    probe = np.random.Generator(np.random.SFC64(probe_seed))
    probe.standard_normal(out=d, dtype=dtype)  # g, the fixed probe of each sample's output
    d *= _dphi(act, dphi, stored[L - 1], buf[: d.size].reshape(d.shape))  # g phi'(h_L)
    eg = 0  # true delta_l = d * 2**eg
    for l in range(L, 0, -1):
        square = _mean_square(d, buf[: d.size].reshape(d.shape))
        k = _rescale_exponent(square)
        _scale(d, -k)  # exact: keeps delta of order 1 however deep the stack
        eg += k
        rms = math.sqrt(square)
        st.grad_rms[l - 1] = _ldexp_or_nan(rms, eg - k)
        st.log10_grad_rms[l - 1] = _log10_scaled(rms, eg - k)
        if hist is not None and hist.wants(l):  # d is delta_l / 2**eg, of RMS rms / 2**k
            true_rms, log10_rms = float(st.grad_rms[l - 1]), float(st.log10_grad_rms[l - 1])
            hist.gradient(
                l,
                d,
                math.ldexp(rms, -k),
                true_rms if math.isfinite(true_rms) else None,
                log10_rms if math.isfinite(log10_rms) else None,
            )

        # dL/dW_l = a_{l-1}^T delta_l / B, with a_{l-1} = prev * 2**ep.
        if l == 1:
            prev, ep = x0, x0_exp
        elif isinstance(stored[l - 2], _PreAct):
            t, ep = _phi_scaled(act, *stored[l - 2])
            prev = buf[: t.size].reshape(t.shape)
            np.copyto(prev, t, casting="same_kind")
            del t
        elif keep_output:
            prev, ep = stored[l - 2], exps[l - 2]
        else:
            h_prev = stored[l - 2]
            prev = act.fn(h_prev, out=buf[: h_prev.size].reshape(h_prev.shape))
            ep = exps[l - 2]
        norm = _weight_grad_norm(prev, d, wgrad)
        st.weight_grad_norm[l - 1] = _ldexp_or_nan(norm / B, ep + eg)
        st.log10_weight_grad_norm[l - 1] = _log10_scaled(norm / B, ep + eg)
        if progress is not None:
            progress(1)

        if l == 1:
            break
        # delta_{l-1} = (delta_l @ W_l^T) * phi'(h_{l-1})
        nxt = deltas[(L - l + 1) % 2][: B * widths[l - 1]].reshape(B, widths[l - 1])
        d = np.matmul(d, weights[l].T, out=nxt)  # (B, n_{l-1})
        if st.lsuv is not None:
            d *= dtype(st.lsuv[l - 1].factor)
            eg += st.lsuv[l - 1].shift
        d *= _dphi(act, dphi, stored[l - 2], buf[: d.size].reshape(d.shape))
        stored[l - 1] = None  # free layer l's array as soon as it is used
