"""Per-layer distributions of h, a and delta, as in Glorot & Bengio (2010), Fig. 3.

Collected by the engine (:mod:`varprop.network`) during the run's one forward and
backward pass, for the layers asked only: no layer asked, no cost.

Binning.  ``BINS`` (41) equal bins per histogram; an odd number, so that a symmetric
range has one bin centred on 0 and a collapse to 0 is one spike, not two half-spikes.

- ``a`` of a bounded activation (tanh, sigmoid, hardtanh): the activation's own range
  (tanh ``[-1, 1]``, sigmoid ``[0, 1]``), the same for every layer, so saturation is
  mass in the outer bins and a collapse is mass in the middle bin (Glorot & Bengio's
  view).
- everything else: the layer's own range, ``[-R, R]`` with ``R = min(4 RMS, max |x|)``
  (RMS about 0, so a shifted distribution stays in view), or ``[0, R]`` when no value
  is negative (ReLU's ``a``: its zeros fill the first bin).  Values beyond ``4 RMS``
  are in no bin; ``outside`` counts them.  A layer of all zeros gets ``[-1, 1]``.
- ``delta``: the engine renormalises the gradient by powers of two at every layer
  (it may be 1e-300 or 1e+300 in truth), so its histogram is of the SHAPE, ``delta /
  RMS(delta)``, binned as above (``R <= 4``); ``scale`` is RMS(delta), the same figure
  as ``LayerStats.grad_rms``.

``edges`` times ``scale`` are the true values.  ``scale`` is 1 for h and a, unless the
layer's values leave float64's range (a stack that vanished or exploded exactly, see
:mod:`varprop.network`): then edges are in units of ``2**e``, ``scale`` is None and
``log10_scale`` says how far.  A layer the run never reached, or whose values are not
finite, gets no bins and says why in ``skipped``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from numbers import Integral

import numpy as np

from varprop.errors import VarpropError

BINS = 41
SPAN = 4.0  # the range of an unbounded quantity, in RMS
QUANTITIES = ("h", "a", "delta")  # pre-activation, activation, dL/dh
LOG10_2 = math.log10(2.0)


@dataclass(frozen=True)
class Histogram:
    """One layer's distribution of one quantity, over the batch and the layer's units.

    ``counts[i]`` values fall in ``[edges[i], edges[i+1])`` (the last bin is closed);
    ``outside`` values fall in no bin.  ``mean`` and ``std`` are in the units of
    ``edges``.  ``a`` only: ``saturated_frac``, for a bounded activation, is the share of
    values in its flat part (the rule of ``LayerStats.saturated_frac``); ``off_frac``,
    for a ReLU-like one, the share with ``h <= 0`` on that sample (not the table's
    "dead on the whole batch"); None otherwise.
    """

    layer: int
    quantity: str  # "h" pre-activation, "a" activation, "delta" gradient dL/dh
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    outside: int = 0
    mean: float | None = None
    std: float | None = None
    scale: float | None = 1.0  # true value = edge * scale (delta: RMS(delta))
    log10_scale: float | None = 0.0
    saturated_frac: float | None = None
    off_frac: float | None = None
    skipped: str | None = None  # why there are no bins (overflow, layer not reached)

    @property
    def total(self) -> int:
        return sum(self.counts) + self.outside

    def to_dict(self) -> dict:
        d = asdict(self)
        d["edges"], d["counts"] = list(self.edges), list(self.counts)
        return d


def default_layers(depth: int) -> tuple[int, ...]:
    """The first layer, the last and three evenly between (fewer for shallow stacks)."""
    return tuple(sorted({round(1 + i * (depth - 1) / 4) for i in range(5)}))


def check_layers(layers, depth: int) -> tuple[int, ...] | None:
    """``layers`` (integers in 1..depth, or ``"auto"``) sorted, or None for none."""
    if layers is None:
        return None
    if isinstance(layers, str):
        if layers.strip().lower() != "auto":
            raise VarpropError(
                f"histogram layers must be integers in 1..{depth} or 'auto', got {layers!r}",
                param="--hist",
            )
        return default_layers(depth)
    got = tuple(layers)
    bad = [x for x in got if not isinstance(x, Integral) or isinstance(x, bool)]
    bad += [x for x in got if x not in bad and not 1 <= x <= depth]
    if bad:
        raise VarpropError(
            f"histogram layers must be integers in 1..{depth} (the depth), got {bad[0]!r}",
            param="--hist",
        )
    return tuple(sorted({int(x) for x in got})) or None


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _ldexp(x: float, e: int) -> float:
    """x * 2**e, inf or 0 where float64 cannot hold it."""
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return math.copysign(math.inf, x)


def _range(x: np.ndarray, rms: float) -> tuple[float, float]:
    """``(lo, hi)`` of the layer's own range, in x's units (see the module docstring)."""
    top, bottom = float(x.max()), float(x.min())
    r = min(SPAN * rms, max(top, -bottom))
    if not r > 0:
        return (0.0, 1.0) if bottom >= 0 and top > 0 else (-1.0, 1.0)
    return (0.0 if bottom >= 0 else -r), r


def _counts(x: np.ndarray, lo: float, hi: float) -> tuple[tuple[int, ...], int]:
    counts, _ = np.histogram(x, bins=BINS, range=(lo, hi))
    counts = tuple(int(c) for c in counts)
    return counts, x.size - sum(counts)


class Collector:
    """Gathers the histograms of the layers asked, as the engine meets them.

    The engine hands over each layer's stored array ``x`` with its power-of-two exponent
    ``e`` (true values ``x * 2**e``).  Counting on the stored array with edges scaled by
    the same power of two is exact.
    """

    def __init__(self, layers: Sequence[int], act) -> None:
        self.layers = frozenset(layers)
        a = act.asymptotes
        bounded = act.saturation == "flat" and a.slope_neg == 0 == a.slope_pos
        self.bounds = (min(a.offset_neg, a.offset_pos), max(a.offset_neg, a.offset_pos))
        self.bounded = bounded
        self.dead = act.saturation == "dead"
        self.found: dict[tuple[int, str], Histogram] = {}
        self._off: dict[int, float] = {}

    def wants(self, l: int) -> bool:
        return l in self.layers

    def preact(self, l: int, h: np.ndarray, e: int, mean: float, square: float) -> None:
        """h_l = h * 2**e; ``mean`` and ``square`` are h's (stored units)."""
        if self.dead:
            self._off[l] = float(np.count_nonzero(h <= 0)) / h.size
        self._sampled(l, "h", h, e, mean, square)

    def activation(self, l, a: np.ndarray, e: int, mean, square, saturated) -> None:
        """a_l = a * 2**e (``mean``, ``square``: a's); ``saturated``: the flat share."""
        if not self.bounded:
            self._sampled(l, "a", a, e, mean, square, off=self._off.pop(l, None))
            return
        lo, hi = self.bounds
        counts, outside = _counts(a, _ldexp(lo, -e), _ldexp(hi, -e))
        self._keep(l, "a", np.linspace(lo, hi, BINS + 1), counts, outside, mean, square, e, 0)
        self._add(l, "a", saturated_frac=saturated)

    def gradient(self, l: int, d: np.ndarray, rms: float, true_rms, log10_rms) -> None:
        """delta_l = d * 2**e with RMS(d) = ``rms``; binned as d / rms (its shape)."""
        if not (math.isfinite(rms) and rms > 0):
            self.skip(l, "delta", "gradient is zero" if rms == 0 else "gradient not finite")
            return
        lo, hi = _range(d, rms)
        lo, hi = lo / rms, hi / rms
        counts, outside = _counts(d, lo * rms, hi * rms)
        mean = float(d.mean(dtype=np.float64)) / rms
        self.found[(l, "delta")] = Histogram(
            layer=l,
            quantity="delta",
            edges=tuple(np.linspace(lo, hi, BINS + 1).tolist()),
            counts=counts,
            outside=outside,
            mean=mean,
            std=math.sqrt(max(1.0 - mean * mean, 0.0)),
            scale=true_rms,
            log10_scale=log10_rms,
        )

    def skip(self, l: int, quantity: str, why: str) -> None:
        self.found.setdefault((l, quantity), Histogram(layer=l, quantity=quantity, skipped=why))

    def result(self, overflow_layer: int | None = None) -> tuple[Histogram, ...]:
        """Every histogram asked, in layer order; those never reached say why."""
        for l in self.layers:
            for q in QUANTITIES:
                if overflow_layer is not None and l >= overflow_layer:
                    why = f"values left float range at layer {overflow_layer}"
                elif overflow_layer is not None:
                    why = f"no backward pass: values left float range at layer {overflow_layer}"
                else:
                    why = "not reached"
                self.skip(l, q, why)
        order = {q: i for i, q in enumerate(QUANTITIES)}
        return tuple(sorted(self.found.values(), key=lambda h: (h.layer, order[h.quantity])))

    def _sampled(self, l, quantity, x, e, mean, square, *, off=None) -> None:
        if not math.isfinite(square):
            self.skip(l, quantity, "values not finite")
            return
        lo, hi = _range(x, math.sqrt(square))
        counts, outside = _counts(x, lo, hi)
        edges = np.linspace(lo, hi, BINS + 1)
        top = _ldexp(max(abs(lo), hi), e)
        if 0 < top < math.inf and top >= 2.0**-1000:  # float64 holds every edge
            self._keep(l, quantity, np.ldexp(edges, e), counts, outside, mean, square, e, 0)
        else:  # edges in units of 2**e
            self._keep(l, quantity, edges, counts, outside, mean, square, e, e)
        self._add(l, quantity, off_frac=off)

    def _add(self, l: int, quantity: str, **fields) -> None:
        self.found[(l, quantity)] = replace(self.found[(l, quantity)], **fields)

    def _keep(self, l, quantity, edges, counts, outside, mean, square, e, unit) -> None:
        """Store the histogram; ``mean``/``square`` are in x's units, edges in 2**unit."""
        shift = e - unit  # stored units -> edge units
        std = math.sqrt(max(square - mean * mean, 0.0))
        self.found[(l, quantity)] = Histogram(
            layer=l,
            quantity=quantity,
            edges=tuple(np.asarray(edges, dtype=np.float64).tolist()),
            counts=counts,
            outside=outside,
            mean=_finite(_ldexp(mean, shift)),
            std=_finite(_ldexp(std, shift)),
            scale=1.0 if unit == 0 else None,
            log10_scale=unit * LOG10_2,
        )
