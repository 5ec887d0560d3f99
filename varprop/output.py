"""Where results go: stdout or an ``--output`` file, without harming either.

- The target is checked before any work (:func:`check_target`): its directory exists
  and can be written, and it is not a directory, not a device or other special file, not
  the input file, and its name fits the file system.
- Files are written whole or not at all (:func:`write_atomic`: a temporary file, then a
  rename), keeping the mode of a file they replace.
- A terminal that cannot encode Unicode gets an ASCII rendering (:func:`asciify`);
  stdout that is closed, full or gone ends in :class:`OutputError` (one line, exit 2),
  and is pointed at /dev/null so that the interpreter's last flush stays silent.

No numerics; click only for the error class, so the CLI reports these like usage errors.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import sys
import tempfile
import unicodedata

import click

STDOUT = "-"
# Every non-ASCII character varprop itself writes, so that a test of the encoding
# predicts whether the whole output can be encoded.
GLYPHS = "±δ–×✓…‖σ²★█▇▆▅▄▃▂▁∞·─│┌┐└┘├┤┬┴┼━"
ASCII = {
    "δ": "d", "‖": "|", "σ": "s", "²": "^2", "×": "x", "±": "~", "–": "-", "—": "-",
    "✓": "+", "★": "*", "…": "...", "∞": "inf", "·": ".", "μ": "u",
    "▁": "1", "▂": "2", "▃": "3", "▄": "4", "▅": "5", "▆": "6", "▇": "7", "█": "8",
    "─": "-", "━": "-", "│": "|", "┃": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+",
    "├": "+", "┤": "+", "┬": "+", "┴": "+", "┼": "+", "╭": "+", "╮": "+", "╰": "+",
    "╯": "+", "═": "=", "║": "|", "╔": "+", "╗": "+", "╚": "+", "╝": "+",
}  # fmt: skip
# Whole words first, where a glyph-by-glyph stand-in would be longer than a tight column.
ASCII_WORDS = {"σ_w²": "sw^2"}


class OutputError(click.ClickException):
    """The output cannot be written: a usage error (exit 2), one line."""

    exit_code = 2


# ---------------------------------------------------------------- the target


def check_target(
    path: str | None, inputs: tuple[str | None, ...] = (), option: str = "--output"
) -> str | None:
    """The file to write (None: stdout), refused before any work if it cannot be one.

    ``inputs`` are the command's input specs (``--input``): writing over one of them
    would replace the user's data with a table.  ``option`` names the option in messages.
    """
    if path is None or path == STDOUT:
        return None
    refuse = functools.partial(_refuse, option=option)
    if not path.strip():
        raise refuse(path, "the name is empty (give a file name, or - for stdout)")
    if "\x00" in path:
        raise refuse(path, "the name holds a NUL byte")
    st = _stat(path)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise refuse(path, "it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise refuse(
                path,
                f"it is a device or other special file; {option} writes regular files"
                + (" (give - for stdout)" if option == "--output" else ""),
            )
        for spec in inputs:
            other = _stat(spec) if spec else None
            if other is not None and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                raise refuse(path, "it is the input file; write the output elsewhere")
    directory = os.path.dirname(_real(path)) or "/"
    dst = _stat(directory)
    if dst is None:
        raise refuse(path, f"the directory {_show(directory)} does not exist")
    if not stat.S_ISDIR(dst.st_mode):
        raise refuse(path, f"{_show(directory)} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise refuse(path, f"the directory {_show(directory)} is not writable")
    _check_name(path, directory, refuse)
    return path


def _check_name(path: str, directory: str, refuse) -> None:
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    name = os.fsencode(os.path.basename(path))
    if len(name) > name_max:
        raise refuse(path, f"the file name is {len(name)} bytes, above this file system's "
                      f"{name_max}")  # fmt: skip
    if len(os.fsencode(os.path.abspath(path))) >= os.pathconf("/", "PC_PATH_MAX"):
        raise refuse(path, "the path is too long")


# What --plot writes, by the file's extension.
FIGURE_TYPES = ("png", "svg", "pdf")
PLOT_EXTRA = 'pip install "varprop[plot]"'


def figure_type(path: str) -> str | None:
    """``png``, ``svg`` or ``pdf`` from the name's extension (any case), else None."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return ext if ext in FIGURE_TYPES else None


