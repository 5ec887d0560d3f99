"""Rerun every ``$ varprop ...`` example of README.md and paste what it prints.

    python docs/readme_rerun.py          # rewrite README.md in place
    python docs/readme_rerun.py --check  # exit 1 if any example's output changed

Each command runs on a pseudo-terminal (script(1)) at 80 columns with NO_COLOR=1, as
a reader's terminal shows it; progress bars and colour codes are stripped.  A block
whose command line holds "...", goes on to the next line or writes a file (-o,
--plot) is left as it is.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"```\n(\$ varprop [^\n]*)\n(.*?)```", re.S)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run(command: str) -> str:
    args = shlex.split(command[2:])
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "varprop", *args[1:]])
    env = {**os.environ, "COLUMNS": "80", "LINES": "200", "NO_COLOR": "1", "TERM": "xterm"}
    out = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                         env=env, cwd=README.parent, timeout=600).stdout  # fmt: skip
    lines = [ANSI.sub("", line) for line in out.replace("\r\n", "\n").split("\n")]
    lines = [line.rstrip() for line in lines if "━" not in line]  # the progress bar
    return "\n".join(lines).strip("\n") + "\n"


def main() -> int:
    text = README.read_text()
    changed = []

    def replace(m: re.Match) -> str:
        command, old = m.group(1), m.group(2)
        if (
            "..." in command
            or command.endswith("\\")
            or re.search(r"\s(-o|--output|--plot)\s", command)
        ):
            return m.group(0)
        new = run(command)
        if new != old:
            changed.append(command)
        return f"```\n{command}\n{new}```"

    text = BLOCK.sub(replace, text)
    if "--check" in sys.argv:
        print("\n".join(changed) or "every example is current")
        return 1 if changed else 0
    README.write_text(text)
    print(f"{len(changed)} examples updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
