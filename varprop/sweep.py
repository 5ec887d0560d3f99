"""Many runs at once: pairs (``varprop compare``), grids and several seeds.

Pure aggregation: no click, no rich.  Progress goes out through a callback.

A *pair* is ``INIT:ACT``, split at the first colon so that the activation keeps its
own parameter (``he:leaky-relu:0.2``); the initializer may be a number, ``sigma_w^2``
(``1.5:tanh``).

Several seeds.  Runs with seeds ``seed, seed+1, ..., seed+N-1`` are summarised per
layer and per summary figure by the mean and the min-max band of the **log10** values.
Variances and gradient ratios are multiplicative (a product of per-layer factors), so
the mean of their logs (the geometric mean) is the right average: one seed at 1e+3 and
one at 1e-3 average to 1, not to 500.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from varprop.activations import ACTIVATIONS, activation_names, get_activation
from varprop.errors import VarpropError, is_count
from varprop.initializers import get_initializer, init_choices
from varprop.network import WeightCache
from varprop.results import SimulationResult
from varprop.threads import engine_threads

BAND = "min-max"
AVERAGE = "mean of log10 values (geometric mean), over seeds"

Progress = Callable[[int], None]


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Pair:
    """An initializer spec and an activation spec, as the user wrote them, and the
    pair's own block options (None: the command's ``--block``/``--norm``/``--branch-scale``).
    """

    init: str
    act: str
    block: str | None = None
    norm: str | None = None
    branch_scale: float | str | None = None

    @property
    def label(self) -> str:
        items = [x for x in (self.block, self.norm, self.branch_scale) if x is not None]
        suffix = "@" + ",".join(f"{x:g}" if isinstance(x, float) else x for x in items)
        return f"{self.init}:{self.act}" + (suffix if items else "")

    def options(self) -> dict:
        """The block options this pair sets, as keyword arguments of ``simulate``."""
        names = ("block", "norm", "branch_scale")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}


PAIR_SYNTAX = (
    "write INIT:ACT or INIT:ACT@ITEM,ITEM,... with items a block (plain, residual), a norm "
    "(none, layer, rms, batch) or a branch scale (a number > 0, or auto), e.g. he:relu, "
    "he:relu@residual,layer,auto or he:relu@plain,batch"
)


def parse_blocks(text: str, suffix: str) -> dict:
    """The items after a pair's @: ``residual,layer,auto`` -> block, norm, branch_scale."""
    from varprop.blocks import BLOCKS, branch_alpha
    from varprop.norms import NORMS

    found: dict = {}
    for raw in suffix.split(","):
        item = raw.strip().lower()
        if item in BLOCKS:
            key, value = "block", item
        elif item in NORMS:
            key, value = "norm", item
        else:
            try:
                branch_alpha(item, 1)
            except VarpropError:
                raise VarpropError(
                    f"pair {text!r}: {raw.strip()!r} is not a block, a norm or a branch "
                    f"scale; {PAIR_SYNTAX}"
                ) from None
            key, value = "branch_scale", item if item == "auto" else float(item)
        if key in found:
            raise VarpropError(f"pair {text!r} gives two {key.replace('_', ' ')}s; {PAIR_SYNTAX}")
        found[key] = value
    return found


def parse_pair(text: str) -> Pair:
    """``he:relu`` -> Pair("he", "relu"); ``he:relu@residual,layer`` adds the blocks.

    Raises VarpropError naming the valid choices.
    """
    main, at, suffix = str(text).strip().partition("@")
    blocks = parse_blocks(text, suffix) if at else {}
    init, colon, act = main.partition(":")
    if not colon:
        raise VarpropError(
            f"pair {text!r} must be INIT:ACT, e.g. he:relu, xavier:tanh or 1.5:tanh; "
            f"initializers: {init_choices()}; activations: {_act_choices()}"
        )
    for kind, spec, check in (("initializer", init, _check_init), ("activation", act, _check_act)):
        if not spec.strip():
            raise VarpropError(
                f"pair {text!r} has no {kind}; write INIT:ACT, e.g. he:relu; "
                f"{kind}s: {init_choices() if kind == 'initializer' else _act_choices()}"
            )
        check(spec, f"pair {text!r}: ")
    return Pair(init.strip(), act.strip(), **blocks)


