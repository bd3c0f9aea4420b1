"""The HTML report and the plots, from real runs through the real CLI."""

from __future__ import annotations

import base64
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from gbtest import FAST_DEFAULTS, PLUGINS, ROOT, run_cli, write_rows
from gemmbench import registry
from gemmbench.data.results import ResultsFile, RunInfo, load_results, read_metadata
from gemmbench.machine.fingerprint import real_cpu_flags
from gemmbench.measure.timing import statistics
from gemmbench.report import data as report_data
from gemmbench.report import kinds, plots
from gemmbench.report.html import TEMPLATE, render_html, template_text
from gemmbench.report.select import RowFilter

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

QUICK_OPS = ("gemv", "gemm", "lpcnet_step")  # the quick suite's: other ops' kinds have nothing to draw from it
KINDS = [*kinds.CORE_KINDS, *(kind.name for op in QUICK_OPS for kind in registry.ops.get(op).plots)]


def plugin_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}


def results_path(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.endswith(".parquet")).split("results: ")[-1]


SIMULATED_CPU = "avx2,fma"  # GEMMBENCH_CPU_FLAGS for quick_rich: no AVX-512 on any host
HAS_AVX2 = {"avx2", "fma"} <= real_cpu_flags()
needs_avx2 = pytest.mark.skipif(not HAS_AVX2, reason="this CPU lacks avx2/fma: test-isa:avx2 cannot be timed")


@pytest.fixture(scope="module")
def quick_rich(tmp_path_factory) -> Path:
    """A real run of quick.yaml (its vocoder step included) with a second backend, ISA-level variants and
    an int8 kernel at 1 and 2 threads, against this machine's roofline: every plot kind has something to
    draw. The CPU is simulated without AVX-512 (GEMMBENCH_CPU_FLAGS=avx2,fma), so what is unavailable is
    the same anywhere."""
    out = tmp_path_factory.mktemp("quick_rich")
    result = run_cli("run", "quick", "-o", out, "-q", "--backend",
                     "numpy,test-good,test-isa,csimd:scalar-int8", "--threads", "1,2", "--roofline",
                     env={**plugin_env(), "GEMMBENCH_CPU_FLAGS": SIMULATED_CPU})
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture(scope="module")
def troubled(tmp_path_factory) -> Path:
    """A real run where rows go wrong, crash, raise, time out and are unavailable."""
    out = tmp_path_factory.mktemp("troubled")
    suite = out / "troubled.yaml"
    suite.write_text(FAST_DEFAULTS.replace("timeout: 30", "timeout: 2") + "name: troubled\n"
                     "backends: [numpy, test-wrong, test-segfault, test-raises, test-hang, test-broken-import]\n"
                     "cases: [{name: small, m: 16, k: 8}]\n")
    result = run_cli("run", suite, "-o", out, "-q", env=plugin_env())
    assert result.returncode == 1, result.stderr
    return Path(result.stdout.strip())


class Page(HTMLParser):
    """What the report's HTML references and shows."""

    def __init__(self, text: str):
        super().__init__()
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.images: list[str] = []
        self.svgs = 0  # inline SVG figures (not counting an svg inside another)
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self._svg_depth = 0
        self.feed(text)

    @property
    def pictures(self) -> int:
        return len(self.images) + self.svgs

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data", "action", "srcset", "poster"):
                self.references.append((tag, name, value or ""))
            if name == "id":
                self.ids.add(value)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "svg":
            self.svgs += self._svg_depth == 0
            self._svg_depth += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1


