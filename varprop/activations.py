"""Activation functions, each kept beside its derivative, in one registry.

Every part of varprop (the engine, the theory, the CLI's choices, its help text, its
error messages and the tests) reads :data:`ACTIVATIONS`; adding an activation here is
the whole job.

Functions take an array ``x`` and an optional ``out`` array (which may be ``x`` itself),
so the engine can work in place instead of allocating a new array per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from varprop.errors import VarpropError

Array = np.ndarray
ArrayFn = Callable[..., Array]

# Klambauer et al. (2017), "Self-Normalizing Neural Networks", eq. (14): the constants
# that make (mean 0, variance 1) a fixed point of SELU under LeCun init.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# Where a bounded activation counts as saturated ("in its flat part").  Chosen so that
# phi' has fallen to about 6% of its peak for tanh and 12% for sigmoid.
TANH_FLAT = 0.97
SIGMOID_FLAT = 0.03

# |h| beyond LINEAR_BEYOND (or below LINEAR_BELOW) every registered phi is a straight line
# to float64 precision: past 2**10 the exponentials in sigmoid, softplus, elu, gelu, silu,
# mish are below 1e-300 of the line; below 2**-60 phi's curvature is below 1e-18 of
# phi'(0) h (tests/test_extremes.py checks both for every activation).
LINEAR_BEYOND = 2.0**10
LINEAR_BELOW = 2.0**-60


@dataclass(frozen=True, kw_only=True)
class Activation:
    """One activation function phi and what varprop needs to know about it.

    ``fn(x, out=None)`` is phi, ``derivative(x, out=None)`` is phi' of the pre-activation.
    ``derivative_from_output(a, out=None)``, when given, is phi' written in terms of
    ``a = phi(h)``: the engine then stores only ``a`` for the backward pass.
    """

    name: str
    fn: ArrayFn
    derivative: ArrayFn
    summary: str
    derivative_from_output: ArrayFn | None = None
    # phi(c h) = c phi(h) for c > 0: the forward pass may rescale exactly (relu, linear).
    homogeneous: bool = False
    # Points where phi' jumps; quadrature must split its integral there.
    kinks: tuple[float, ...] = ()
    # "dead": ReLU-like, a unit is saturated when h <= 0 on the whole batch.
    # "flat": bounded, an element is saturated where ``flat(a)`` is true.
    saturation: str = "none"
    flat: Callable[[Array], Array] | None = None
    # phi'(0), or None where phi is not differentiable at 0 (Kumar 2017's rule needs it).
    derivative_at_zero: float | None = None
    # torch.nn.init.calculate_gain for this activation, None where PyTorch has none;
    # ``gain_empirical`` marks the values PyTorch's docs call empirical (tanh, selu).
    torch_gain: float | None = None
    gain_empirical: bool = False
    # Which of Kumar (2017)'s results applies: "derivative" (1 / phi'(0)^2, for phi
    # differentiable at 0), "relu" (his separate 2/N) or "sigmoid" (his separate result).
    kumar_rule: str = "derivative"
    # (base initializer, reference) when the literature prescribes an init for phi.
    literature_init: tuple[str, str] | None = None
    # E[phi(z)^2] and E[phi'(z)^2] for z ~ N(0, q) in closed form; None -> quadrature.
    second_moment: Callable[[float], float] | None = None
    derivative_second_moment: Callable[[float], float] | None = None
    # The parameter of a parametrised family (leaky-relu's slope, elu's alpha).
    param: float | None = None
    param_name: str | None = None
    make: Callable[[float], Activation] | None = None

    @property
    def label(self) -> str:
        """Name with its parameter when it differs from the default: ``leaky-relu:0.2``."""
        default = ACTIVATIONS.get(self.name)
        if self.param is not None and default is not None and default.param != self.param:
            return f"{self.name}:{self.param:g}"
        return self.name

    @property
    def asymptotes(self) -> Asymptotes:
        """phi's straight lines far out and near 0 (computed once per activation)."""
        return _asymptotes(self)


