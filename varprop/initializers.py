"""Weight initializers, in one registry, stated as a weight variance ``sigma_w^2 / fan_in``.

A name is a base initializer with an optional distribution suffix:
``he``, ``he-uniform``, ``he-truncated``, ``xavier-normal``, ``orthogonal``, ... .
A bare number is an explicit ``sigma_w^2`` (``1.5`` means weights of variance
``1.5 / fan_in``).  Framework presets (``torch-default``, ``keras-default``,
``flax-default``) reproduce what those libraries do to a dense layer, biases included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from varprop.errors import VarpropError

# Std of a standard normal truncated to [-2, 2]: sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)).
# Dividing by it gives a truncated normal the variance it promises.
TRUNCATED_STD = 0.87962566103423978
TRUNCATION = 2.0

FAN_MODES = ("fan_in", "fan_out")

# sigma_w^2 * fan_in^-1 as a function of (fan_in, fan_out, fan_mode).
VarianceRule = Callable[[int, int, str], float]


@dataclass(frozen=True, kw_only=True)
class Initializer:
    """How one weight matrix ``W`` of shape ``(fan_in, fan_out)`` is drawn.

    ``variance(fan_in, fan_out)`` is the variance of each weight; ``sigma_w2`` is the same
    in the units of DESIGN.md, ``variance * fan_in``.  ``bias_variance(fan_in)`` is a
    preset's own bias variance (None: zero biases unless the user gives ``--bias-std``).
    """

    name: str
    summary: str
    rule: VarianceRule
    distribution: str = "normal"  # normal | truncated | uniform | orthogonal
    gain: float = 1.0  # orthogonal only
    fan_mode: str = "fan_in"
    bias_variance: Callable[[int], float] | None = None
    reference: str = ""
    # sigma_w^2 as ``varprop list`` shows it: on a square layer, or as a formula.
    formula: str = ""
    # How advice names it in a sentence ("He", "PyTorch's default"); "" for none.
    display: str = ""
    # Place among the named inits ``recommend`` judges (ties go to the lower rank, so
    # lecun comes before xavier: on non-square layers lecun's fan_in scaling keeps the
    # forward variance); None: not judged.
    recommend_rank: int | None = None

    def variance(self, fan_in: int, fan_out: int) -> float:
        if self.distribution == "orthogonal":
            # Orthonormal columns (fan_in >= fan_out) or rows: each entry has mean square
            # 1 / max(fan_in, fan_out); the gain scales it.
            return self.gain**2 / max(fan_in, fan_out)
        return self.rule(fan_in, fan_out, self.fan_mode)

    def sigma_w2(self, fan_in: int, fan_out: int) -> float:
        return self.variance(fan_in, fan_out) * fan_in

    def bias_std(self, fan_in: int) -> float:
        return 0.0 if self.bias_variance is None else math.sqrt(self.bias_variance(fan_in))

    def sample(
        self, fan_in: int, fan_out: int, *, rng: np.random.Generator, dtype=np.float32
    ) -> np.ndarray:
        """Draw ``W`` of shape ``(fan_in, fan_out)``."""
        var = self.variance(fan_in, fan_out)
        shape = (fan_in, fan_out)
        if self.distribution == "orthogonal":
            return _orthogonal(shape, rng).astype(dtype) * dtype(self.gain)
        if self.distribution == "uniform":
            w = rng.random(shape, dtype=dtype)  # [0, 1)
            bound = math.sqrt(3 * var)  # U(-b, b) has variance b^2 / 3
            w *= dtype(2 * bound)
            w -= dtype(bound)
            return w
        w = rng.standard_normal(shape, dtype=dtype)
        if self.distribution == "truncated":
            _redraw_tails(w, rng)
            w *= dtype(math.sqrt(var) / TRUNCATED_STD)
        else:
            w *= dtype(math.sqrt(var))
        return w


def _redraw_tails(w: np.ndarray, rng: np.random.Generator) -> None:
    """Replace every |w| > 2 by a fresh draw until none is left (rejection sampling)."""
    flat = w.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) > TRUNCATION)
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size, dtype=w.dtype)
        bad = bad[np.abs(flat[bad]) > TRUNCATION]


def _orthogonal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed matrix with orthonormal columns or rows (Saxe et al. 2013)."""
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # fix QR's sign convention so the draw is uniform
    return q if rows >= cols else q.T


def _fan(fan_in: int, fan_out: int, mode: str) -> int:
    return fan_in if mode == "fan_in" else fan_out


def _scaled(gain2: float) -> VarianceRule:
    """``gain2 / fan`` with fan chosen by the fan mode (LeCun: 1, He: 2)."""
    return lambda fan_in, fan_out, mode: gain2 / _fan(fan_in, fan_out, mode)


def _glorot(fan_in: int, fan_out: int, mode: str) -> float:
    return 2.0 / (fan_in + fan_out)


def _naive(fan_in: int, fan_out: int, mode: str) -> float:
    return 1.0


def _torch_weight(fan_in: int, fan_out: int, mode: str) -> float:
    # nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), ..),
    # whose variance is (1/sqrt(fan_in))^2 / 3.
    return 1.0 / (3 * fan_in)


BASES: dict[str, Initializer] = {
    i.name: i
    for i in (
        Initializer(
            name="lecun",
            formula="1",
            display="LeCun",
            recommend_rank=1,
            summary="1/fan_in (LeCun 1998); SELU's init",
            rule=_scaled(1.0),
            reference="LeCun et al. 1998; Klambauer et al. 2017",
        ),
        Initializer(
            name="xavier",
            formula="2 fan_in/(fan_in+fan_out) (1 when square)",
            display="Xavier",
            recommend_rank=2,
            summary="2/(fan_in+fan_out) (Glorot & Bengio 2010); alias glorot",
            rule=_glorot,
            reference="Glorot & Bengio 2010",
        ),
        Initializer(
            name="he",
            formula="2",
            display="He",
            recommend_rank=0,
            summary="2/fan_in (He et al. 2015); alias kaiming; --fan-mode fan_out",
            rule=_scaled(2.0),
            reference="He et al. 2015",
        ),
        Initializer(
            name="normal",
            formula="fan_in",
            display="N(0, 1)",
            recommend_rank=4,
            summary="plain N(0, 1) weights, the naive init (sigma_w^2 = fan_in)",
            rule=_naive,
        ),
        Initializer(
            name="orthogonal",
            formula="gain^2 (square)",
            display="orthogonal",
            recommend_rank=3,
            summary="random orthogonal times --gain (Saxe et al. 2013)",
            rule=_scaled(1.0),
            distribution="orthogonal",
            reference="Saxe et al. 2013",
        ),
        Initializer(
            name="lsuv",
            summary="orthogonal, then each layer rescaled on the batch to Var(h) = 1 "
            "(Mishkin & Matas 2015)",
            rule=_scaled(1.0),
            distribution="orthogonal",
            reference="Mishkin & Matas 2015",
            formula="1/E[phi^2] per layer, measured (Var(h) = 1)",
        ),
        Initializer(
            name="torch-default",
            formula="1/3, bias var 1/(3 fan_in)",
            display="PyTorch's default",
            recommend_rank=7,
            summary="PyTorch nn.Linear: weights and biases U(+-1/sqrt(fan_in))",
            rule=_torch_weight,
            distribution="uniform",
            bias_variance=lambda fan_in: 1.0 / (3 * fan_in),
        ),
        Initializer(
            name="keras-default",
            formula="2 fan_in/(fan_in+fan_out)",
            display="Keras' default",
            recommend_rank=5,
            summary="Keras Dense: glorot_uniform weights, zero biases",
            rule=_glorot,
            distribution="uniform",
        ),
        Initializer(
            name="flax-default",
            formula="1",
            display="Flax's default",
            recommend_rank=6,
            summary="Flax nn.Dense: lecun_normal (truncated) weights, zero biases",
            rule=_scaled(1.0),
            distribution="truncated",
        ),
    )
}

