"""Frozen result records.  ``to_dict()`` gives exactly the JSON objects of DESIGN.md.

Every float field is either a finite float or ``None`` ("cannot be stated"): the records
never hold ``nan`` or ``inf``, so JSON and CSV never print them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

# How far (in log10) the variance or gradient may drift from layer 1 and still be
# called stable: the same band the table colours, [1e-2, 1e2].
STABLE_DECADES = 2.0


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a plain float, or None when it is missing, nan or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer ``l`` (1-based), over the batch and the layer's units.

    Plain fields are None where the value leaves float64 range; the ``log10_*`` forms
    are stated whenever the value is known, however small or large.
    """

    layer: int
    preact_mean: float | None  # mean of h_l
    preact_var: float | None  # variance of h_l
    act_mean: float | None  # mean of a_l = phi(h_l)
    act_var: float | None  # variance of a_l
    saturated_frac: float | None  # flat part (bounded phi) or dead units (ReLU-like)
    grad_rms: float | None  # sqrt(mean(delta_l^2)), delta_l = dL/dh_l per sample
    weight_grad_norm: float | None  # ||dL/dW_l||_F of the batch-mean loss
    theory_preact_var: float | None = None  # mean-field q_l (infinite width)
    theory_grad_rms: float | None = None  # mean-field sqrt(E[delta_l^2])
    log10_preact_var: float | None = None
    log10_grad_rms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Config:
    """What was run.  ``weight_var`` is sigma_w^2 of the hidden (width x width) layers."""

    init: str
    act: str
    depth: int
    width: int
    batch: int
    seed: int
    dtype: str
    weight_var: float
    bias_std: float
    widths: tuple[int, ...] = ()  # n_0, n_1, ..., n_L
    input: str = "normal"
    input_second_moment: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


@dataclass(frozen=True)
class Summary:
    """Verdicts and overall factors of a run.

    ``preact_var_ratio`` is layer L over layer 1; ``grad_rms_ratio`` is layer 1 over
    layer L (so both read > 1 for growth in the direction the signal travels... of the
    forward pass and < 1 when gradients shrink toward the input).  ``*_factor`` are the
    geometric-mean per-layer factors.  ``overflow_layer`` is the first layer whose values
    left floating-point range (``overflow_kind`` says which way), or None.
    """

    forward: str  # stable | vanishing | exploding | saturated | unknown
    backward: str  # stable | vanishing | exploding | unknown
    preact_var_ratio: float | None
    grad_rms_ratio: float | None
    log10_preact_var_ratio: float | None = None
    log10_grad_rms_ratio: float | None = None
    forward_factor: float | None = None  # per layer, variance
    backward_factor: float | None = None  # per layer, gradient RMS (toward the input)
    overflow_layer: int | None = None
    overflow_kind: str | None = None  # "overflow" | "underflow"
    fix: str | None = None  # one-line advice when the pair is unstable
    theory_max_log10_error: float | None = None  # max |log10(measured / theory)|

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SimulationResult:
    """One Monte-Carlo run: its config, one :class:`LayerStats` per layer, a summary."""

    version: str
    config: Config
    layers: tuple[LayerStats, ...]
    summary: Summary
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "varprop_version": self.version,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "summary": self.summary.to_dict(),
        }


LAYER_FIELDS = tuple(f.name for f in fields(LayerStats))
