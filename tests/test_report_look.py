"""What the report looks like: the decision first, readable figures, honest numbers, a page that fits.

The rows are made up (through the real ResultsFile writer): layout needs shapes no small real run
has, such as two sparse kernels crossing the baseline at nearby densities, or two dozen series.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from gbtest import ROOT, write_rows
from gemmbench.measure.timing import statistics
from gemmbench.report import content, kinds, plots
from gemmbench.report import data as report_data
from gemmbench.report.html import render_html, write_report

SAMPLES = 25
M, K = 1152, 384


def row(case: str, backend: str, variant: str, python_ns: float | None, native_ns: float | None = None,
        seed: int = 0, **extra) -> dict:
    """A row as a run writes it, its samples spread 2% around the given medians."""
    rng = np.random.default_rng(seed)
    spread = lambda ns: list(ns * (1 + 0.02 * rng.standard_normal(SAMPLES)))  # noqa: E731
    base = {"run_id": "r1", "suite": "look", "case": case, "op": "gemv", "backend": backend, "variant": variant,
            "isa": "", "dtype": "float32", "m": M, "k": K, "n": 1, "threads": 1, "status": "ok", "message": "",
            "prepare_ns": 40_000.0, "flops": 2 * M * K, "useful_flops": 2 * M * K, "bytes": 4 * (M * K + K + M),
            "density": 1.0, "sparsity": "", "precision": "float32", "tolerance": 1e-4, "rel_err": 1e-7,
            "snr_db": 140.0, "max_abs_err": 1e-6, "host": "h", "cpu_model": "Test CPU", "cpu_flags": "avx2 fma",
            "feature_key": "test-cpu", "git_sha": "abc1234", "cores": 2, "cpus": "0",
            "blas": "openblas 0.3.27 Zen pthreads", "role": "ours", "reference_only": False}
    if python_ns is not None:
        samples = spread(python_ns)
        stats = statistics(samples)
        base.update(samples_ns=samples, median_ns=stats.median, min_ns=stats.min, mean_ns=stats.mean,
                    std_ns=stats.std, iqr_ns=stats.iqr, cv=stats.cv, noisy=False, loops=100)
    if native_ns is not None:
        native = spread(native_ns)
        base.update(native_samples_ns=native, native_median_ns=float(np.median(native)), native_loops=1000)
    base.update(extra)
    sparsity = base["sparsity"]
    return {"shape": f"{base['m']}x{base['k']}" + (f" {sparsity}" if sparsity else ""), **base}


def write(rows: list[dict], path: Path) -> Path:
    return write_rows(rows, path, "r1", "look", "2026-01-01T00:00:00+00:00")


INT8 = {"precision": "int8", "tolerance": 5e-2, "rel_err": 0.008, "snr_db": 42.0}


def decision_rows() -> list[dict]:
    """GRU-B as seen on the development machine: numpy's Python call beats csimd's, csimd's native loop
    is 50x faster; int8-numpy is a reference; one row failed."""
    gru_b = {"m": 48, "k": 384}
    return [row("gru_b", "numpy", "matmul", 1200.0, **gru_b),
            row("gru_b", "csimd", "avx2", 1500.0, 25.0, seed=1, isa="avx2", **gru_b),
            row("gru_b", "csimd", "avx512vnni-int8", 1400.0, 15.0, seed=2, isa="avx512vnni", **gru_b, **INT8),
            row("gru_b", "int8-numpy", "w127-row-u8off", 9.0, seed=3, reference_only=True, **gru_b, **INT8),  # fast
            row("gru_b", "test-wrong", "default", None, status="wrong", message="wrong result: relative error 0.05",
                **gru_b),
            row("gru_b", "torch", "fp32", None, status="unavailable", message="torch not installed", **gru_b)]


@pytest.fixture
def decision_data(tmp_path):
    return report_data.load([write(decision_rows(), tmp_path / "d.parquet")])


def test_the_first_screen_is_failures_then_the_decision_then_routine_notes(decision_data):
    text = render_html(decision_data)
    order = [text.index(f'<section id="{name}">') for name in ("failures", "decision", "warnings", "runs", "plots")]
    assert order == sorted(order)
    assert "test-wrong:default wrong" in text[order[0]:order[1]]
    assert "torch: 1 row(s) unavailable" in text[order[2]:order[3]]


def test_the_decision_ranks_by_native_time_and_shows_precision_and_snr(decision_data):
    decision = content.decision(decision_data)
    cells = content.decision_table(decision).records()
    assert [(c["precision"], c["best"]) for c in cells] == [("float32", "csimd:avx2"),
                                                            ("int8", "csimd:avx512vnni-int8 ★")]
    assert cells[0]["native"] == "25 ns" and cells[0]["Python call"] == "1.5 µs"  # both figures
    assert cells[1]["SNR dB"] == "42.0" and cells[0]["SNR dB"] == "140.0"
    assert re.fullmatch(r"4\d\.\d× \(\d+(\.\d)?–\d+(\.\d)?\)", cells[0]["speed-up vs numpy"])  # 1200/25, interval
    assert cells[0]["shape"] == "gemv · 48x384"  # the op's own label; no dtype: the int8 row shares it
    assert decision.folded == (("int8-numpy", 1),)


def test_reference_rows_are_folded_into_their_own_section(decision_data):
    text = render_html(decision_data)
    decision = text[text.index('<section id="decision">'):text.index('<section id="warnings">')]
    assert "int8-numpy: 1 timed row" in decision and "w127-row-u8off" not in decision
    reference = text[text.index('<section id="reference">'):text.index('<section id="cases">')]
    assert "int8-numpy:w127-row-u8off" in reference


def many_rows() -> list[dict]:
    """Twelve cases x two dozen series, a float64 case no ISA level ran, overhead figures below zero."""
    rows = []
    series = [("csimd", f"v{i}") for i in range(12)] + [("other", f"w{i}") for i in range(11)]
    for c, case in enumerate(f"case{c}" for c in range(12)):
        rows.append(row(case, "numpy", "matmul", 30_000.0, seed=c))
        for i, (backend, variant) in enumerate(series):
            isa = ("scalar", "avx2", "avx512")[i % 3] if backend == "csimd" else ""
            rows.append(row(case, backend, variant, 20_000.0 + 500 * i, 15_000.0 + 400 * i, seed=100 * c + i,
                            isa=isa, **(INT8 if i % 4 == 0 else {})))
    rows += [row("f64", "numpy", "matmul", 60_000.0, dtype="float64", precision="float64")]
    rows += [row("f64", "csimd", level, None, dtype="float64", isa=level, status="skipped",
                 message="csimd does not take dtype float64") for level in ("scalar", "avx2", "avx512")]
    return rows


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    return write(many_rows(), tmp_path_factory.mktemp("many") / "many.parquet")


def test_no_figure_is_taller_than_a_page(many):
    loaded = report_data.load([many], every_sample=True)
    for name in kinds.available(loaded):
        try:
            figures = kinds.pages(name, loaded)
        except kinds.NoPlotData:
            continue
        assert all(f.get_size_inches()[1] <= plots.MAX_HEIGHT for f in figures), name
    assert len(kinds.pages("speedup", loaded)) > 1  # 12 cases x 23 series: several pages


def test_every_series_has_a_colour_of_its_own(many):
    loaded = report_data.load([many])
    colors = loaded.colors
    assert len(colors) == loaded.frame["series"].nunique() > 20 and len(set(colors.values())) == len(colors)


def test_an_isa_row_needs_two_timed_levels(many):
    loaded = report_data.load([many])
    labels = [row.label for row in plots.isa_rows(loaded, ["scalar", "avx2", "avx512"])]
    assert labels and not [label for label in labels if label.startswith("f64")]  # every level skipped: no row
    [figure] = kinds.pages("isa", loaded)
    assert figure.get_axes()[0].images  # the heat map


def test_negative_overheads_read_as_durations(tmp_path):
    rows = [row("noisy", "numpy", "matmul", 5_000.0),
            row("noisy", "csimd", "v0", 5_380.0, 9_950.0, isa="scalar")]  # native slower than the call: noise
    text = render_html(report_data.load([write(rows, tmp_path / "n.parquet")]))
    assert "e+03" not in text and re.search(r">−4\.\d\d µs<", text)


def test_the_report_of_hundreds_of_rows_stays_small(many, tmp_path):
    out = write_report([many], tmp_path / "many.html")
    assert out.stat().st_size < 1_500_000  # 300 rows of 25 samples (every sample: on demand, --samples)


def sweep_rows() -> list[dict]:
    """Two sparse kernels that cross the baseline at nearby densities (0.30 and 0.33)."""
    rows = []
    for density in (0.05, 0.1, 0.2, 0.5, 1.0):
        sparse = {"density": density, "sparsity": f"16x1@{density}" if density < 1 else "",
                  "case": f"s[density={density}]" if density < 1 else "dense"}
        rows.append(row(sparse["case"], "numpy", "matmul", 30_000.0, **{k: v for k, v in sparse.items() if k != "case"}))
        for i, (name, crossing) in enumerate((("a", 0.30), ("b", 0.33))):
            rows.append(row(sparse["case"], "sparse", name, 30_000.0 * density / crossing, seed=i + 1,
                            **{k: v for k, v in sparse.items() if k != "case"}))
    return rows


def test_break_even_labels_do_not_overlap(tmp_path):
    loaded = report_data.load([write(sweep_rows(), tmp_path / "s.parquet")])
    figure = kinds.draw("sweep", loaded)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.get_axes():
        texts = [t for t in axes.texts if t.get_text()]
        found = " ".join(t.get_text() for t in texts)
        assert "sparse:a ≈ 0.3" in found and "sparse:b ≈ 0.33" in found
        boxes = [t.get_window_extent(renderer) for t in texts]
        assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_blas_versions_are_named_once():
    values = ["openblas 0.3.27 Zen pthreads", "openblas 0.3.27 Zen pthreads; openblas 0.3.27.44 Zen pthreads",
              None, float("nan")]
    assert report_data.blas_text(values) == "openblas 0.3.27, 0.3.27.44 (Zen, pthreads)"


def test_a_run_without_a_recorded_revision_does_not_say_unknown(tmp_path):
    rows = [row("a", "numpy", "matmul", 100.0, git_sha="unknown")]
    text = render_html(report_data.load([write(rows, tmp_path / "u.parquet")]))
    git = text[text.index("<th>git</th>"):]
    assert git.index("not recorded") < git.index("</tr>") and ">unknown<" not in text


def test_writing_a_report_shows_progress_on_request(tmp_path, capsys):
    write_report([write(decision_rows(), tmp_path / "d.parquet")], tmp_path / "d.html", progress=True)
    assert re.search(r"\[\d+/\d+ plots[^\]]*\] drawing speedup", capsys.readouterr().err)


def test_the_kinds_are_the_core_ones_then_those_of_the_ops_the_file_ran(decision_data):
    """A file records its ops' kinds; one written before it did (the committed quick baseline, with its
    vocoder step) gets the installed ops' kinds."""
    assert list(kinds.available(decision_data)) == [*kinds.CORE_KINDS, "sweep"]
    older = report_data.load([next((ROOT / "results" / "baseline").rglob("quick-*.parquet"))])
    names = list(kinds.available(older))
    assert names[:len(kinds.CORE_KINDS)] == list(kinds.CORE_KINDS) and {"sweep", "rtf", "parts"} <= set(names)


def test_plot_writes_every_page(many, tmp_path):
    from gbtest import run_cli

    out = tmp_path / "speedup.png"
    result = run_cli("plot", many, "--kind", "speedup", "-o", out)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert paths[0] == str(out) and paths[1] == str(tmp_path / "speedup-2.png")
    assert len(paths) > 1 and all(Path(p).read_bytes().startswith(b"\x89PNG") for p in paths)


def test_the_case_index_can_wrap_between_case_names(many):
    """Case names have no spaces: links run together with nothing between them made one unbreakable
    line as wide as all the names (3,100 px for gru384's 19 cases)."""
    text = render_html(report_data.load([many]))
    index = re.search(r'<section id="cases">.*?<nav>(.*?)</nav>', text, re.S).group(1)
    assert index.count("<a ") >= 2 and "</a><a" not in index
