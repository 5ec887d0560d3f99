"""The json format: every result's ``to_dict()``, as DESIGN.md shapes it.

Strict JSON: a value that cannot be stated is ``null``; ``nan`` and ``inf`` are refused
rather than written.  Full precision; nothing is rounded.
"""

from __future__ import annotations

import json


def render(result, view) -> str:
    return to_json(result.to_dict())


def to_json(obj: dict) -> str:
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"