def parse_names(text: str, kind: str) -> tuple[str, ...]:
    """A comma-separated list of initializers (``kind="init"``) or activations."""
    check = _check_init if kind == "init" else _check_act
    names: list[str] = []
    for item in str(text).split(","):
        name = item.strip()
        if not name:
            what = "initializers" if kind == "init" else "activations"
            choices = init_choices() if kind == "init" else _act_choices()
            raise VarpropError(f"empty name in {text!r}; {what}: {choices}")
        check(name, "")
        if name not in names:
            names.append(name)
    return tuple(names)


def _check_init(spec: str, prefix: str) -> None:
    try:
        get_initializer(spec)
    except VarpropError as e:
        raise VarpropError(prefix + str(e)) from None


def _check_act(spec: str, prefix: str) -> None:
    try:
        get_activation(spec)
    except VarpropError as e:
        raise VarpropError(prefix + str(e)) from None


def _act_choices() -> str:
    return ", ".join(activation_names())


def grid_pairs(inits: Sequence[str], acts: Sequence[str]) -> list[Pair]:
    """Row-major: every activation for the first initializer, then the next."""
    return [Pair(i, a) for i in inits for a in acts]


def is_matched(init: str, act: str) -> str | None:
    """The reference when the literature prescribes this pair (any flavour of the init)."""
    base = get_initializer(init).name
    for flavour in ("-uniform", "-truncated", "-normal"):
        base = base.removesuffix(flavour)
    activation = get_activation(act)
    pair = activation.literature_init
    if pair is None or activation.label != activation.name or pair[0] != base:
        return None
    return pair[1]


def literature_pairs() -> list[tuple[tuple[str, str], str]]:
    """((base initializer, activation), reference) for every pair the literature names."""
    return [
        ((a.literature_init[0], a.name), a.literature_init[1])
        for a in ACTIVATIONS.values()
        if a.literature_init is not None
    ]


# ---------------------------------------------------------------- running


def run_pairs(
    pairs: Sequence[Pair],
    *,
    seed: int = 0,
    seeds: int = 1,
    progress: Progress | None = None,
    **options,
) -> list[list[SimulationResult]]:
    """Simulate every pair with seeds ``seed .. seed+seeds-1``; ``[pair][seed]`` results.

    ``options`` are :func:`varprop.simulate`'s (depth, width, batch, dtype, ...), shared
    by all runs.  Runs that draw the same weights (same initializer and seed) are done
    one after another and share one draw; the results are identical to separate
    ``simulate`` calls.  ``progress(n)`` counts layers done, 2 L per run (see
    :func:`total_work`).
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise VarpropError(f"seeds must be an integer >= 1, got {seeds!r}", param="--seeds")
    depth = _depth(options)
    _check_results(len(pairs) * seeds, seeds, options)
    cache = WeightCache()
    results: dict[tuple[int, int], SimulationResult] = {}
    with engine_threads():  # also while cached weights are drawn between runs
        _run_all(pairs, seed, seeds, progress, options, cache, results, depth)
    cache.clear()
    return [[results[i, k] for k in range(seeds)] for i in range(len(pairs))]


def _run_all(pairs, seed, seeds, progress, options, cache, results, depth) -> None:
    from varprop.api import simulate

    for i, k in _schedule(pairs, seeds):
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(n)

        results[i, k] = simulate(
            init=pairs[i].init,
            act=pairs[i].act,
            seed=seed + k,
            weight_cache=cache,
            progress=tick,
            **(options | pairs[i].options()),
        )
        if progress is not None and done < 2 * depth:
            progress(2 * depth - done)  # an overflowed run skips the rest


def _check_results(runs: int, seeds: int, options: dict) -> None:
    """Refuse, before the first run, results of every pair and seed that would not fit."""
    from varprop.api import DEFAULT_BATCH, MAX_SAMPLED_DEPTH
    from varprop.budget import check_simulate
    from varprop.network import hidden_widths

    width, widths = options.get("width", 512), options.get("widths")
    batch = options.get("batch")
    depth = _depth(options)
    sizes = (width, depth, 1 if batch is None else batch)
    if runs <= 1 or not all(map(is_count, sizes)) or depth > MAX_SAMPLED_DEPTH:
        return  # simulate checks one run, and names a bad value
    dtype = options.get("dtype", "float32")
    check_simulate(
        (1, *hidden_widths(widths, width, depth)),
        DEFAULT_BATCH if batch is None else batch,
        dtype if dtype in ("float32", "float64") else "float32",
        options.get("max_memory"),
        runs=runs,
        seeds=seeds,
        widths_given=widths is not None,
    )


def total_work(n_runs: int, options: dict) -> int:
    """Units ``progress`` will count for ``n_runs`` runs: two per layer (forward, back)."""
    return 2 * _depth(options) * n_runs


def _depth(options: dict) -> int:
    widths = options.get("widths")
    return len(widths) if widths else int(options.get("depth", 50))


def _schedule(pairs: Sequence[Pair], seeds: int) -> list[tuple[int, int]]:
    """(pair index, seed offset) in an order that keeps weight-sharing runs adjacent."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(_weight_group(p.init), []).append(i)
    return [(i, k) for members in groups.values() for k in range(seeds) for i in members]


