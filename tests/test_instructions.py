"""The instruction-count metric: real workers under callgrind, counts that repeat exactly, AVX-512 refused."""

import os
import shutil

import pytest

from gemmbench.measure import instructions

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None,
                                    reason=f"valgrind is not installed ({instructions.INSTALL_HINT})")
slow = pytest.mark.slow  # workers under callgrind: minutes

DUMP = """version: 1
creator: callgrind-3.19.0
desc: Trigger: Client Request: gemv/avx2/short
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 120675 69827 16874 1285 665 98
totals: 120665 69827 16868 1285 665 98
"""


def test_a_dump_reads_with_its_trailing_zero_events_omitted():
    assert instructions.parse_totals(DUMP) == {"Ir": 120665, "Dr": 69827, "Dw": 16868, "I1mr": 1285, "D1mr": 665,
                                               "D1mw": 98, "ILmr": 0, "DLmr": 0, "DLmw": 0}
    with pytest.raises(RuntimeError, match="not a callgrind dump"):
        instructions.parse_totals("events: Ir\n")


def test_without_valgrind_the_metric_is_refused_with_the_install_line(cli, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no valgrind on this PATH
    result = cli("run", "quick", "--metric", "instructions", "-o", tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr == f"gemmbench: error: --metric instructions: valgrind is not installed " \
                            f"({instructions.INSTALL_HINT})\n"


# One counting run serves the tests below: a worker under callgrind costs tens of seconds to start.
COUNTED_SUITE = """\
name: ic
backends: [numpy, csimd:scalar, csimd:avx512]
defaults: {warmup: 0.001, min_time: 0.0002, samples: 3}
cases:
  - {name: a, m: 48, k: 32}
  - {name: again, m: 48, k: 32}
  - {name: batch, op: gemm, m: 48, k: 32, n: 16, backends: [csimd:amx-int8, csimd:amx-bf16]}
"""


@pytest.fixture(scope="module")
def counted(tmp_path_factory) -> dict[tuple[str, str, str], object]:
    """The rows of one real run of COUNTED_SUITE with --metric instructions, keyed (case, backend, variant)."""
    from gemmbench.cases.suite import load_suite
    from gemmbench.data.results import load_results
    from gemmbench.measure.runner import RunOptions, run_suite

    folder = tmp_path_factory.mktemp("counted")
    (folder / "ic.yaml").write_text(COUNTED_SUITE)
    outcome = run_suite(load_suite(folder / "ic.yaml"), RunOptions(out_dir=folder / "out", progress=False,
                                                                   metric="instructions"))
    return {(r.case, r.backend, r.variant): r for r in load_results(outcome.path).itertuples()}


@slow
@needs_valgrind
def test_counts_repeat_exactly_and_avx512_is_unavailable_under_valgrind(counted):
    for case in ("a", "again"):
        avx512 = counted[(case, "csimd", "avx512")]  # valgrind's CPUID hides AVX-512: refused, never a SIGILL
        assert avx512.status == "unavailable" and "CPU lacks avx512f" in avx512.message
        for variant in (("numpy", "matmul"), ("csimd", "scalar")):
            row = counted[(case, *variant)]
            assert row.status == "ok" and row.metric == "instructions" and row.instructions > 100
            assert row.est_cycles >= row.instructions and row.samples_ns is None
    for variant in (("numpy", "matmul"), ("csimd", "scalar")):  # the same calls count the same, within 0.1%
        assert counted[("a", *variant)].instructions == pytest.approx(counted[("again", *variant)].instructions,
                                                                      rel=1e-3)


@slow
@needs_valgrind
def test_amx_is_unavailable_under_valgrind_with_the_reason(counted):
    for variant in ("amx-int8", "amx-bf16"):  # valgrind passes the permission request on, then faults on a tile
        row = counted[("batch", "csimd", variant)]
        assert row.status == "unavailable" and "valgrind runs no AMX" in row.message
    assert {key for key in counted if key[0] == "batch"} == {("batch", "csimd", "amx-int8"),
                                                             ("batch", "csimd", "amx-bf16")}


def test_a_counting_run_s_summary_lists_counts_fewest_first():
    from pathlib import Path

    from gemmbench.commands.run import summary
    from gemmbench.data.results import load_results

    rows = load_results(Path(__file__).resolve().parent.parent / "results" / "instructions-baseline")
    text = summary(rows.to_dict("records"))
    assert text.startswith("instructions per call, counted under valgrind") and "no row was timed" not in text
    lines = text.splitlines()
    case_lines = [i for i, line in enumerate(lines) if line.startswith("gru_b_recurrent")]
    assert len(case_lines) == 1  # the case is named once, its rows follow
    counts = []
    for line in lines[case_lines[0]:]:
        if not line.strip() or line.startswith("not run"):
            break
        counts.append(int(line.split()[-4].replace(",", "")))
    assert counts == sorted(counts) and len(counts) == (rows["case"] == "gru_b_recurrent").sum()
