"""Threads: weight drawing and BLAS share the cores instead of fighting over them.

The engine draws each layer's weights in a pool of threads while the main thread
multiplies, and OpenBLAS starts its own threads (one per core, spinning while they
wait) for every product and every QR of the orthogonal initializer.  Both at once
oversubscribe the cores: on 2 cores ``simulate --init orthogonal --act tanh`` took
2.7 s instead of 0.9 s, and 150 s instead of 1.5 s beside other work.  So while a run
is in the engine, BLAS gets one thread per caller and the pool draws with the cores
(``benchmarks/bench_load.py`` measures the choices).

``configure(blas=..., draw=...)`` overrides the choice (benchmarks, experiments).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

# None: the policy below; an int: that many threads.
_settings: dict[str, int | None] = {"blas": None, "draw": None}


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def configure(*, blas: int | None = None, draw: int | None = None) -> None:
    """Fix the BLAS threads per call and the weight-drawing threads (None: the default).

    ``blas=0`` leaves BLAS alone (its own default, a thread per core); ``draw=0`` draws
    each layer's weights on the calling thread when it is needed.
    """
    _settings["blas"], _settings["draw"] = blas, draw


def draw_workers() -> int:
    """Threads that draw weights ahead of the forward pass."""
    chosen = _settings["draw"]
    return chosen if chosen is not None else min(cores(), 2)


def blas_workers() -> int:
    """BLAS threads per call while a run is in the engine.

    One: the drawing threads already keep the cores busy, and each of them may call
    LAPACK (QR) at the same time as the main thread multiplies, so BLAS threads would
    only compete (and OpenBLAS's spin while waiting, which costs most on a busy machine).
    """
    chosen = _settings["blas"]
    return chosen if chosen is not None else 1


@functools.cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # not installed: leave BLAS as it is
        return None
    return ThreadpoolController()


@contextmanager
def engine_threads() -> Iterator[None]:
    """BLAS limited to :func:`blas_workers` threads for the block (process-wide)."""
    controller = _controller()
    if controller is None or _settings["blas"] == 0:
        yield
        return
    with controller.limit(limits=blas_workers(), user_api="blas"):
        yield
