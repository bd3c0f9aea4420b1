"""iir_bank through the real CLI: a run on numpy, scipy and csimd into real parquet, its plot, and
bad fields refused with one line each and exit status 2."""

import pytest

from gemmbench.data.results import load_results
from gemmbench.ops.iir_plot import method_plot
from gemmbench.report.data import load
from gemmbench.report.kinds import render

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

SUITE = """\
name: bank
backends: [numpy:iir-loop, numpy:block-L16, numpy:block-L128, scipy, csimd:iir-scalar, csimd:iir-avx2,
           csimd:iir-avx512, csimd:block-L16-avx2, csimd:block-L128-avx512, torch:lfilter, torch:loop]
cases:
  - name: odd
    op: iir_bank
    b: 3
    t: 1001
    f: 21
    s: 2
    output: [full, energy]
    frame: 77
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from gbtest import FAST_DEFAULTS, run_cli

    tmp = tmp_path_factory.mktemp("iir")
    # a shared machine can stretch a row past the fast defaults' 30 s: the rows here are not about time
    (tmp / "bank.yaml").write_text(FAST_DEFAULTS.replace("timeout: 30", "timeout: 600") + SUITE)
    result = run_cli("run", tmp / "bank.yaml", "-o", tmp, "-q", timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_method_is_verified_timed_and_described(results):
    frame = load_results(results)
    assert set(frame["status"]) <= {"ok", "unavailable"}, frame[["variant", "status", "message"]]
    assert not {"csr", "bsr"} & set(frame["variant"])  # matrix variants have no rows on iir_bank
    ok = frame[frame["status"] == "ok"]
    series = set(ok["backend"] + ":" + ok["variant"])
    assert {"numpy:iir-loop", "numpy:block-L16", "numpy:block-L128", "scipy:sosfilt", "csimd:iir-scalar"} <= series
    assert (ok["rel_err"] < ok["tolerance"]).all() and (ok["filter_samples_per_s"] > 0).all()
    assert (ok["coef_rounding_err"] > 0).all() and (ok["pole_radius_max"] < 1).all()
    csimd = ok[ok["backend"] == "csimd"]
    assert (csimd["native_median_ns"] > 0).all() and csimd["detail"].str.contains("FTZ").all()
    block = ok[ok["variant"].str.startswith("block-L")]
    assert sorted(set(block["block_length"])) == [16, 128]
    assert (block["gemm_gflops"] > 0).all()
    assert (block[block["backend"] == "numpy"]["sgemm_gflops"] > 0).all()
    assert {"block-L16-avx2", "block-L128-avx512"} <= set(block[block["backend"] == "csimd"]["variant"]) or \
        "unavailable" in set(frame["status"])
    full = csimd[csimd["case"].str.contains("full")]
    assert (full["write_floor_ns"] > 0).all() and (full["floor_ratio"] > 0).all()


def test_the_method_plot_draws_from_the_results(results, cli, tmp_path):
    png = render(method_plot(load([results])), "png")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    result = cli("plot", results, "--kind", "filterbank", "-o", tmp_path / "bank.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bank.png").read_bytes().startswith(b"\x89PNG")
    result = cli("report", results, "-o", tmp_path / "bank.html")
    assert result.returncode == 0, result.stderr
    assert 'id="plot-filterbank"' in (tmp_path / "bank.html").read_text()


@pytest.mark.parametrize("fields, message", [
    ("pole_radius: 1.0", "field 'pole_radius': must be between 0.9 and 0.9999 (poles inside the unit circle), "
                         "got 1.0"),
    ("output: energy\n    t: 1000\n    frame: 160", "field 'frame': must divide t = 1000 (energy per whole frame), "
                                                   "got 160"),
    ("f: 0", "field 'f': must be a positive integer, got 0"),
])
def test_bad_fields_exit_2_with_one_line(cli, write_suite, fields, message):
    suite = write_suite(f"name: q\ncases:\n  - name: a\n    op: iir_bank\n    {fields}\n")
    for command in ("validate", "run"):
        result = cli(command, suite)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [f"gemmbench: error: {suite}: case 'a': {message}"]