class Asymptotes(NamedTuple):
    """phi's straight lines, read off the registry's own phi and phi'.

    For ``|h| > LINEAR_BEYOND`` phi is ``slope h + offset`` on each side (``phi' =
    slope``; slope 0 for bounded phi), and for ``0 < |h| < LINEAR_BELOW`` it is ``phi0 +
    phi'(0+-) h``.  The engine uses them beyond float64 and the theory for its q -> 0 and
    q -> inf limits.
    """

    slope_neg: float
    offset_neg: float
    slope_pos: float
    offset_pos: float
    phi0: float
    slope0_neg: float  # phi'(0-)
    slope0_pos: float  # phi'(0+)


@lru_cache(maxsize=64)
def _asymptotes(act: Activation) -> Asymptotes:
    far, near = LINEAR_BEYOND, LINEAR_BELOW
    x = np.array([-far, far, -near, near])
    with np.errstate(all="ignore"):
        f, d = act.fn(x), act.derivative(x)
        f0 = float(act.fn(np.zeros(1))[0])
    a_neg, a_pos = float(d[0]), float(d[1])
    return Asymptotes(
        slope_neg=a_neg,
        offset_neg=float(f[0]) + a_neg * far,
        slope_pos=a_pos,
        offset_pos=float(f[1]) - a_pos * far,
        phi0=f0,
        slope0_neg=float(d[2]),
        slope0_pos=float(d[3]),
    )


def _into(value: Array, like: Array, out: Array | None) -> Array:
    """Return ``value`` in ``like``'s dtype, written into ``out`` when one is given."""
    if out is None:
        return np.asarray(value, dtype=like.dtype)
    np.copyto(out, value)
    return out


def _sigmoid(x: Array, out: Array | None = None) -> Array:
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither overflows, and small
    # values keep full relative precision (0.5 * (1 + tanh(x/2)) would round them to 0).
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return _into(np.where(x >= 0, r, e * r), x, out)


def _relu(x, out=None):
    return np.maximum(x, x.dtype.type(0), out=out)  # a typed zero: 25% faster than int 0


def _step(x, out=None):
    if out is None:
        return _into(x > 0, x, out)
    return np.greater(x, 0, out=out)  # bool -> float written straight into out


def _identity(x, out=None):
    if out is None:
        return x.copy()
    if out is not x:
        np.copyto(out, x)
    return out


def _ones(x, out=None):
    if out is None:
        return np.ones_like(x)
    out[...] = 1
    return out


def _tanh(x, out=None):
    return np.tanh(x, out=out)


def _tanh_derivative_from_output(a, out=None):
    out = np.square(a, out=out)
    np.subtract(1, out, out=out)
    return out


def _tanh_derivative(x, out=None):
    t = np.tanh(x, out=out)
    return _tanh_derivative_from_output(t, out=t)


def _sigmoid_derivative_from_output(a, out=None):
    return np.multiply(a, 1 - a, out=out)


def _sigmoid_derivative(x, out=None):
    s = _sigmoid(x)
    return _sigmoid_derivative_from_output(s, out=s if out is None else out)


def _softplus(x, out=None):
    return np.logaddexp(0, x, out=out)


def _softplus_derivative_from_output(a, out=None):
    # softplus' = sigmoid(h) = 1 - exp(-softplus(h)).
    out = np.negative(a, out=out)
    np.expm1(out, out=out)
    np.negative(out, out=out)
    return out


def _hardtanh(x, out=None):
    return np.clip(x, -1, 1, out=out)


def _inside_unit(x, out=None):
    return _into(np.abs(x) < 1, x, out)


# Numerical Recipes' erfcc (Press et al. 1992, section 6.2): erfc(z) = t exp(-z^2 + P(t)),
# t = 1 / (1 + z/2), with fractional error below 1.2e-7 for every z >= 0 - float32's
# own precision, tails included.  Coefficients of P, constant term first.
_ERFCC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
          0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)  # fmt: skip


