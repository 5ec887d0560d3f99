"""The input batch ``a_0``: a named distribution, or the user's own data from a file.

``--input`` takes ``normal`` (N(0, 1), the default), ``uniform`` (uniform with unit
variance, on ``[-sqrt(3), sqrt(3)]``) or the path of a ``.npy`` or ``.csv`` file whose
rows are samples and whose columns are features.

Files.  A ``.npy`` file must hold a 2-D array of real numbers (no pickled objects).  A
``.csv`` file is comma-separated numbers, one sample per line; a first line that is not
all numbers is taken as a header and skipped (only the first line may be one).  Empty
lines and lines starting with ``#`` are ignored.  Every value must be finite.  With
``standardize`` (the default) each column is shifted and scaled to mean 0 and variance
1 over all rows of the file, so a constant column is an error; without it the data is
used as it is.  With ``rows`` only the first ``rows`` rows form the batch (after
standardizing over the whole file).

Everything here is pure: it raises :class:`VarpropError` (``param="--input"``) naming
the file and what is wrong with it, and never prints.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from varprop.budget import size_text
from varprop.errors import VarpropError

DISTRIBUTIONS = ("normal", "uniform")
SUFFIXES = (".npy", ".csv")
PARAM = "--input"

# Loading a CSV holds the parsed float64 array plus numpy's parse buffers: at most one
# value per 2 bytes of text ("0,"), 8 bytes each, so 4 bytes of memory per byte of text,
# and about as much again while parsing.
CSV_BYTES_PER_BYTE = 8
# The longest CSV field read: a number or a column name is far shorter.  (The csv
# module's own limit, 131,072, is process-wide state; this one is ours.)
MAX_FIELD = 10_000
# A .npy array is read, converted to float64 and standardized: about three float64
# copies at the peak.
NPY_COPIES = 3


@dataclass(frozen=True)
class InputBatch:
    """A batch ready for the engine, and how to describe it in the output.

    ``values`` is None for the normal distribution, which the engine draws itself
    (from the same seed stream as always, so results do not change).
    """

    values: np.ndarray | None  # (batch, n_0), float64 for files
    label: str  # config.input: "normal", "uniform", "data.csv (standardized)"


def describe(spec: str, standardize: bool, rows: int | None = None, total: int = 0) -> str:
    """What ``config.input`` says: the distribution, or the file and its treatment."""
    if spec in DISTRIBUTIONS:
        return spec
    how = "standardized" if standardize else "raw"
    if rows is not None and rows < total:
        how += f", first {rows} of {total} rows"
    return f"{spec} ({how})"


def is_distribution(spec: str) -> bool:
    return str(spec).strip().lower() in DISTRIBUTIONS


def draw(spec: str, batch: int, features: int, dtype, seed_seq) -> InputBatch:
    """A batch from a named distribution; ``normal`` is left to the engine."""
    name = str(spec).strip().lower()
    if name == "normal":
        return InputBatch(None, "normal")
    rng = np.random.Generator(np.random.SFC64(seed_seq))
    x = rng.random((batch, features), dtype=dtype)  # [0, 1): (batch, n_0)
    bound = math.sqrt(3.0)  # U(-b, b) has variance b^2 / 3 = 1
    x *= dtype(2 * bound)
    x -= dtype(bound)
    return InputBatch(x, "uniform")


def load(
    path: str,
    *,
    standardize: bool = True,
    rows: int | None = None,
    max_bytes: int | None = None,
) -> InputBatch:
    """Read, check and (by default) standardize a ``.npy`` or ``.csv`` batch.

    ``rows`` takes the first rows only; ``max_bytes`` is the memory the loaded data may
    use (default: 90% of what the OS says is available), checked before reading.
    The last file read is kept (read-only) for the next call: ``compare`` and ``grid``
    run many pairs on one file.
    """
    try:
        st = os.stat(path)
        stamp = (os.path.realpath(path), st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # read() names the problem
    data = _read_cached(path, stamp, max_bytes) if stamp else read(path, max_bytes=max_bytes)
    total = data.shape[0]
    if standardize:
        data = standardized(data, path)
    if rows is not None:
        if rows > total:
            raise VarpropError(
                f"--batch {rows} asks for more rows than {path} has ({total}); "
                f"give --batch {total} or less, or leave it out to use every row",
                param="--batch",
            )
        data = data[:rows]
    return InputBatch(np.ascontiguousarray(data), describe(path, standardize, rows, total))


@functools.lru_cache(maxsize=1)
def _read_cached(path: str, stamp: tuple, max_bytes: int | None) -> np.ndarray:
    data = read(path, max_bytes=max_bytes)
    data.setflags(write=False)
    return data


def read(path: str, *, max_bytes: int | None = None) -> np.ndarray:
    """The file's data as a finite float64 array of shape (samples, features)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        if not os.path.exists(path):
            raise _error(
                f"{path!r} is neither a distribution ({', '.join(DISTRIBUTIONS)}) "
                "nor a .npy or .csv file"
            )
        raise _error(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
            "give a .npy or .csv file (rows are samples, columns features)"
        )
    size = _file_size(path)
    if size == 0:
        raise _error(f"{path}: the file is empty")
    if suffix == ".npy":
        data = _read_npy(path, max_bytes)
    else:
        _check_room(path, size * CSV_BYTES_PER_BYTE, max_bytes, size)
        data = _read_csv(path)
    _check_shape(data, path)
    _check_finite(data, path)
    return data


