"""Every examples/*.py runs at small sizes (VARPROP_EXAMPLE_SMALL=1) and exits 0.

Each example asserts its literature claim itself; this only runs it, in a fresh
interpreter that imports this checkout's varprop (PYTHONPATH = the repository root), and
checks that its docstring names a source and the command that runs it.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 8, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path.name} has no docstring"
    assert "Source:" in doc, f"{path.name}: the docstring names no source"
    assert f"python examples/{path.name}" in doc, f"{path.name}: no command in the docstring"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["VARPROP_EXAMPLE_SMALL"] = "1"
    env["VARPROP_FIGURES"] = str(tmp_path / "figures")
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"\S", done.stdout), f"{path.name} printed nothing"