def _ndtr(x: Array) -> Array:
    """Phi(x), the standard normal CDF, to the precision of x's dtype.

    float32 arrays use erfcc, evaluated in float64 so that exp(-z^2) keeps its relative
    precision, then rounded to float32 (3x faster than scipy.special.ndtr);
    anything else uses scipy.
    """
    if x.dtype != np.float32:
        from scipy.special import ndtr  # imported only when needed: it costs 0.2 s

        return ndtr(x)
    z = np.abs(x, dtype=np.float64) * (1 / math.sqrt(2))
    t = 1 / (1 + 0.5 * z)
    poly = np.full_like(t, _ERFCC[-1])
    for c in reversed(_ERFCC[:-1]):
        poly *= t
        poly += c
    poly -= z * z
    np.exp(poly, out=poly)
    poly *= 0.5 * t  # Phi(-|x|) = erfc(|x| / sqrt 2) / 2
    return np.where(x < 0, poly, 1 - poly).astype(np.float32)


def _gelu(x, out=None):
    return np.multiply(x, _ndtr(x), out=out)


def _gelu_derivative(x, out=None):
    pdf = np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)
    return np.add(_ndtr(x), x * pdf, out=out)


def _silu(x, out=None):
    return np.multiply(x, _sigmoid(x), out=out)


def _silu_derivative(x, out=None):
    s = _sigmoid(x)
    return np.multiply(s, 1 + x * (1 - s), out=out)


def _mish(x, out=None):
    return np.multiply(x, np.tanh(np.logaddexp(0, x)), out=out)


def _mish_derivative(x, out=None):
    t = np.tanh(np.logaddexp(0, x))
    return np.add(t, x * (1 - t * t) * _sigmoid(x), out=out)


def leaky_relu(slope: float = 0.01) -> Activation:
    """Leaky ReLU, ``max(x, slope * x)``."""

    def fn(x, out=None):
        pick = np.maximum if slope <= 1 else np.minimum
        return pick(x, slope * x, out=out)

    def derivative(x, out=None):
        return _into(np.where(x > 0, 1.0, slope), x, out)

    ms = (1 + slope * slope) / 2
    return Activation(
        name="leaky-relu",
        fn=fn,
        derivative=derivative,
        derivative_from_output=derivative,  # sign(a) = sign(h) for slope > 0
        summary=f"max(x, {slope:g} x); slope settable as leaky-relu:SLOPE",
        homogeneous=True,
        kinks=(0.0,),
        saturation="dead",
        torch_gain=math.sqrt(2 / (1 + slope * slope)),
        second_moment=lambda q: ms * q,
        derivative_second_moment=lambda q: ms,
        param=slope,
        param_name="slope",
        make=leaky_relu,
    )


def elu(alpha: float = 1.0) -> Activation:
    """ELU (Clevert et al. 2015): x for x > 0, alpha (e^x - 1) below."""
    return _elu_family("elu", alpha, 1.0, f"x if x > 0 else {alpha:g} (e^x - 1); elu:ALPHA", elu)


# Closed forms of E[phi(x)^2] and E[phi'(x)^2] for x ~ N(0, q), s = sqrt(q).  Below 0 an
# ELU is scale * alpha * (e^x - 1), and E[e^{k x}; x < 0] = e^{k^2 q / 2} Phi(-k s)
# = erfcx(k s / sqrt(2)) / 2: written with erfcx, no factor e^{k^2 q / 2} overflows.
def _elu_negative_square(q: float) -> float:
    """E[(e^x - 1)^2; x < 0] for x ~ N(0, q)."""
    s = math.sqrt(q)
    if s < 0.1:
        # The erfcx form cancels from O(1) terms down to O(q) here; sum the Taylor series
        # (e^x - 1)^2 = sum_{n>=2} (2^n - 2) x^n / n!, with E[x^n; x < 0] = (-s)^n m_n and
        # m_n = E[z^n; z > 0] = 2^(n/2 - 1) Gamma((n + 1) / 2) / sqrt(pi).
        return math.fsum(
            (2**n - 2) / math.factorial(n) * (-s) ** n * 2 ** (n / 2 - 1) * math.gamma((n + 1) / 2)
            for n in range(2, 18)
        ) / math.sqrt(math.pi)
    from scipy.special import erfcx  # only the ELU family needs it; keep scipy off relu

    return float(erfcx(math.sqrt(2) * s) / 2 - erfcx(s / math.sqrt(2)) + 0.5)


