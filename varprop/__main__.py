"""``python -m varprop`` is the ``varprop`` command."""

from varprop.cli import main

main()
