"""varprop: why initialization must match the activation.

Simulate (and predict, from mean-field theory) how signal variance and gradient
magnitude travel through deep fully-connected networks::

    import varprop
    result = varprop.simulate(init="he", act="relu", depth=50)
    result.summary.forward          # "stable"

Attributes are imported lazily so that ``varprop --help`` starts without numpy.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "simulate": "varprop.api",
    "theory": "varprop.meanfield.blocks",
    "recommend": "varprop.meanfield",
    "phase_diagram": "varprop.meanfield.phase",
    "VarpropError": "varprop.errors",
    "ACTIVATIONS": "varprop.activations",
    "INITIALIZERS": "varprop.initializers",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "BASES" if name == "INITIALIZERS" else name)
    raise AttributeError(f"module 'varprop' has no attribute {name!r}")
