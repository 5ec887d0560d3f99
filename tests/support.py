"""Helpers the test modules share (importable: pytest puts tests/ on sys.path)."""

import json

from click.testing import CliRunner

from varprop.cli import cli


def _refuse(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity instead of reading them."""
    return json.loads(text, parse_constant=_refuse)


def invoke(*args: str):
    """Run the CLI in-process; no run may ever end in a traceback."""
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result