def _elu_derivative_square(q: float, alpha: float) -> float:
    """E[phi'(x)^2] / scale^2 = 1/2 + alpha^2 E[e^{2x}; x < 0]."""
    from scipy.special import erfcx

    return 0.5 + alpha * alpha * float(erfcx(math.sqrt(2 * q))) / 2


def _hardtanh_second_moment(q: float) -> float:
    """E[clip(x, -1, 1)^2] = q E[z^2; |z| < a] + P(|z| > a), a = 1 / sqrt(q)."""
    if q <= 0:
        return 0.0
    a = 1 / math.sqrt(q)
    if a < 0.5:
        # E[z^2; |z| < a] = 2 pdf(0) int_0^a z^2 e^{-z^2/2} dz, summed as a series: the
        # closed form below cancels from O(a) to O(a^3) and q = 1/a^2 magnifies the loss.
        series = math.fsum(
            (-0.5) ** n / math.factorial(n) * a ** (2 * n + 1) / (2 * n + 3) for n in range(20)
        )
        return 2 * series / math.sqrt(2 * math.pi) + math.erfc(a / math.sqrt(2))
    pdf = math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    inside = math.erf(a / math.sqrt(2)) - 2 * a * pdf  # E[z^2; |z| < a] = 2 Phi(a) - 1 - 2 a pdf(a)
    return q * inside + math.erfc(a / math.sqrt(2))


def _hardtanh_derivative_square(q: float) -> float:
    """E[1{|x| < 1}] = P(|z| < 1 / sqrt(q))."""
    return 1.0 if q <= 0 else math.erf(1 / math.sqrt(2 * q))


def _elu_family(name, alpha, scale, summary, make, **facts) -> Activation:
    def fn(x, out=None):
        neg = scale * alpha * np.expm1(np.minimum(x, 0))
        return _into(np.where(x > 0, scale * x, neg), x, out)

    def derivative(x, out=None):
        return _into(np.where(x > 0, scale, scale * alpha * np.exp(np.minimum(x, 0))), x, out)

    def derivative_from_output(a, out=None):
        # Below 0, phi = s alpha (e^h - 1), so phi' = s alpha e^h = a + s alpha.
        return _into(np.where(a > 0, scale, a + scale * alpha), a, out)

    return Activation(
        name=name,
        fn=fn,
        derivative=derivative,
        derivative_from_output=derivative_from_output,
        summary=summary,
        kinks=(0.0,),  # phi'' jumps at 0 even where phi' is continuous (alpha = 1)
        saturation="dead",
        derivative_at_zero=scale if alpha == 1.0 else None,
        param=alpha if make is not None else None,
        param_name="alpha" if make is not None else None,
        make=make,
        second_moment=lambda q: scale * scale * (q / 2 + alpha * alpha * _elu_negative_square(q)),
        derivative_second_moment=lambda q: scale * scale * _elu_derivative_square(q, alpha),
        **facts,
    )


RELU = Activation(
    name="relu",
    fn=_relu,
    derivative=_step,
    derivative_from_output=_step,
    summary="max(0, x); He et al. 2015 pair it with sigma_w^2 = 2",
    homogeneous=True,
    kinks=(0.0,),
    saturation="dead",
    torch_gain=math.sqrt(2),
    kumar_rule="relu",
    literature_init=("he", "He et al. 2015"),
    # Half of a symmetric Gaussian's mass: E[relu(z)^2] = q/2, E[relu'(z)^2] = 1/2.
    second_moment=lambda q: q / 2,
    derivative_second_moment=lambda q: 0.5,
)

LINEAR = Activation(
    name="linear",
    fn=_identity,
    derivative=_ones,
    derivative_from_output=_ones,
    summary="identity: a deep linear network",
    homogeneous=True,
    derivative_at_zero=1.0,
    torch_gain=1.0,
    second_moment=lambda q: q,
    derivative_second_moment=lambda q: 1.0,
)

TANH = Activation(
    name="tanh",
    fn=_tanh,
    derivative=_tanh_derivative,
    derivative_from_output=_tanh_derivative_from_output,
    summary="hyperbolic tangent; Glorot & Bengio 2010 pair it with Xavier",
    saturation="flat",
    flat=lambda a: np.abs(a) > TANH_FLAT,
    derivative_at_zero=1.0,
    torch_gain=5 / 3,
    gain_empirical=True,
    literature_init=("xavier", "Glorot & Bengio 2010"),
)

SIGMOID = Activation(
    name="sigmoid",
    fn=_sigmoid,
    derivative=_sigmoid_derivative,
    derivative_from_output=_sigmoid_derivative_from_output,
    summary="logistic 1 / (1 + e^-x); not zero-centred",
    saturation="flat",
    flat=lambda a: (a < SIGMOID_FLAT) | (a > 1 - SIGMOID_FLAT),
    derivative_at_zero=0.25,
    torch_gain=1.0,
    kumar_rule="sigmoid",
)

HARDTANH = Activation(
    name="hardtanh",
    fn=_hardtanh,
    derivative=_inside_unit,
    derivative_from_output=_inside_unit,
    summary="clip(x, -1, 1)",
    kinks=(-1.0, 1.0),
    saturation="flat",
    flat=lambda a: np.abs(a) >= 1,
    derivative_at_zero=1.0,
    second_moment=_hardtanh_second_moment,
    derivative_second_moment=_hardtanh_derivative_square,
)

SOFTPLUS = Activation(
    name="softplus",
    fn=_softplus,
    derivative=_sigmoid,
    derivative_from_output=_softplus_derivative_from_output,
    summary="log(1 + e^x), a smooth ReLU",
    saturation="dead",
    derivative_at_zero=0.5,
)

SELU = _elu_family(
    "selu",
    SELU_ALPHA,
    SELU_SCALE,
    "scaled ELU of Klambauer et al. 2017; self-normalizing under LeCun init",
    None,
    torch_gain=0.75,
    gain_empirical=True,
    literature_init=("lecun", "Klambauer et al. 2017"),
)

GELU = Activation(
    name="gelu",
    fn=_gelu,
    derivative=_gelu_derivative,
    summary="x Phi(x), exact erf form (Hendrycks & Gimpel 2016)",
    saturation="dead",
    derivative_at_zero=0.5,
)

SILU = Activation(
    name="silu",
    fn=_silu,
    derivative=_silu_derivative,
    summary="x sigmoid(x), alias swish (Ramachandran et al. 2017)",
    saturation="dead",
    derivative_at_zero=0.5,
)

MISH = Activation(
    name="mish",
    fn=_mish,
    derivative=_mish_derivative,
    summary="x tanh(softplus(x)) (Misra 2019)",
    saturation="dead",
    derivative_at_zero=math.tanh(math.log(2)),
)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        RELU,
        leaky_relu(),
        elu(),
        SELU,
        GELU,
        SILU,
        SOFTPLUS,
        TANH,
        SIGMOID,
        LINEAR,
        HARDTANH,
        MISH,
    )
}

ALIASES: dict[str, str] = {"swish": "silu", "leaky_relu": "leaky-relu", "identity": "linear"}


def activation_names() -> list[str]:
    """Every name the CLI accepts, registry names first."""
    return sorted(ACTIVATIONS) + sorted(ALIASES)


def get_activation(spec: str | Activation) -> Activation:
    """Look up ``relu``, ``swish``, ``leaky_relu`` or ``leaky-relu:0.2``.

    A parametrised family takes its parameter after a colon.
    """
    if isinstance(spec, Activation):
        return spec
    name, _, arg = str(spec).strip().lower().partition(":")
    name = ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise VarpropError(
            f"unknown activation {spec!r}; choose one of {', '.join(activation_names())}",
            param="--act",
        )
    act = ACTIVATIONS[name]
    if not arg:
        return act
    if act.make is None:
        raise VarpropError(
            f"activation {name!r} takes no parameter (got {spec!r}); "
            "only leaky-relu:SLOPE and elu:ALPHA do",
            param="--act",
        )
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= MAX_PARAM):
        raise VarpropError(
            f"{act.param_name} of {name} must be a number from 0 to {MAX_PARAM:g}, got {arg!r}",
            param="--act",
        )
    return act.make(value)


# The theory squares an activation's slopes and asymptotes (and multiplies them by
# sigma_w^2 <= 1e30): beyond this a parameter's square leaves float64.
MAX_PARAM = 1e100
