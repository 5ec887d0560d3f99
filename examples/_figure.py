"""Shared by the examples: save a figure of a result when the plot extra is installed.

``save_figure(result, name)`` writes ``$VARPROP_FIGURES/NAME.png`` (default ``figures/``)
through ``varprop.render.plot.save``; without that module or matplotlib it does nothing.
"""

import os


def save_figure(result, name):
    try:
        from varprop.render import plot
    except ImportError:  # no plot module yet, or no matplotlib
        return None
    directory = os.environ.get("VARPROP_FIGURES", "figures")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".png")
    plot.save(result, path)
    return path