def _weight_group(init: str) -> str:
    try:
        i = get_initializer(init)
    except VarpropError:
        return init  # simulate will report it
    return f"{i.distribution}:{i.name}"


# ---------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class Band:
    """Mean and min-max band of the values that could be stated (``n`` of them)."""

    mean: float | None
    min: float | None
    max: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Band:
        xs = [x for x in values if x is not None and math.isfinite(x)]
        if not xs:
            return cls(None, None, None, 0)
        return cls(math.fsum(xs) / len(xs), min(xs), max(xs), len(xs))

    def to_dict(self) -> dict:
        return {"mean": self.mean, "min": self.min, "max": self.max, "n": self.n}


@dataclass(frozen=True)
class LayerBand:
    """One layer over seeds: log10 figures as bands, theory (seed-free) as is."""

    layer: int
    log10_preact_var: Band
    log10_grad_rms: Band
    saturated_frac: Band
    log10_theory_preact_var: float | None
    log10_theory_grad_rms: float | None

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "log10_preact_var": self.log10_preact_var.to_dict(),
            "log10_grad_rms": self.log10_grad_rms.to_dict(),
            "saturated_frac": self.saturated_frac.to_dict(),
            "log10_theory_preact_var": self.log10_theory_preact_var,
            "log10_theory_grad_rms": self.log10_theory_grad_rms,
        }


@dataclass(frozen=True)
class Aggregate:
    """One pair over its seeds.

    ``forward``/``backward`` are the verdict most seeds gave (ties: the first seed's);
    ``*_votes`` count each verdict.  Ratios and per-layer factors are log10 bands:
    ``log10_preact_var_ratio`` is layer L over layer 1, ``log10_grad_rms_ratio`` layer 1
    over layer L, the factors the same divided by L - 1.  The ``theory_*`` ratios are
    the mean-field prediction of the same figures (None until theory fills the layers).
    """

    init: str
    act: str
    seeds: tuple[int, ...]
    forward: str
    backward: str
    forward_votes: dict[str, int]
    backward_votes: dict[str, int]
    log10_preact_var_ratio: Band
    log10_grad_rms_ratio: Band
    log10_forward_factor: Band
    log10_backward_factor: Band
    theory_log10_preact_var_ratio: float | None
    theory_log10_grad_rms_ratio: float | None
    overflowed: int  # seeds whose values left float range
    layers: tuple[LayerBand, ...]
    block: str = "plain"
    norm: str = "none"
    branch_scale: float = 1.0

    @property
    def stable(self) -> bool:
        return self.forward == "stable" and self.backward == "stable"

    def to_dict(self) -> dict:
        return {
            "init": self.init,
            "act": self.act,
            "block": self.block,
            "norm": self.norm,
            "branch_scale": self.branch_scale,
            "seeds": list(self.seeds),
            "forward": self.forward,
            "backward": self.backward,
            "forward_votes": dict(self.forward_votes),
            "backward_votes": dict(self.backward_votes),
            "log10_preact_var_ratio": self.log10_preact_var_ratio.to_dict(),
            "log10_grad_rms_ratio": self.log10_grad_rms_ratio.to_dict(),
            "log10_forward_factor": self.log10_forward_factor.to_dict(),
            "log10_backward_factor": self.log10_backward_factor.to_dict(),
            "theory_log10_preact_var_ratio": self.theory_log10_preact_var_ratio,
            "theory_log10_grad_rms_ratio": self.theory_log10_grad_rms_ratio,
            "overflowed": self.overflowed,
            "layers": [layer.to_dict() for layer in self.layers],
        }


