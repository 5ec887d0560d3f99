"""What ``varprop list`` shows: the registered initializers and activations, as records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Listing:
    """Initializers and activations as plain records (the JSON of ``varprop list``)."""

    inits: tuple[dict, ...]
    acts: tuple[dict, ...]

    def to_dict(self) -> dict:
        from varprop import __version__

        return {
            "varprop_version": __version__,
            "initializers": list(self.inits),
            "activations": list(self.acts),
        }


def listing() -> Listing:
    from varprop.activations import ACTIVATIONS
    from varprop.activations import ALIASES as ACT_ALIASES
    from varprop.initializers import ALIASES as INIT_ALIASES
    from varprop.initializers import BASES, FLAVOURED

    inits = tuple(
        {
            "name": i.name,
            "aliases": [a for a, t in INIT_ALIASES.items() if t == i.name],
            "sigma_w2": i.formula,
            "distribution": i.distribution,
            "flavours": [f"{i.name}-uniform", f"{i.name}-truncated"] if i.name in FLAVOURED else [],
            "summary": i.summary,
        }
        for i in BASES.values()
    )
    acts = tuple(
        {
            "name": a.name,
            "aliases": [k for k, t in ACT_ALIASES.items() if t == a.name],
            "summary": a.summary,
        }
        for a in ACTIVATIONS.values()
    )
    return Listing(inits, acts)