def read_page(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


def assert_self_contained(page: Page) -> None:
    for tag, attribute, value in page.references:
        assert value.startswith(("data:", "#")), f"<{tag} {attribute}={value[:60]!r}> leaves the page"
    assert "link" not in page.tags  # no external stylesheet
    for src in page.images:
        header, payload = src.split(",", 1)
        assert header in ("data:image/svg+xml;base64", "data:image/png;base64")
        image = base64.b64decode(payload)
        assert b"<svg" in image[:2000] if header.startswith("data:image/svg") else image.startswith(b"\x89PNG")


def test_report_from_a_real_quick_run_embeds_every_plot(quick_rich, tmp_path):
    out = tmp_path / "r.html"
    result = run_cli("report", quick_rich, "-o", out, "--samples")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.stat().st_mode & 0o044 == 0o044 & ~os.umask(os.umask(0))  # readable by others as the umask allows
    text, page = read_page(out)
    assert_self_contained(page)
    drawn = KINDS if HAS_AVX2 else [kind for kind in KINDS if kind != "isa"]  # isa: two levels timed
    assert {f"plot-{kind}" for kind in drawn} <= page.ids
    assert page.pictures >= len(drawn)
    assert ("Left out" not in text) if HAS_AVX2 else ("Left out: no case was timed at two or more ISA levels" in text)
    every = page.pictures
    for case in ("gemv_small", "gru_b_recurrent", "gemm_small", "gemv_sparse"):
        assert f'id="case-{case}"' in text
    assert "numpy:matmul" in text and "test-isa:scalar" in text
    rows = load_results(quick_rich)
    lacking = {"avx512": "avx512f", "bf16": "avx512_bf16", **({} if HAS_AVX2 else {"avx2": "avx2, fma"})}
    unavailable = rows[rows["status"] == "unavailable"]
    assert dict(zip(unavailable["variant"], unavailable["message"])) == {v: f"CPU lacks {f}" for v, f in lacking.items()}
    per_variant = len({*rows["threads"]}) * rows[rows["variant"] == "scalar"]["case"].nunique()
    assert f"test-isa: {per_variant * len(lacking)} row(s) unavailable: CPU lacks " in text  # one line per backend
    assert f"Simulated CPU ({rows.loc[0, 'feature_key']})" in text and rows.loc[0, "feature_key"].endswith("+simulated")
    frame = report_data.load([quick_rich]).frame
    row = frame.iloc[0]
    for header in (row["run_id"], row["cpu_model"], report_data.blas_text(frame["blas"]), row["git_sha"],
                   row["compiler"]):
        assert f"<td>{header}</td>" in text, header
    default = tmp_path / "default.html"
    assert run_cli("report", quick_rich, "-o", default).returncode == 0
    text, page = read_page(default)
    assert "Left out: the tables summarise the samples (min, IQR, cv); gemmbench report --samples" in text
    assert page.pictures < every


def test_report_leaves_out_kinds_without_data_and_says_why(tmp_path):
    result = run_cli("run", "quick", "-o", tmp_path, "-q", "--backend", "numpy")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "numpy.html"
    assert run_cli("report", result.stdout.strip(), "-o", out).returncode == 0
    text, page = read_page(out)
    assert_self_contained(page)
    assert "Left out: only the baseline numpy was timed" in text
    assert "Left out: no case was run at several thread counts" in text
    assert "Left out: no row names an ISA level" in text
    assert "Left out: no run was measured with --roofline" in text
    assert "Left out: the tables summarise the samples" in text  # every sample: on demand (--samples)
    assert page.pictures == 3  # the size sweep, the vocoder step's RTF and parts


def test_failed_rows_render_with_warnings(troubled, tmp_path):
    out = tmp_path / "t.html"
    result = run_cli("report", troubled, "-o", out)
    assert result.returncode == 0, result.stderr
    text, page = read_page(out)
    assert_self_contained(page)
    # failures open the page, above the decision table; what merely did not run comes after it
    failures = text[text.index('id="failures"'):text.index('id="decision"')]
    assert "test-wrong:default wrong on 1 row(s): wrong result: relative error" in failures
    assert "test-segfault:crash crashed on 1 row(s): worker killed by SIGSEGV" in failures
    assert "test-raises:default error on 1 row(s): RuntimeError: deliberate failure in prepare" in failures
    assert "test-hang:default timeout on 1 row(s)" in failures
    notes = text[text.index('id="warnings"'):text.index('id="runs"')]
    assert "test-broken-import: 1 row(s) unavailable: failed to load" in notes
    assert 'class="status-wrong"' in text and 'class="status-crashed"' in text


def saved_rows(folder) -> int:
    """Rows on disk: in the file, or in its journal until the file is next rewritten."""
    from gemmbench.errors import UsageError

    try:
        return sum(len(load_results(path)) for path in folder.glob("*.parquet"))
    except UsageError:  # not there yet
        return 0


def test_a_partial_run_is_flagged(tmp_path):
    """SIGTERM a real run after its first rows are saved: the file says complete=false, the report says so."""
    suite = tmp_path / "partial.yaml"
    suite.write_text(FAST_DEFAULTS + "name: partial\ncases: [{name: a, m: 8, k: 8, backends: [numpy]},\n"
                     "  {name: b, m: 8, k: 8, backends: [test-hang]}]\n")  # a case's rows are saved together
    process = subprocess.Popen([sys.executable, "-m", "gemmbench", "run", suite, "-o", tmp_path / "res", "-q"],
                               cwd=ROOT, env=plugin_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not saved_rows(tmp_path / "res") and time.monotonic() < deadline:  # the file exists from the start
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    [path] = (tmp_path / "res").glob("*.parquet")
    assert read_metadata(path)["complete"] is False
    out = tmp_path / "p.html"
    assert run_cli("report", path, "-o", out).returncode == 0
    text = out.read_text()
    assert "is partial: its file" in text and "complete=false" in text and "NO — partial run" in text


@pytest.mark.parametrize("command", ["report", "plot"])
def test_missing_and_corrupt_inputs_exit_2_naming_the_file(command, tmp_path):
    extra = ["--kind", "samples", "-o", tmp_path / "x.png"] if command == "plot" else []
    missing = run_cli(command, tmp_path / "nope.parquet", *extra)
    assert missing.returncode == 2 and f"{tmp_path / 'nope.parquet'}: no such results file" in missing.stderr
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    bad = run_cli(command, corrupt, *extra)
    assert bad.returncode == 2 and f"{corrupt}: not a readable parquet results file" in bad.stderr
    assert "Traceback" not in missing.stderr + bad.stderr
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.html"))


def test_unknown_baseline_is_refused(quick_rich, tmp_path):
    result = run_cli("report", quick_rich, "--baseline", "nonesuch", "-o", tmp_path / "r.html")
    assert result.returncode == 2
    assert "--baseline nonesuch: no rows of backend 'nonesuch'" in result.stderr and "numpy" in result.stderr


@pytest.mark.parametrize("kind", [pytest.param(k, marks=needs_avx2) if k == "isa" else k for k in KINDS])
def test_each_plot_kind_renders_to_png(kind, quick_rich, tmp_path):
    out = tmp_path / f"{kind}.png"
    result = run_cli("plot", quick_rich, "--kind", kind, "-o", out, "--dpi", "60")
    assert result.returncode == 0, result.stderr
    payload = out.read_bytes()
    assert payload.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(payload[16:20], "big"), int.from_bytes(payload[20:24], "big")
    assert width == round(plots.WIDTH * 60) and height > 100


def test_plot_svg_and_its_input_errors(quick_rich, tmp_path):
    svg = tmp_path / "s.svg"
    assert run_cli("plot", quick_rich, "--kind", "sweep", "-o", svg).returncode == 0
    assert b"<svg" in svg.read_bytes()[:1000]
    bad = run_cli("plot", quick_rich, "--kind", "sweep", "-o", tmp_path / "s.jpg")
    assert bad.returncode == 2 and "s.jpg: unknown image format '.jpg'; use .png or .svg" in bad.stderr
    single = run_cli("run", "quick", "-o", tmp_path, "-q", "--backend", "numpy")
    none = run_cli("plot", single.stdout.strip(), "--kind", "threads", "-o", tmp_path / "t.png")
    assert none.returncode == 2 and "no threads plot: no case was run at several thread counts" in none.stderr


def test_run_with_report_leaves_the_html(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(FAST_DEFAULTS + "name: tiny\nbackends: [numpy]\ncases: [{name: a, m: 8, k: 8}]\n")
    result = run_cli("run", suite, "-o", "res", "--report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report_line = result.stdout.strip().splitlines()[-1]
    assert report_line.startswith("report: reports/tiny-") and report_line.endswith(".html")
    text, page = read_page(tmp_path / report_line.removeprefix("report: "))
    assert_self_contained(page)
    assert 'id="case-a"' in text and "gemmbench report: tiny" in text
    quiet = run_cli("run", suite, "-o", "res", "--report", "-q", cwd=tmp_path)
    lines = quiet.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith(".parquet") and (tmp_path / lines[1]).is_file()


def test_several_runs_side_by_side(tmp_path):
    paths = []
    for _ in range(2):
        result = run_cli("run", "quick", "-o", tmp_path / "res", "-q", "--backend", "numpy")
        assert result.returncode == 0, result.stderr
        paths.append(result.stdout.strip())
    out = tmp_path / "both.html"
    assert run_cli("report", tmp_path / "res", "-o", out).returncode == 0
    text, page = read_page(out)
    assert_self_contained(page)
    loaded = report_data.load(paths)
    assert len(loaded.runs) == 2 and len({run.label for run in loaded.runs}) == 2
    for run in loaded.runs:
        assert run.run_id in text and f"<th>{run.label}</th>" in text
    assert set(loaded.frame["label"].str.split(" @ ").str[1]) == {run.label for run in loaded.runs}
    assert "from 2 runs" in text


def test_template_is_package_data():
    """Found through importlib.resources, as from an installed package (the wheel test below checks shipping)."""
    template = resources.files("gemmbench.report").joinpath("templates", TEMPLATE)
    assert template.is_file() and "<!DOCTYPE html>" in template_text()


def test_wheel_ships_the_template_and_every_data_file(tmp_path):
    """A non-editable install gets the template, suites, C sources and probes: build the wheel and look inside."""
    source = tmp_path / "src"  # a clean copy: a stale build/ in the checkout could hide a packaging slip
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", "results", "reports"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                             "-w", tmp_path, source], capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "No module named pip" in result.stderr:
        pytest.skip("pip is not available to build a wheel")
    assert result.returncode == 0, result.stderr
    import zipfile

    [wheel] = tmp_path.glob("gemmbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "gemmbench/report/templates/report.html.j2" in names
    assert {"gemmbench/report/plots.py", "gemmbench/commands/report.py", "gemmbench/commands/plot.py"} <= set(names)
    shipped = {f"gemmbench/suites/{p.name}" for p in (ROOT / "suites").glob("*.yaml")}
    shipped |= {f"gemmbench/backends/csimd/{p.name}" for p in (ROOT / "backends" / "csimd").glob("*.[ch]")}
    shipped |= {f"gemmbench/probes/{p.name}" for p in (ROOT / "gemmbench" / "probes").glob("*.c")}
    assert shipped <= set(names) and len(shipped) > 10


# ---- columns no real backend fills yet ------------------------------------------------------


TIMED_COLUMNS = ("samples_ns", "median_ns", "min_ns", "mean_ns", "std_ns", "iqr_ns", "cv", "noisy", "loops",
                 "prepare_ns", "max_abs_err", "rel_err", "snr_db")


def synthetic_row(case: str, backend: str, variant: str, median_us: float, **extra) -> dict:
    samples = [median_us * 1000 * f for f in (0.97, 0.99, 1.0, 1.01, 1.04)]
    stats = statistics(samples)
    m, k = 1152, 384
    row = {"run_id": "r1", "suite": "synthetic", "case": case, "op": "gemv", "backend": backend,
           "variant": variant, "isa": "", "dtype": "float32", "m": m, "k": k, "n": 1, "threads": 1,
           "status": "ok", "message": "", "loops": 100, "samples_ns": samples, "median_ns": stats.median,
           "min_ns": stats.min, "mean_ns": stats.mean, "std_ns": stats.std, "iqr_ns": stats.iqr, "cv": stats.cv,
           "noisy": False, "prepare_ns": 50_000.0, "flops": 2 * m * k, "useful_flops": 2 * m * k,
           "bytes": 4 * (m * k + k + m), "density": 1.0, "sparsity": "", "precision": "float32",
           "tolerance": 1e-4, "max_abs_err": 1e-7, "rel_err": 1e-7, "snr_db": 140.0, "host": "h",
           "cpu_model": "Test CPU", "cpu_flags": "avx2 avx512f avx512_vnni fma", "feature_key": "test-cpu",
           "git_sha": "abc", "cores": 2, "cpus": "0"}
    row.update(extra)
    if row["median_ns"] is not None:
        row.update(gflops=row["flops"] / row["median_ns"], useful_gflops=row["useful_flops"] / row["median_ns"],
                   gbps=row["bytes"] / row["median_ns"])
    return row


def write_synthetic(path: Path) -> Path:
    """Rows as the C, int8 and sparse backends will write them (native loop, ISA levels, int8 SNR).

    This is the one place rows are made up rather than measured: no backend here produces these
    columns yet. They go through the real ResultsFile writer."""
    native = {"native_loops": 1000, "native_samples_ns": [9000.0, 9100.0, 9200.0], "native_median_ns": 9100.0,
              "native_iqr_ns": 100.0}
    int8 = {"precision": "int8", "tolerance": 5e-2, "rel_err": 0.012, "snr_db": 38.4, "max_abs_err": 0.02}
    rows = [synthetic_row("gru_a", "numpy", "matmul", 30.0),
            synthetic_row("gru_a", "csimd", "scalar", 60.0, isa="scalar", **native),
            synthetic_row("gru_a", "csimd", "avx2", 20.0, isa="avx2"),
            synthetic_row("gru_a", "csimd", "avx512", 12.0, isa="avx512"),
            synthetic_row("gru_a", "csimd", "int8_avx512vnni", 10.0, isa="avx512vnni", **int8),
            synthetic_row("gru_a", "csimd", "int8_amx", 1.0, isa="amx", status="unavailable",
                          message="CPU lacks amx_int8", precision="int8", **{c: None for c in TIMED_COLUMNS})]
    for density, sparse_us in ((0.05, 4.0), (0.1, 7.0), (0.2, 13.0), (0.5, 31.0)):
        common = {"density": density, "sparsity": f"16x1@{density}", "useful_flops": int(2 * 1152 * 384 * density)}
        rows += [synthetic_row(f"sparse[density={density}]", "numpy", "matmul", 30.0, **common),
                 synthetic_row(f"sparse[density={density}]", "csparse", "avx2", sparse_us, isa="avx2", **common)]
    return write_rows(rows, path, "r1", "synthetic", "2026-01-01T00:00:00+00:00")


def test_noisy_rows_are_counted_with_the_spread_they_were_judged_by(tmp_path):
    from gemmbench.report.content import _noisy

    spread = {"cv": 0.14, "noisy": True}
    rows = [synthetic_row("gru_a", "numpy", "matmul", 30.0, placements=4, **spread),
            synthetic_row("gru_a", "csimd", "avx512", 12.0, isa="avx512", placements=1, **spread),
            synthetic_row("gru_a", "csimd", "avx2", 20.0, isa="avx2", placements=4)]
    results = ResultsFile(tmp_path / "p.parquet", RunInfo("r1", "synthetic", "2026-01-01T00:00:00+00:00"))
    results.add(rows)
    results.close()
    (warning,) = _noisy(report_data.load([tmp_path / "p.parquet"]))
    assert warning.text.startswith("2 of 3 timed rows are noisy") and "placement_spread" in warning.text
    assert warning.details == ["gru_a · numpy:matmul · 1 thr: 14% spread", "gru_a · csimd:avx512 · 1 thr: 14% spread"]


def test_derived_columns(tmp_path):
    loaded = report_data.load([write_synthetic(tmp_path / "s.parquet")])
    frame = loaded.frame.set_index(["case", "series"])
    scalar = frame.loc[("gru_a", "csimd:scalar")]
    assert scalar["overhead_ns"] == pytest.approx(60_000 - 9100)
    # by the project's figure: its native loop (9.1 us) against numpy's Python call (30 us)
    assert scalar["speedup"] == pytest.approx(30_000 / 9100)
    assert scalar["payoff_calls"] == math.ceil(50_000 / (30_000 - 9100))
    fast = frame.loc[("gru_a", "csimd:avx512")]
    assert fast["speedup"] == pytest.approx(2.5)
    assert fast["payoff_calls"] == math.ceil(50_000 / (30_000 - 12_000))
    assert fast["speedup_low"] < fast["speedup"] < fast["speedup_high"]
    assert frame.loc[("gru_a", "numpy:matmul"), "is_baseline"]
    other = report_data.load([tmp_path / "s.parquet"], baseline="csimd:avx2").frame.set_index(["case", "series"])
    assert other.loc[("gru_a", "numpy:matmul"), "speedup"] == pytest.approx(20 / 30)


def test_new_columns_reach_the_report(tmp_path):
    loaded = report_data.load([write_synthetic(tmp_path / "s.parquet")])
    for kind in ("speedup", "sweep", "isa", "accuracy", "samples"):
        assert kinds.draw(kind, loaded).get_axes(), kind
    text = render_html(loaded)
    for header in ("native", "overhead", "ISA", "precision", "useful GFLOP/s", "pays off after"):
        assert f">{header}</th>" in text, header
    assert "50.9 µs" in text  # the call overhead of csimd:scalar, 60 µs - 9.1 µs
    sweep = kinds.draw("sweep", loaded)
    notes = [t.get_text() for axes in sweep.get_axes() for t in axes.texts]
    assert any(note.startswith("break-even vs numpy:\ncsparse:avx2 ≈ 0.") for note in notes), notes
    assert "csimd: 1 row(s) unavailable: CPU lacks amx_int8" in text


def test_isa_levels_are_ordered():
    from gemmbench.machine.isa import rank

    assert sorted(["mystery", "avx512", "scalar", "avx512vnni", "avx2"], key=rank) == \
        ["scalar", "avx2", "avx512", "avx512vnni", "mystery"]


def test_crossing_interpolates_in_log_space():
    from gemmbench.ops.matrix_plot import crossing

    x = np.array([0.1, 1.0])
    assert crossing(x, np.array([1.0, 100.0]), np.array([10.0, 10.0])) == pytest.approx(math.sqrt(0.1))
    assert crossing(x, np.array([1.0, 2.0]), np.array([10.0, 10.0])) is None


def test_a_file_with_only_the_required_columns_renders(tmp_path):
    """A file of an older schema holding only the required columns (and samples): blank cells, no crash,
    and the columns it lacks derived once, where it is read: the speed-up over numpy among them.

    The file is written by hand because no run of this version leaves columns out."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    base = {"run_id": "r1", "suite": "s", "case": "a", "status": "ok"}
    rows = [{**base, "backend": "numpy", "variant": "matmul", "median_ns": 12.0, "samples_ns": [11.0, 12.0, 13.0]},
            {**base, "backend": "other", "variant": "x", "median_ns": 10.0, "samples_ns": [9.0, 10.0, 10.5]}]
    meta = {b"gemmbench": json.dumps({"schema_version": 2, "run_id": "r1", "complete": True}).encode()}
    pq.write_table(pa.Table.from_pylist(rows).replace_schema_metadata(meta), tmp_path / "old.parquet")
    loaded = report_data.load([tmp_path / "old.parquet"])
    frame = loaded.frame.set_index("backend")
    assert frame.at["other", "speedup"] == pytest.approx(1.2) and frame.at["other", "baseline"] == "numpy:matmul"
    assert list(frame["role"]) == ["ours", "ours"] and not frame["reference_only"].any()
    assert kinds.draw("speedup", loaded).get_axes() and kinds.draw("samples", loaded).get_axes()
    assert 'id="case-a"' in render_html(loaded)


def test_heavy_figures_are_embedded_as_png():
    from matplotlib.figure import Figure

    from gemmbench.report.html import SVG_LIMIT, image_html

    light, heavy = Figure(), Figure()
    light.add_subplot().plot([1, 2, 3])
    points = np.random.default_rng(0).random((2, 30_000))
    heavy.add_subplot().scatter(*points, s=2)
    svg_bytes = len(kinds.render(heavy, "svg"))
    assert svg_bytes > SVG_LIMIT
    assert image_html(light, "light").startswith("<svg")  # inline, without the XML declaration
    png = image_html(heavy, "heavy")
    assert png.startswith('<img src="data:image/png;base64,') and len(png) < svg_bytes / 3
    src = Page(png).images[0]
    assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")


@needs_avx2
def test_rows_can_be_narrowed_to_cases_and_backends_keeping_the_baseline(quick_rich):
    everything = report_data.load([quick_rich]).frame
    narrowed = report_data.load([quick_rich], rows=RowFilter(("gemv_*", "gemm_small"), ("test-isa:avx2",))).frame
    assert set(narrowed["case"]) == {"gemv_small", "gemv_sparse", "gemm_small"}
    assert set(narrowed["series"]) == {"test-isa:avx2", "numpy:matmul"}  # numpy: the baseline stays
    assert len(narrowed) == len(everything[everything["case"].isin(["gemv_small", "gemv_sparse", "gemm_small"])
                                           & everything["series"].isin(["test-isa:avx2", "numpy:matmul"])])
    assert narrowed["speedup"].notna().any()


def test_a_grid_case_is_picked_by_its_exact_name_or_a_pattern():
    import pandas as pd

    frame = pd.DataFrame({"case": ["s[density=0.1]", "s[density=0.2]", "d"], "backend": "numpy",
                          "variant": "matmul"})
    exact = RowFilter(("s[density=0.1]",)).apply(frame, "numpy")  # brackets are not a character class here
    assert list(exact["case"]) == ["s[density=0.1]"]
    assert list(RowFilter(("s*",)).apply(frame, "numpy")["case"]) == ["s[density=0.1]", "s[density=0.2]"]


def test_report_and_plot_filters_on_the_command_line(quick_rich, tmp_path):
    out = tmp_path / "narrow.html"
    result = run_cli("report", quick_rich, "--case", "gemv_*", "--backend", "test-isa", "-o", out)
    assert result.returncode == 0, result.stderr
    text, page = read_page(out)
    assert_self_contained(page)
    assert "Filtered: only cases gemv_*; backends test-isa (and the baseline)." in text
    assert "test-good" not in text and 'id="case-gemm_small"' not in text and 'id="case-gemv_small"' in text
    png = tmp_path / "narrow.png"
    assert run_cli("plot", quick_rich, "--kind", "samples", "--case", "gemv_small", "-o", png).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    no_case = run_cli("report", quick_rich, "--case", "nope*", "-o", out)
    assert no_case.returncode == 2 and no_case.stderr.count("\n") == 1
    assert "--case nope*: matches no case in these results; cases: gemm_small, gemv_small" in no_case.stderr
    no_backend = run_cli("plot", quick_rich, "--kind", "speedup", "--backend", "torchx", "-o", png)
    assert no_backend.returncode == 2 and "--backend torchx: no rows of it in these results; backends:" in no_backend.stderr


def test_the_header_names_the_isa_levels_each_run_ran(quick_rich, tmp_path):
    """Which levels ran where: this (simulated avx2) machine's run beside the same rows as an aarch64
    machine would record them (neon ran, neon-dotprod unavailable), in one report."""
    from gbtest import write_results

    rows = load_results(quick_rich)
    arm_isa = {"scalar": "scalar", "avx2": "neon", "avx512": "neon-dotprod", "avx512bf16": "neon-dotprod"}
    arm = rows.assign(isa=rows["isa"].map(lambda v: arm_isa.get(v, v)), cpu_flags="fp asimd", host="graviton",
                      feature_key="arm-0x41-0xd0c+asimd")
    arm.loc[arm["isa"] == "neon", "status"] = "ok"
    arm_path = write_results(arm, tmp_path / "arm.parquet", run_id="arm-run")
    loaded = report_data.load([quick_rich, arm_path])
    by_id = {run.run_id: run for run in loaded.runs}
    here = by_id[rows.loc[0, "run_id"]]
    assert here.isa_levels_run == (("scalar", "avx2") if HAS_AVX2 else ("scalar",))
    assert here.isa_levels_unavailable == (("avx512", "avx512bf16") if HAS_AVX2 else ("avx2", "avx512", "avx512bf16"))
    assert by_id["arm-run"].isa_levels_run == ("scalar", "neon")
    assert by_id["arm-run"].isa_levels_unavailable == ("neon-dotprod",)
    out = tmp_path / "both.html"
    assert run_cli("report", quick_rich, arm_path, "-o", out).returncode == 0
    text, _ = read_page(out)
    header = text.split("<th>ISA levels run</th>", 1)[1].split("</tr>", 1)[0]
    assert '<span class="flag-on">neon</span>' in header and '<span class="flag-on">scalar</span>' in header
    assert 'title="unavailable: this CPU lacks a flag it needs">neon-dotprod</span>' in header