def aggregate(runs: Sequence[SimulationResult]) -> Aggregate:
    """Summarise the runs of one pair (one per seed; at least one)."""
    if not runs:
        raise VarpropError("aggregate needs at least one run")
    first = runs[0]
    L = len(first.layers)
    summaries = [r.summary for r in runs]
    fwd = [s.log10_preact_var_ratio for s in summaries]
    bwd = [s.log10_grad_rms_ratio for s in summaries]
    per_layer = (L - 1) if L > 1 else None
    layers = tuple(
        LayerBand(
            layer=j + 1,
            log10_preact_var=Band.of([r.layers[j].log10_preact_var for r in runs]),
            log10_grad_rms=Band.of([r.layers[j].log10_grad_rms for r in runs]),
            saturated_frac=Band.of([r.layers[j].saturated_frac for r in runs]),
            log10_theory_preact_var=first.layers[j].log10_theory_preact_var,
            log10_theory_grad_rms=first.layers[j].log10_theory_grad_rms,
        )
        for j in range(L)
    )
    theory_fwd, theory_bwd = theory_log10_ratios(first)
    return Aggregate(
        init=first.config.init,
        act=first.config.act,
        seeds=tuple(r.config.seed for r in runs),
        forward=_vote([s.forward for s in summaries]),
        backward=_vote([s.backward for s in summaries]),
        forward_votes=dict(Counter(s.forward for s in summaries)),
        backward_votes=dict(Counter(s.backward for s in summaries)),
        log10_preact_var_ratio=Band.of(fwd),
        log10_grad_rms_ratio=Band.of(bwd),
        log10_forward_factor=Band.of(_per_layer(fwd, per_layer)),
        log10_backward_factor=Band.of(_per_layer(bwd, per_layer)),
        theory_log10_preact_var_ratio=theory_fwd,
        theory_log10_grad_rms_ratio=theory_bwd,
        overflowed=sum(s.overflow_layer is not None for s in summaries),
        layers=layers,
        block=first.config.block,
        norm=first.config.norm,
        branch_scale=first.config.branch_scale,
    )


def theory_log10_ratios(result: SimulationResult) -> tuple[float | None, float | None]:
    """Mean-field log10 of Var(h) layer L / layer 1 and grad RMS layer 1 / layer L."""
    first, last = result.layers[0], result.layers[-1]
    return (
        _difference(last.log10_theory_preact_var, first.log10_theory_preact_var),
        _difference(first.log10_theory_grad_rms, last.log10_theory_grad_rms),
    )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _per_layer(values: Sequence[float | None], steps: int | None) -> list[float | None]:
    return [None if v is None or not steps else v / steps for v in values]


def _vote(verdicts: Sequence[str]) -> str:
    # most_common keeps first-seen order among equal counts: ties go to the first seed.
    return Counter(verdicts).most_common(1)[0][0]


def aggregate_dict(groups: Sequence[Sequence[SimulationResult]]) -> dict:
    """The ``"aggregate"`` object of the JSON output: one entry per pair."""
    seeds = [r.config.seed for r in groups[0]] if groups else []
    return {
        "seeds": seeds,
        "average": AVERAGE,
        "band": BAND,
        "pairs": [aggregate(runs).to_dict() for runs in groups],
    }


@dataclass(frozen=True)
class Runs:
    """Several runs of one command, what its every format renders.

    ``kind``: ``"compare"`` (pairs side by side), ``"grid"`` (every init of ``inits``
    against every act of ``acts``, row-major), ``"seeds"`` (``simulate --seeds``: one
    pair) or ``"simulate"`` (one run, as the csv format keys it).  ``groups[i]`` holds
    pair ``i``'s runs, one per seed; ``labels[i]`` its name.
    """

    kind: str
    groups: tuple[tuple[SimulationResult, ...], ...]
    labels: tuple[str, ...]
    inits: tuple[str, ...] = ()
    acts: tuple[str, ...] = ()

    @property
    def seeds(self) -> int:
        return len(self.groups[0])

    @property
    def aggregates(self) -> list[Aggregate]:
        return [aggregate(runs) for runs in self.groups]

    def runs(self) -> list[SimulationResult]:
        """Every run, pair by pair, seed by seed."""
        return [r for runs in self.groups for r in runs]

    def to_dict(self) -> dict:
        """``{"varprop_version", "runs": [...]}`` (DESIGN.md), plus ``"aggregate"`` over
        seeds (per pair, the mean and min-max band of the log10 figures) when there are
        several."""
        from varprop import __version__

        obj: dict = {
            "varprop_version": __version__,
            "runs": [r.to_dict() for r in self.runs()],
        }
        if self.seeds > 1:
            obj["aggregate"] = aggregate_dict(self.groups)
        return obj
