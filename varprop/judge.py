"""The one verdict rule: what a per-layer curve does, for every command.

simulate, compare, grid, theory, recommend and the ``--seeds`` summaries all call
:func:`judge` on the per-layer log10 figures they state, so one configuration gets the
same words everywhere (DESIGN.md, "Verdicts").  The words:

- ``stable``: the curve ends within ``STABLE_DECADES`` of where it started.
- ``power-law``: an algebraic drift toward a marginal fixed point, ``s_l ~ l^p`` with
  ``l`` the layer index from the input (tanh at sigma_w^2 = 1, sigma_b = 0:
  ``q_l ~ 1/(2l)``, p = -1).  Told apart from a geometric drift by *where* the change
  happens: a power law makes half of its change (in log) by layer ``sqrt(L)``, a
  geometric one only ``(sqrt(L) - 1)/(L - 1)`` of it (0.12 at L = 50), and a curve that
  settles at a new level all of it.  Measured at width 512, depth 50: xavier:tanh's
  share is 0.56-0.57 in simulation and theory alike, xavier:relu's 0.14, he:gelu's 0.03
  (a drift that speeds up), sigmoid's forward 0.95-1.07 (settles).
- ``vanishing`` / ``exploding``: a change beyond ``STABLE_DECADES`` that is not a power
  law, in the direction the signal travels (forward: layer L over layer 1; backward:
  layer 1 over layer L).
- ``saturated`` (forward only): most units of the last layer on the flat part of a
  bounded activation, whatever the variance does.
- ``overflow``: a figure left floating-point range inside a layer.
- ``unknown``: the curve cannot be stated.

The rule sees only numbers; the rendering layer words them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# How far (in log10) a curve may end from its start and still be stable: a factor 100.
STABLE_DECADES = 2.0
# A power law is only called one when it has moved at least this much (below it, the
# curve is stable, whatever its shape) and over at least this many layers (below it,
# sqrt(L) is too close to 1 for the share to tell the shapes apart: at L = 16 a
# geometric drift makes 0.2 of its change by layer 4, a power law 0.5).
POWER_MIN_DECADES = 1.0
POWER_MIN_DEPTH = 16
# The share of the change made by layer ceil(sqrt(L)) that reads as a power law.  Pure
# power laws give 0.5; finite-width noise at width 512, depth 50 moves the share by
# about +-0.05 (sd of a curve's log10 drift ~0.8 sqrt(L/width) decades, over a change of
# at least 1 decade), so the band sits 3 sd or more from a power law's 0.5-0.57 and from
# a geometric drift's <= 0.2 and a settling curve's ~1.
POWER_SHARE = (0.35, 0.8)
# The ratio of a power law's log-log slopes over two halves of [k, L] (1 for a pure one;
# a curve settling on a fixed point with xi_q = 10 layers gives ~0.1).
POWER_STRAIGHT = (0.4, 2.5)
# Above this fraction of saturated units at the last layer, a bounded activation's
# forward verdict is "saturated" whatever the variance does (tanh under naive init keeps
# q large but flat).
SATURATED = 0.5
# How far a last layer's saturated fraction may move between seeds (a robust verdict
# keeps its word when it does).
SATURATION_MARGIN = 0.1
# Below this change (decades) a curve counts as flat when its robustness is probed.
FLAT_CHANGE = 1e-3

STABLE, POWER_LAW, VANISHING, EXPLODING = "stable", "power-law", "vanishing", "exploding"
SATURATED_WORD, OVERFLOW, UNKNOWN = "saturated", "overflow", "unknown"
WORDS = (STABLE, POWER_LAW, VANISHING, EXPLODING, SATURATED_WORD, OVERFLOW, UNKNOWN)


@dataclass(frozen=True)
class Trend:
    """What one curve does: its word, its change in decades the way the signal travels,
    and for a power law the exponent ``p`` of ``s_l ~ l^p`` (layer index from the input).
    """

    word: str
    log10_change: float | None
    exponent: float | None = None


def trend(log10_values: Sequence[float | None], *, backward: bool = False) -> Trend:
    """The verdict of one per-layer curve, layer 1 first.

    ``backward``: the curve travels from layer L to layer 1 (a gradient), so its change
    is layer 1 over layer L.  ``None`` entries are values that cannot be stated; an end
    that is exactly zero (``-inf``) has vanished.
    """
    values = [math.nan if v is None else float(v) for v in log10_values]
    first, last = values[0], values[-1]
    start, end = (last, first) if backward else (first, last)
    if end == -math.inf:  # exactly zero where it arrives: certainly vanished
        return Trend(VANISHING, None)
    if not (math.isfinite(first) and math.isfinite(last)):
        return Trend(UNKNOWN, None)
    change = end - start
    exponent = _power_law(values)
    if exponent is not None:
        return Trend(POWER_LAW, change, exponent)
    if change > STABLE_DECADES:
        return Trend(EXPLODING, change)
    if change < -STABLE_DECADES:
        return Trend(VANISHING, change)
    return Trend(STABLE, change)


def _power_law(values: list[float]) -> float | None:
    """The exponent p of ``s_l ~ l^p`` when the curve is a power law, else None."""
    depth = len(values)
    total = values[-1] - values[0]
    if depth < POWER_MIN_DEPTH or abs(total) < POWER_MIN_DECADES:
        return None
    k = math.ceil(math.sqrt(depth))
    early = values[k - 1] - values[0]
    if not math.isfinite(early):
        return None
    lo, hi = POWER_SHARE
    if not lo <= early / total <= hi:
        return None
    # Past layer k a power law is a straight line in log-log: its slope over [k, m] and
    # over [m, L] (m = sqrt(kL), equal lengths in log l) agree, where a curve settling
    # on a fixed point flattens (the second slope falls toward 0).
    m = round(math.sqrt(k * depth))
    first = (values[m - 1] - values[k - 1]) / math.log10(m / k)
    second = (values[-1] - values[m - 1]) / math.log10(depth / m)
    if first == 0 or not POWER_STRAIGHT[0] <= second / first <= POWER_STRAIGHT[1]:
        return None
    return (values[-1] - values[k - 1]) / (math.log10(depth) - math.log10(k))


@dataclass(frozen=True)
class Judgement:
    """Both verdicts of a stack."""

    forward: Trend
    backward: Trend
    saturated_frac: float | None = None  # the last layer's, as judged
    # The same words with the curves' changes moved by +-3 noise sd and the saturated
    # fraction by +-SATURATION_MARGIN (None: no noise was given).
    robust: bool | None = None

    @property
    def stable(self) -> bool:
        return self.forward.word == STABLE and self.backward.word == STABLE

    @property
    def words(self) -> dict[str, str]:
        return {"forward": self.forward.word, "backward": self.backward.word}


def judge(
    log10_preact_var: Sequence[float | None],
    log10_grad_rms: Sequence[float | None],
    *,
    saturated_frac: float | None = None,
    bounded: bool = False,
    overflow: str | None = None,
    noise: float | None = None,
) -> Judgement:
    """Forward and backward verdicts of a stack from its per-layer curves.

    ``saturated_frac`` is the last layer's fraction of saturated units; it decides only
    for ``bounded`` activations (ReLU-like stacks go dead on up to half their units even
    where He init keeps the variance).  ``overflow`` (``"overflow"`` | ``"underflow"``)
    says a figure left floating-point range inside a layer: the forward curve is then
    ``overflow``, whatever its stated log10 values do.

    ``noise`` (one sd of a curve's log10 change, e.g. across seeds at finite width)
    asks whether the words are *robust*: unchanged when each curve's change from layer 1
    is moved by +-3 sd, and the saturated fraction by +-SATURATION_MARGIN.  A curve is
    moved by stretching its deviations from layer 1 (its shape, and so a power law or a
    settling curve, stays what it is); a flat one (|change| < FLAT_CHANGE, where a
    stretch would only magnify rounding) by adding a drift growing linearly to +-3 sd.
    Theory's curves are judged this way before a fix promises what a finite-width run
    will show.
    """

    def forward_word(drift: float = 0.0, sat_shift: float = 0.0) -> Trend:
        forward = trend(_drifted(log10_preact_var, drift))
        if overflow is not None:
            return Trend(OVERFLOW, forward.log10_change)
        if bounded and saturated_frac is not None and saturated_frac + sat_shift > SATURATED:
            return Trend(SATURATED_WORD, forward.log10_change)
        return forward

    def backward_word(drift: float = 0.0, sat_shift: float = 0.0) -> Trend:
        return trend(_drifted(log10_grad_rms, drift), backward=True)

    forward, backward = forward_word(), backward_word()
    robust = None
    if noise is not None:
        robust = True
        for word, t in ((forward_word, forward), (backward_word, backward)):
            for sign in (1, -1):
                robust &= word(sign * 3 * noise, sign * SATURATION_MARGIN).word == t.word
    return Judgement(forward, backward, saturated_frac, robust)


def _drifted(values: Sequence[float | None], drift: float) -> list[float | None]:
    """The curve with its change from layer 1 to L moved by ``drift`` decades."""
    n = len(values)
    if drift == 0.0 or n < 2 or values[0] is None or values[-1] is None:
        return list(values)
    v0, change = values[0], values[-1] - values[0]
    if not (math.isfinite(v0) and math.isfinite(change)):
        return list(values)
    if abs(change) < FLAT_CHANGE:
        return [None if v is None else v + drift * i / (n - 1) for i, v in enumerate(values)]
    factor = (change + drift) / change
    return [None if v is None else v0 + (v - v0) * factor for v in values]