def standardized(data: np.ndarray, path: str) -> np.ndarray:
    """Each column to mean 0, variance 1 (over all rows); a constant column is an error."""
    if data.shape[0] == 1:
        raise _error(
            f"{path}: a single sample cannot be standardized (every column is constant); "
            "pass --no-standardize"
        )
    constant = np.flatnonzero(data.max(axis=0) == data.min(axis=0))
    if constant.size == 1:
        col = int(constant[0])
        raise _error(
            f"{path}: column {col + 1} of {data.shape[1]} is constant (every value is "
            f"{data[0, col]:g}), so it cannot be standardized; drop it or pass "
            "--no-standardize"
        )
    if constant.size:
        cols = ", ".join(str(c + 1) for c in constant[:5])
        more = f" and {constant.size - 5} more" if constant.size > 5 else ""
        raise _error(
            f"{path}: columns {cols}{more} of {data.shape[1]} are constant, so they cannot "
            "be standardized; drop them or pass --no-standardize"
        )
    # Scale each column by its largest magnitude first, so that squares cannot overflow
    # (values near 1e308 are finite but their squares are not).
    top = np.max(np.abs(data), axis=0)
    x = data / top
    x -= x.mean(axis=0)
    std = np.sqrt(np.mean(np.square(x), axis=0))
    if not np.all(std > 0):
        col = int(np.flatnonzero(~(std > 0))[0])
        raise _error(
            f"{path}: column {col + 1} varies too little to be standardized in float64; "
            "drop it or pass --no-standardize"
        )
    x /= std
    return x


# ---------------------------------------------------------------- reading


def _error(message: str) -> VarpropError:
    return VarpropError(message, param=PARAM)


def _file_size(path: str) -> int:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _error(f"{path}: no such file") from None
    except OSError as e:
        raise _error(f"{path}: cannot read it ({e.strerror})") from None
    if os.path.isdir(path):
        raise _error(f"{path}: is a directory, not a .npy or .csv file")
    if not os.access(path, os.R_OK):
        raise _error(f"{path}: cannot read it (permission denied)")
    return st.st_size


def _check_room(path: str, need: int, max_bytes: int | None, size: int) -> None:
    """Refuse, before reading, a file whose data would not fit in memory."""
    if max_bytes is None:
        from varprop.network import available_memory

        max_bytes = available_memory() * 9 // 10
    if need > max_bytes:
        raise _error(
            f"{path}: loading it needs about {size_text(need)} of memory (the file is "
            f"{size_text(size)}) but the limit is {size_text(max_bytes)}; use a smaller file "
            "or raise --max-memory"
        )


