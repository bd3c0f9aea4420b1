"""op conv1d end to end: a suite through the real CLI into parquet, its rows and method columns,
the plot of them, and bad parameters refused with one line and exit status 2."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from gbtest import FAST_DEFAULTS, run_cli

SUITE = FAST_DEFAULTS + textwrap.dedent("""\
    name: conv-e2e
    backends: [numpy, csimd]
    isa: scalar
    cases:
      - name: lp
        op: conv1d
        c_in: 7
        c_out: 18
        k: 3
        t: [1, 20]
        layout: channels-last
        mode: [conv, streaming]
        padding: causal
      - name: up
        op: conv1d
        c_in: 5
        c_out: 3
        k: 4
        stride: 2
        t: 6
        mode: transpose
    """)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    suite = folder / "conv.yaml"
    suite.write_text(SUITE)
    done = run_cli("run", suite, "-o", folder / "out", timeout=600)
    assert done.returncode == 0, done.stderr
    files = list((folder / "out").glob("*.parquet"))
    assert len(files) == 1
    return files[0], pd.read_parquet(files[0])


def test_every_method_row_is_verified_and_timed(results):
    _, frame = results
    conv = frame[frame["method"].notna()]
    assert set(conv["status"]) == {"ok"}, conv[conv["status"] != "ok"][["case", "variant", "message"]]
    by = {(r.case, r.variant): r for r in conv.itertuples()}
    assert by[("lp[t=1,mode=streaming]", "direct-scalar")].method == "stream-gemv"
    assert by[("up", "im2col")].method == "zero-insert+im2col"
    assert by[("up", "col2im")].method == "col2im"
    im2col = by[("lp[t=20,mode=conv]", "im2col")]
    assert im2col.workspace_bytes == 4 * 20 * 3 * 7 and by[("lp[t=20,mode=conv]", "direct-scalar")].workspace_bytes == 0
    assert im2col.method_gflops == pytest.approx(im2col.method_flops / im2col.median_ns)
    assert (conv["rel_err"] < conv["tolerance"]).all()
    # the matrix backends' own variants (numpy:matmul) get no conv1d rows at all: nothing to skip
    assert frame[(frame["backend"] == "numpy") & (frame["variant"] == "matmul")].empty


def test_methods_plot_draws_the_rows(results, tmp_path):
    from gemmbench.ops.conv1d import Conv1d
    from gemmbench.report.data import load

    path, frame = results
    (figure,) = Conv1d.plots[0].draw(load([path]))
    assert len(figure.subfigs) == frame[frame["method"].notna()]["case"].nunique()
    done = run_cli("plot", path, "--kind", "conv1d-methods", "-o", tmp_path / "methods.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "methods.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("fields,message", [
    ("padding: sideways", "field 'padding': must be one of same, valid, causal, got 'sideways'"),
    ("t: 2\n    padding: valid", "field 't': padding valid needs t > (k-1) x dilation = 2"),
    ("mode: streaming\n    padding: same", "field 'padding': must be causal in mode streaming"),
    ("stride: 2", "field 'stride': is the upsampling factor of mode transpose"),
    ("c_out: 0", "field 'c_out': must be a positive integer, got 0"),
])
def test_bad_parameters_are_refused_with_one_line(tmp_path, fields, message):
    base = {"c_in": 4, "c_out": 4, "k": 3, "t": 9}
    override = dict(line.strip().split(": ") for line in fields.split("\n"))
    body = "\n".join(f"    {key}: {value}" for key, value in {**base, **override}.items())
    suite = tmp_path / "bad.yaml"
    suite.write_text(f"name: bad\ncases:\n  - name: c\n    op: conv1d\n{body}\n")
    done = run_cli("run", suite, "-o", tmp_path / "out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"bad.yaml: case 'c': {message}" in lines[0]
