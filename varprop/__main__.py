"""``python -m varprop`` is the ``varprop`` command.

Ctrl-C is handled from here on, before the imports: without this a Ctrl-C in the first
tens of milliseconds (importing click) would end in a KeyboardInterrupt traceback.
"""

import signal
import sys


def _early_sigint(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


signal.signal(signal.SIGINT, _early_sigint)
try:
    from varprop.cli import main
except KeyboardInterrupt:
    sys.stderr.write("Interrupted.\n")
    sys.exit(130)

main()
