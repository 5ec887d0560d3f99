"""Files read defensively (varprop/inputs.py): a .npy header is checked before any data
is read, and the CSV reader has its own field limit and message."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from varprop.cli import cli

SMALL = ["--depth", "2", "--width", "4"]


def npy(path, shape: str, descr: str = "<f8", data: int = 0, size: int | None = None):
    """A .npy file with a hand-written header (numpy would never write these)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        f.write(b"\0" * data)
        if size is not None:
            f.truncate(size)
    return str(path)


def one_error(args) -> str:
    result = CliRunner().invoke(cli, ["simulate", *SMALL, *args])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "'--input'" in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("shape", "descr", "data", "why"),
    [
        ("(True, 3)", "<f8", 24, "(True, 3)"),
        ("(3, False)", "<f8", 0, "(3, False)"),
        ("(-1, 2)", "<f8", 0, "(-1, 2)"),
        ("(2.0, 2)", "<f8", 32, "not a valid .npy"),
        ("(2, 2)", "<c16", 64, "complex128"),
        ("(2, 2)", "<U3", 48, "not real numbers"),
        ("(10, 1000000)", "<f8", 0, "truncated"),
    ],
)
def test_npy_headers_are_checked_before_reading(tmp_path, shape, descr, data, why):
    assert why in one_error(["--input", npy(tmp_path / "x.npy", shape, descr, data)])


def test_a_negative_shape_does_not_read_the_file(tmp_path):
    import resource

    path = npy(tmp_path / "big.npy", "(-1, 2)", size=256 * 2**20)  # sparse: no disk used
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one_error(["--input", path])
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 64 * 1024, f"{grown} KiB"  # ru_maxrss is in KiB on Linux


def test_a_huge_csv_field_has_its_own_limit_and_message(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + "1" * 200_000 + ",2\n3,4\n")
    assert "line 2 has a field longer than 10,000 characters" in one_error(["--input", str(path)])
    path.write_text("x" * 200_000 + ",b\n1,2\n3,4\n")  # a header too
    assert "line 1 has a field longer" in one_error(["--input", str(path)])