ALIASES = {"glorot": "xavier", "kaiming": "he", "torch": "torch-default"}
SUFFIXES = {
    "normal": "normal",
    "truncated": "truncated",
    "trunc": "truncated",
    "uniform": "uniform",
}
# Only the variance-scaling inits come in flavours; presets and orthogonal are fixed.
FLAVOURED = ("lecun", "xavier", "he")


def judged_by_recommend() -> tuple[Initializer, ...]:
    """The named inits ``recommend`` judges, in the order that breaks its ties."""
    judged = [i for i in BASES.values() if i.recommend_rank is not None]
    return tuple(sorted(judged, key=lambda i: i.recommend_rank))


def init_names() -> list[str]:
    """Every name the CLI lists, flavours included."""
    names = list(BASES)
    names += [f"{b}-{d}" for b in FLAVOURED for d in ("uniform", "truncated")]
    return sorted(names) + sorted(ALIASES)


def init_choices() -> str:
    """The names ``--init`` accepts, in one line (for error messages)."""
    return ", ".join([*sorted(BASES), *ALIASES]) + (
        "; lecun/xavier/he also as NAME-uniform or NAME-truncated; or a number for sigma_w^2"
    )


def get_initializer(
    spec: str | float | Initializer,
    *,
    gain: float = 1.0,
    fan_mode: str = "fan_in",
) -> Initializer:
    """Look up ``he``, ``kaiming-uniform``, ``xavier-truncated``, ``orthogonal`` or ``1.5``.

    A number is an explicit ``sigma_w^2``: normal weights of variance ``sigma_w^2/fan_in``.
    """
    if isinstance(spec, Initializer):
        return spec
    if fan_mode not in FAN_MODES:
        raise VarpropError(
            f"unknown fan mode {fan_mode!r}; choose one of {', '.join(FAN_MODES)}",
            param="--fan-mode",
        )
    if not (math.isfinite(gain) and gain > 0):
        raise VarpropError(f"gain must be a finite number > 0, got {gain!r}", param="--gain")
    text = str(spec).strip().lower()
    number = _as_number(text)
    if number is not None:
        if not (math.isfinite(number) and number >= 0):
            raise VarpropError(
                f"weight variance must be a finite number >= 0, got {spec!r}",
                param="--weight-var",
            )
        return weight_var(number)
    base, flavour = text, None
    for suffix, dist in SUFFIXES.items():
        if text.endswith("-" + suffix) or text.endswith("_" + suffix):
            base, flavour = text[: -len(suffix) - 1], dist
            break
    base = ALIASES.get(base, base)
    if base not in BASES or (flavour and base not in FLAVOURED):
        raise VarpropError(
            f"unknown initializer {spec!r}; choose one of {init_choices()}", param="--init"
        )
    init = BASES[base]
    if gain != 1.0 and init.distribution != "orthogonal":
        raise VarpropError(
            f"--gain {gain:g} applies to the orthogonal initializer only, not {spec!r}; "
            "scale another init with --weight-var",
            param="--gain",
        )
    changes: dict = {"gain": gain, "fan_mode": fan_mode}
    if flavour and flavour != init.distribution:
        changes |= {"distribution": flavour, "name": f"{base}-{flavour}"}
    return replace(init, **changes)


def weight_var(sigma_w2: float) -> Initializer:
    """Normal weights of variance ``sigma_w2 / fan_in``, for any value a user wants."""
    return Initializer(
        name=f"{sigma_w2:g}",
        summary=f"explicit sigma_w^2 = {sigma_w2:g} (weights N(0, {sigma_w2:g}/fan_in))",
        rule=lambda fan_in, fan_out, mode: sigma_w2 / fan_in,
    )


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