def check_figure(
    path: str | None, inputs: tuple[str | None, ...] = (), output: str | None = None
) -> str | None:
    """``--plot``'s file, refused before any work: a .png, .svg or .pdf name that
    :func:`check_target` accepts, not the ``--output`` file, and matplotlib installed."""
    if path is None:
        return None
    if figure_type(path) is None:
        raise _refuse(
            path, "give a file name ending in .png, .svg or .pdf (the figure's type)", "--plot"
        )
    check_target(path, inputs, option="--plot")
    if output is not None and _real(output) == _real(path):
        raise _refuse(path, "it is the --output file; write the figure elsewhere", "--plot")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OutputError(f"--plot needs matplotlib (not installed): {PLOT_EXTRA}") from None
    return path


def _real(path: str) -> str:
    """Where a write to ``path`` lands: through a symbolic link to its target, so that
    the link stays a link."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return None


def _refuse(path: str, why: str, option: str = "--output") -> click.BadParameter:
    return click.BadParameter(f"cannot write {_show(path)}: {why}", param_hint=f"'{option}'")


def _show(path: str) -> str:
    """A path for a message: undecodable bytes shown as \\xNN, the rest as typed."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if len(text) <= 120 else text[:60] + "..." + text[-57:]


# ---------------------------------------------------------------- writing a file


def write_atomic(path: str, data: str | bytes) -> None:
    """Write the whole file or nothing: an interrupted run leaves no truncated file.

    ``data`` is text (UTF-8) or bytes (a figure).  A replaced file keeps its permission
    bits (mkstemp creates 0600); a new one gets the usual 0666 less the umask.
    Undecodable bytes of the user's own names (a file name in the output) are written
    back as they were (surrogateescape).
    """
    shown, path = path, _real(path)
    directory = os.path.dirname(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".varprop-", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {_show(shown)}: {e.strerror}") from None
    try:
        if isinstance(data, bytes):
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")
        with f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {_show(shown)}: {e.strerror}") from None
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- stdout


def stdout_encodes(glyphs: str = GLYPHS) -> bool:
    """Whether stdout's encoding can take varprop's Unicode output."""
    out = sys.stdout
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        glyphs.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def asciify(text: str) -> str:
    """``text`` in ASCII: varprop's glyphs by their usual stand-ins, accents dropped,
    anything else as ``?``.  ANSI colour codes (ASCII already) pass through.

    A stand-in longer than its glyph (``²`` -> ``^2``) takes its extra characters
    from the next run of two or more spaces on its line, so table columns stay aligned.
    """
    if text.isascii():
        return text
    for word, plain in ASCII_WORDS.items():
        text = text.replace(word, plain)
    return "\n".join(_ascii_line(line) for line in text.split("\n"))


def _ascii_line(line: str) -> str:
    out: list[str] = []
    debt = 0  # characters the stand-ins added, to take back from the padding
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == " " and debt and line[i : i + 2] == "  ":
            run = len(line[i:]) - len(line[i:].lstrip(" "))
            take = min(debt, run - 1)
            out.append(" " * (run - take))
            debt -= take
            i += run
            continue
        if ch.isascii():
            out.append(ch)
        else:
            plain = ASCII.get(ch)
            if plain is None:
                plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
                plain = plain or "?"
            out.append(plain)
            debt += len(plain) - 1
        i += 1
    return "".join(out)


@contextlib.contextmanager
def stdout_errors():
    """Turn a failing stdout (closed, full, broken pipe) into one OutputError line."""
    if sys.stdout is None:
        raise OutputError("cannot write to stdout: it is closed")
    try:
        yield
        sys.stdout.flush()
    except (OSError, ValueError) as e:  # ValueError: write to a closed file
        silence_stdout()
        why = e.strerror if isinstance(e, OSError) and e.strerror else "it is closed"
        if isinstance(e, OSError) and e.errno == errno.EPIPE:
            why = "the reader has gone (broken pipe)"
        raise OutputError(f"cannot write to stdout: {why}") from None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null: the interpreter's final flush of what is left in the
    buffer then succeeds instead of printing "Exception ignored" (Python's docs on
    SIGPIPE do the same)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's buffer): nothing flushes it at exit
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass
