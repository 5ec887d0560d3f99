"""--input: named distributions and the user's own .npy/.csv data (varprop.inputs)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import varprop
from varprop import inputs
from varprop.cli import cli
from varprop.errors import VarpropError

SMALL = {"depth": 3, "width": 8}


def write_csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def npy(tmp_path, name: str, array, **kw):
    path = tmp_path / name
    np.save(path, array, **kw)
    return str(path)


@pytest.fixture
def data():
    # 40 samples, 5 features, far from standardized: column j has mean 3j, std j+1.
    rng = np.random.default_rng(7)
    return rng.standard_normal((40, 5)) * np.arange(1, 6) + 3 * np.arange(5)


# ---------------------------------------------------------------- reading


def test_csv_with_a_header_line_reads_like_the_npy(tmp_path, data):
    header = ",".join(f"feature {j}" for j in range(5))
    text = header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in data) + "\n"
    from_csv = inputs.read(write_csv(tmp_path / "x.csv", text))
    from_npy = inputs.read(npy(tmp_path, "x.npy", data))
    np.testing.assert_array_equal(from_csv, data)
    np.testing.assert_array_equal(from_npy, data)


@pytest.mark.parametrize(
    "text",
    [
        "1,2\n3,4\n",  # plain
        "a,b\n1,2\n3,4\n",  # header line
        "\n1,2\n\n3,4\n\n",  # empty lines anywhere
        "# comment\n1,2\n3,4\n",  # comment line
        " 1 , 2\n3,  4 \n",  # spaces around values
        '"1","2"\n"3","4"\n',  # quoted values
        "\ufeffx,y\r\n1,2\r\n3,4\r\n",  # byte-order mark and Windows line ends
    ],
)
def test_csv_dialects_that_are_accepted(tmp_path, text):
    x = inputs.read(write_csv(tmp_path / "x.csv", text))
    np.testing.assert_array_equal(x, [[1.0, 2.0], [3.0, 4.0]])


def test_one_column_and_one_row_files_are_two_dimensional(tmp_path):
    assert inputs.read(write_csv(tmp_path / "col.csv", "1\n2\n3\n")).shape == (3, 1)
    assert inputs.read(write_csv(tmp_path / "row.csv", "1,2,3\n")).shape == (1, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.bool_])
def test_npy_of_any_real_dtype_becomes_float64(tmp_path, dtype):
    x = inputs.read(npy(tmp_path, "x.npy", np.ones((3, 2), dtype=dtype)))
    assert x.dtype == np.float64
    assert x.shape == (3, 2)


def test_fortran_order_npy(tmp_path, data):
    x = inputs.read(npy(tmp_path, "f.npy", np.asfortranarray(data)))
    np.testing.assert_array_equal(x, data)


# ---------------------------------------------------------------- standardizing


def test_standardize_gives_every_column_mean_0_variance_1(tmp_path, data):
    got = inputs.load(npy(tmp_path, "x.npy", data))
    np.testing.assert_allclose(got.values.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(got.values.var(axis=0), 1, rtol=1e-12)
    expected = (data - data.mean(axis=0)) / data.std(axis=0)
    np.testing.assert_allclose(got.values, expected, rtol=1e-12, atol=1e-12)
    assert got.label.endswith("x.npy (standardized)")


def test_raw_data_is_used_as_it_is(tmp_path, data):
    got = inputs.load(npy(tmp_path, "x.npy", data), standardize=False)
    np.testing.assert_array_equal(got.values, data)
    assert got.label.endswith("x.npy (raw)")


def test_rows_take_the_first_rows_after_standardizing_over_the_whole_file(tmp_path, data):
    path = npy(tmp_path, "x.npy", data)
    whole = inputs.load(path).values
    first = inputs.load(path, rows=10)
    np.testing.assert_array_equal(first.values, whole[:10])
    assert first.label.endswith("(standardized, first 10 of 40 rows)")


def test_huge_values_standardize_without_overflow(tmp_path):
    # Finite values near float64's limit: squares overflow, standardizing must not.
    x = np.array([[1e308, 1.0], [-1e308, 2.0], [5e307, 3.0]])
    got = inputs.load(npy(tmp_path, "big.npy", x)).values
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got.var(axis=0), 1, rtol=1e-12)


# ---------------------------------------------------------------- distributions


def test_uniform_has_unit_variance_and_the_seed_decides_it():
    from varprop.network import seeds_for

    stream = seeds_for(3, 0)["input"]
    x = inputs.draw("uniform", 4000, 16, np.float64, stream).values
    assert np.abs(x).max() <= np.sqrt(3)
    assert x.var() == pytest.approx(1.0, abs=0.02)  # sd of the estimate ~0.004
    again = inputs.draw("uniform", 4000, 16, np.float64, seeds_for(3, 0)["input"]).values
    np.testing.assert_array_equal(x, again)


def test_normal_is_the_engines_own_draw():
    a = varprop.simulate(**SMALL, batch=16)
    b = varprop.simulate(**SMALL, batch=16, input="normal")
    assert a.to_dict() == b.to_dict()
    assert a.config.input == "normal"


def test_uniform_runs_and_says_so():
    r = varprop.simulate(**SMALL, batch=16, input="uniform", seed=2)
    assert r.config.input == "uniform"
    assert r.config.input_second_moment == pytest.approx(1.0, abs=0.2)
    assert r.to_dict() == varprop.simulate(**SMALL, batch=16, input="uniform", seed=2).to_dict()


# ---------------------------------------------------------------- through the API


def test_simulate_on_a_file_takes_fan_in_and_batch_from_it(tmp_path, data):
    path = npy(tmp_path, "x.npy", data)
    r = varprop.simulate(input=path, **SMALL)
    assert r.config.widths[0] == 5  # fan-in of layer 1 = the data's dimension
    assert r.config.batch == 40  # every row
    assert r.config.input == f"{path} (standardized)"
    # Theory's E[a_0^2] comes from the data: 1 after standardizing.
    assert r.config.input_second_moment == pytest.approx(1.0, rel=1e-12)
    raw = varprop.simulate(input=path, standardize=False, batch=12, **SMALL)
    assert raw.config.batch == 12
    assert raw.config.input_second_moment == pytest.approx(np.mean(data[:12] ** 2), rel=1e-12)


def test_a_file_and_an_inputs_array_are_the_same_run(tmp_path, data):
    path = npy(tmp_path, "x.npy", data)
    from_file = varprop.simulate(input=path, standardize=False, **SMALL)
    from_array = varprop.simulate(inputs=data, **SMALL)
    assert from_file.layers == from_array.layers


def test_input_and_inputs_together_are_refused(tmp_path, data):
    with pytest.raises(VarpropError, match="not both"):
        varprop.simulate(input="uniform", inputs=data, **SMALL)


def test_batch_larger_than_the_file_is_refused(tmp_path, data):
    with pytest.raises(VarpropError, match="more rows than") as e:
        varprop.simulate(input=npy(tmp_path, "x.npy", data), batch=41, **SMALL)
    assert e.value.param == "--batch"


# ---------------------------------------------------------------- malformed files

# (file name, how to write it, words the one-line message must contain)
BAD_FILES = [
    ("missing.csv", None, "no such file"),
    ("nothing", None, "neither a distribution"),
    ("empty.csv", "", "empty"),
    ("empty.npy", "", "empty"),
    ("blank.csv", "\n \n\n", "no data"),
    ("header_only.csv", "a,b,c\n", "only a header"),
    ("ragged.csv", "1,2,3\n4,5\n", "line 2 has 2 values but line 1 has 3"),
    ("words.csv", "a,b\n1,2\n3,x\n", "line 3, column 2: 'x' is not a number"),
    ("second_header.csv", "a,b\nc,d\n1,2\n", "line 2, column 1: 'c' is not a number"),
    ("hole.csv", "1,2\n3,\n", "line 2, column 2: an empty value"),
    ("trailing.csv", "1,2,\n3,4,\n", "line 1, column 3: an empty value"),
    ("nan.csv", "1,2\n3,nan\n", "line 2, column 2: 'nan' is not a finite number"),
    ("inf.csv", "1,2\n-inf,4\n", "line 2, column 1: '-inf' is not a finite number"),
    ("overflow.csv", "1,2\n1e400,4\n", "'1e400' is not a finite number"),
    ("binary.csv", b"\xff\xfe\x00\x81garbage", "not a text file"),
    ("notes.txt", "1,2\n", "unsupported file type '.txt'"),
    ("fake.npy", b"not a numpy file at all", "not a valid .npy file"),
    ("truncated.npy", "truncated", "the file is truncated"),
    ("nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN at row 0, column 1"),
    ("inf.npy", np.array([[1.0, 2.0], [np.inf, 3.0]]), "inf at row 1, column 0"),
    ("flat.npy", np.arange(5.0), "1-D array of shape (5,)"),
    ("cube.npy", np.zeros((2, 3, 4)), "3-D array of shape (2, 3, 4)"),
    ("scalar.npy", np.array(1.5), "0-D array"),
    ("norows.npy", np.zeros((0, 3)), "no samples"),
    ("nocols.npy", np.zeros((3, 0)), "no features"),
    ("strings.npy", np.array([["a", "b"]]), "not real numbers"),
    ("complex.npy", np.ones((2, 2), dtype=complex), "not real numbers"),
    ("objects.npy", np.array([[{"a": 1}]], dtype=object), "Python objects"),
    ("const.npy", np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]), "column 2 of 2 is constant"),
    ("consts.csv", "1,2,3\n1,5,3\n1,6,3\n", "columns 1, 3 of 3 are constant"),
    ("single.csv", "1,2,3\n", "a single sample cannot be standardized"),
]


def _make(tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        return str(path)
    if isinstance(content, np.ndarray):
        np.save(path, content, allow_pickle=content.dtype.hasobject)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "truncated":
        np.save(path, np.zeros((100, 100)))
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("name", "content", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_files_get_one_line_naming_file_and_problem(tmp_path, name, content, words):
    path = _make(tmp_path, name, content)
    with pytest.raises(VarpropError) as e:
        inputs.load(path)
    message = str(e.value)
    assert words in message
    assert name in message  # names the file
    assert "\n" not in message
    assert e.value.param == "--input"


def test_a_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(VarpropError, match="is a directory"):
        inputs.load(str(tmp_path / "d.csv"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path):
    path = write_csv(tmp_path / "secret.csv", "1,2\n3,4\n")
    os.chmod(path, 0)
    with pytest.raises(VarpropError, match="cannot read it"):
        inputs.load(path)


def test_constant_column_is_fine_without_standardize(tmp_path):
    path = npy(tmp_path, "const.npy", np.array([[1.0, 5.0], [2.0, 5.0]]))
    assert inputs.load(path, standardize=False).values.shape == (2, 2)


@pytest.mark.parametrize("name", ["big.csv", "big.npy"])
def test_a_file_too_large_for_memory_is_refused_before_reading(tmp_path, monkeypatch, name):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, np.zeros((200, 100)))  # 160 KB of data
    else:
        path.write_text("1,2,3\n" * 5000)
    monkeypatch.setattr(np, "load", _never)
    monkeypatch.setattr(np, "loadtxt", _never)
    with pytest.raises(VarpropError, match=r"needs about .* but the limit is 10 KiB"):
        inputs.load(str(path), max_bytes=10 * 1024)
    # The default limit is the memory available: a machine with 64 KiB free refuses too.
    monkeypatch.setattr("varprop.network.available_memory", lambda: 64 * 1024)
    with pytest.raises(VarpropError, match="raise --max-memory"):
        inputs.load(str(path))


def _never(*args, **kwargs):
    raise AssertionError("the file was read before its size was checked")


# ---------------------------------------------------------------- command line


def test_cli_input_file_flows_to_simulate_compare_and_grid(tmp_path, data):
    path = npy(tmp_path, "x.npy", data)
    runner = CliRunner()
    args = ["--input", path, "--depth", "2", "--width", "4", "--format", "json"]
    commands = [["simulate"], ["compare", "he:relu", "xavier:tanh"], ["grid", "--inits", "he"]]
    for command in commands:
        if command[0] not in cli.commands:
            continue
        result = runner.invoke(cli, [*command, *args, "--no-standardize", "--batch", "7"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        for run in doc.get("runs", [doc]):
            assert run["config"]["input"] == f"{path} (raw, first 7 of 40 rows)"
            assert run["config"]["widths"][0] == 5
            assert run["config"]["batch"] == 7


def test_cli_bad_file_is_a_usage_error_naming_the_file(tmp_path):
    path = write_csv(tmp_path / "ragged.csv", "1,2\n3\n")
    result = CliRunner().invoke(cli, ["simulate", "--input", path, "--depth", "2"])
    assert result.exit_code == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error == [
        f"Error: Invalid value for '--input': {path}: line 2 has 1 value but line 1 has 2; "
        "every row needs the same number of columns"
    ]


def test_table_title_names_the_input(tmp_path, data):
    path = npy(tmp_path, "x.npy", data)
    result = CliRunner().invoke(cli, ["simulate", "--input", path, "--depth", "2"])
    assert result.exit_code == 0
    assert "(standardized), 5 features" in " ".join(result.stdout.split())