def _read_npy(path: str, max_bytes: int | None) -> np.ndarray:
    """A .npy file's array, after checking its header (shape, dtype, size) first."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError, TypeError, SyntaxError, RecursionError) as e:
        raise _error(f"{path}: not a valid .npy file ({_one_line(e)})") from None
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _error(f"{path}: holds Python objects, not numbers (varprop never unpickles)")
    if dtype.kind not in "biuf":
        raise _error(f"{path}: holds values of type {dtype}, not real numbers")
    # The header is the file's word, not ours: every entry a plain non-negative int
    # (True is an int subclass, -1 would make a negative count), and the data it
    # promises really in the file, all before a byte of data is read.
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise _error(
            f"{path}: not a valid .npy file (its header gives the shape {shape!r}; "
            "every entry must be a whole number >= 0)"
        )
    _check_ndim(shape, path)
    count = math.prod(shape)
    size = os.path.getsize(path)
    if offset + count * dtype.itemsize > size:
        raise _error(
            f"{path}: the file is truncated: its header promises {count:,} values of "
            f"{dtype.itemsize} bytes ({size_text(count * dtype.itemsize)}) but it holds "
            f"{size_text(max(size - offset, 0))} of data"
        )
    _check_room(path, count * 8 * NPY_COPIES, max_bytes, size)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise _error(f"{path}: cannot read the array ({_one_line(e)})") from None
    return data.astype(np.float64)


def _read_csv(path: str) -> np.ndarray:
    """Comma-separated numbers; a non-numeric first line is a header."""
    try:
        skip = _header_lines(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": checked below
                data = np.loadtxt(
                    path,
                    delimiter=",",
                    skiprows=skip,
                    ndmin=2,
                    dtype=np.float64,
                    quotechar='"',
                    encoding="utf-8-sig",
                )
        except ValueError:
            _diagnose_csv(path, skip)  # raises, naming the line and the problem
            raise _error(f"{path}: cannot be read as comma-separated numbers") from None
        if data.size:
            bad = ~np.isfinite(data)
            if bad.any():
                _diagnose_csv(path, skip, finite=True)
    except UnicodeDecodeError:
        raise _error(f"{path}: not a text file (a .csv must be UTF-8 text)") from None
    except OSError as e:
        raise _error(f"{path}: cannot read it ({e.strerror})") from None
    if data.size == 0:
        raise _error(f"{path}: no data rows" + (" (only a header line)" if skip else ""))
    return data


def _rows(path: str):
    """(line number, cells) of each non-empty, non-comment line of a CSV file."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise _csv_error(path, reader.line_num, e) from None
            if any(len(cell) > MAX_FIELD for cell in row):
                raise _long_field(path, reader.line_num)
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            yield reader.line_num, row


def _csv_error(path: str, line: int, e: Exception) -> VarpropError:
    if "field larger than field limit" in str(e):
        return _long_field(path, line)
    return _error(f"{path}: line {line}: not comma-separated values ({_one_line(e)})")


def _long_field(path: str, line: int) -> VarpropError:
    return _error(
        f"{path}: line {line} has a field longer than {MAX_FIELD:,} characters; a value "
        "must be a number and a header a short name"
    )


def _header_lines(path: str) -> int:
    """Lines to skip: up to the first data line when that line is a header, else 0."""
    for line_no, row in _rows(path):
        header = any(cell.strip() and not _is_number(cell) for cell in row)
        return line_no if header else 0
    raise _error(f"{path}: the file has no data (only empty or comment lines)")


def _diagnose_csv(path: str, skip: int, *, finite: bool = False) -> None:
    """Find the first bad line for a precise message (the fast parser gave up)."""
    width, first = None, None
    for line_no, row in _rows(path):
        if line_no <= skip:
            continue
        for col, cell in enumerate(row, start=1):
            if not _is_number(cell):
                what = "an empty value" if not cell.strip() else f"{cell.strip()[:40]!r}"
                raise _error(f"{path}: line {line_no}, column {col}: {what} is not a number")
            if finite and not math.isfinite(float(cell)):
                raise _error(
                    f"{path}: line {line_no}, column {col}: {cell.strip()[:40]!r} is not a "
                    "finite number; every value must be finite"
                )
        if width is None:
            width, first = len(row), line_no
        elif len(row) != width:
            raise _error(
                f"{path}: line {line_no} has {_values(len(row))} but line {first} has "
                f"{width}; every row needs the same number of columns"
            )


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200]


# ---------------------------------------------------------------- checks


def _check_ndim(shape: tuple[int, ...], path: str) -> None:
    if len(shape) == 2:
        return
    hint = " (one sample? save it with shape (1, n))" if len(shape) == 1 else ""
    raise _error(
        f"{path}: a {len(shape)}-D array of shape {tuple(shape)}; varprop needs a 2-D "
        f"array, rows = samples and columns = features{hint}"
    )


def _check_shape(data: np.ndarray, path: str) -> None:
    _check_ndim(data.shape, path)
    samples, features = data.shape
    if samples == 0:
        raise _error(f"{path}: no samples (shape {data.shape})")
    if features == 0:
        raise _error(f"{path}: no features (shape {data.shape})")


def _check_finite(data: np.ndarray, path: str) -> None:
    bad = ~np.isfinite(data)
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    value = data[rows[0], cols[0]]
    kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    more = f" (and {rows.size - 1} more non-finite values)" if rows.size > 1 else ""
    raise _error(
        f"{path}: {kind} at row {rows[0]}, column {cols[0]} (0-based){more}; "
        "every value must be a finite number"
    )
