"""Memory budgets (varprop/budget.py): every size refused before allocating, exit 2 with one
``Error:`` line naming the option that dominates the estimate."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from varprop import budget
from varprop.cli import cli
from varprop.errors import VarpropError

HUGE = str(10**200)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["simulate", "--width", HUGE], "--width"),
        (["grid", "--width", HUGE, "--depth", "2"], "--width"),
        (["compare", "he:relu", "--width", HUGE], "--width"),
        (["simulate", "--widths", f"8,{HUGE}"], "--widths"),
        (["simulate", "--input", "uniform", "--batch", str(10**30)], "--batch"),
        (["simulate", "--batch", str(10**30), "--max-memory", "1e300"], "--batch"),
        (["simulate", "--depth", "1000000", "--width", "1", "--max-memory", "1GiB"], "--depth"),
        (["theory", "--depth", "1000000", "--max-memory", "64MiB"], "--depth"),
        (["theory", "--depth", str(10**400)], "--depth"),
        (["theory", "--widths", f"8,{10**400}"], "--widths"),
    ],
)
def test_huge_sizes_are_refused_naming_the_option(args, option):
    line = one_error(invoke(*args))
    assert f"'{option}'" in line


def test_results_over_seeds_are_counted_and_name_seeds():
    args = ["simulate", "--depth", "10000", "--width", "1", "--batch", "1"]
    line = one_error(invoke(*args, "--seeds", "40", "--max-memory", "200MiB"))
    assert "'--seeds'" in line and "results" in line


def test_compare_pairs_count_too():
    pairs = [f"{w}:relu" for w in (1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5)]
    args = ["--depth", "20000", "--width", "1", "--batch", "1", "--max-memory", "400MiB"]
    line = one_error(invoke("compare", *pairs, *args, "--seeds", "2"))
    assert "results" in line


def test_a_wide_file_at_a_narrow_width_needs_no_square_buffer(tmp_path):
    import numpy as np

    path = tmp_path / "wide.npy"
    np.save(path, np.random.default_rng(0).standard_normal((4, 200_000)))
    args = ["simulate", "--input", str(path), "--width", "8", "--depth", "2"]
    result = invoke(*args, "--max-memory", "100MiB", "--format", "json")
    assert result.exit_code == 0, result.output


def test_size_text_is_exact_for_any_integer():
    assert budget.size_text(512) == "512 B"
    assert budget.size_text(3 * 2**20) == "3 MiB"
    assert budget.size_text(10**400) == "9.09e+387 TiB"


def test_the_address_space_is_a_limit_no_option_raises():
    with pytest.raises(VarpropError, match="no machine can address"):
        budget.check({"weights": 2**50}, 10**30, {"--width": 10**6}, "--width")


def test_memory_error_is_one_line(monkeypatch):
    import varprop.api

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(varprop.api, "run", boom)
    line = one_error(invoke("simulate", "--depth", "2", "--width", "4"))
    assert "out of memory" in line


@pytest.mark.parametrize("spec", ["elu:1e300", "leaky-relu:1e200"])
def test_activation_parameters_beyond_what_theory_can_square_are_refused(spec):
    for args in (["theory", "--act", spec], ["recommend", "--act", spec],
                 ["compare", f"he:{spec}", "--depth", "2", "--width", "4"]):  # fmt: skip
        assert "1e+100" in one_error(invoke(*args))
