"""The project's one "best": per case and precision, by native time where measured, else the Python call;
the one baseline and speed-up rule; our best held against the fastest peer runtime."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gemmbench.report.content import decision_table
from gemmbench.stats.decide import DEFAULT_BASELINE, decide, pair, speedup, time_of

ROUNDS = 25


def row(backend, variant, python_ns, native_ns=None, precision="float32", case="gru_b", **extra) -> dict:
    """A timed row whose samples share 25 rounds with every other row's: the same drift moves them all."""
    rng = np.random.default_rng(len(backend) + len(variant))
    drift = 1 + 0.1 * np.sin(np.arange(ROUNDS))  # the machine's, the same for every row of a round
    spread = lambda ns: None if ns is None else list(ns * drift * (1 + 0.02 * rng.standard_normal(ROUNDS)))  # noqa: E731
    return {"run_id": "r1", "repeat": 0, "case": case, "threads": 1, "status": "ok", "backend": backend,
            "variant": variant, "role": "ours", "reference_only": False, "precision": precision, "dtype": "float32",
            "median_ns": python_ns, "native_median_ns": native_ns, "samples_ns": spread(python_ns),
            "native_samples_ns": spread(native_ns), "sample_rounds": list(range(ROUNDS)), "snr_db": 140.0,
            "rel_err": 1e-7, "detail": "", **extra}


def choices(decision) -> dict:
    return {(c.case, c.precision): c for c in decision.choices}


def test_native_time_decides_not_the_python_call():
    """numpy's Python call (1.2 us) beats csimd's (1.5 us), but csimd's native loop takes 25 ns."""
    rows = [row("numpy", "matmul", 1200.0), row("csimd", "avx2", 1500.0, 25.0)]
    best = choices(decide(rows))[("gru_b", "float32")]
    assert best.series == "csimd:avx2" and best.figure == "native"
    assert (best.native_ns, best.python_ns) == (25.0, 1500.0)  # both shown
    assert best.speedup.ratio == pytest.approx(1200 / 25, rel=0.05)
    assert best.speedup.low < best.speedup.ratio < best.speedup.high


def test_one_best_per_precision_and_reference_rows_are_folded_away():
    rows = [row("numpy", "matmul", 30000.0), row("csimd", "avx512", 20000.0, 16000.0),
            row("csimd", "avx512vnni-int8", 5000.0, 3000.0, precision="int8", snr_db=41.8),
            row("int8-numpy", "w127-row-u8off", 200.0, precision="int8", reference_only=True)]  # a fast reference
    decision = decide(rows)
    found = choices(decision)
    assert list(found) == [("gru_b", "float32"), ("gru_b", "int8")]
    assert found[("gru_b", "int8")].series == "csimd:avx512vnni-int8" and found[("gru_b", "int8")].snr_db == 41.8
    assert found[("gru_b", "int8")].fastest and not found[("gru_b", "float32")].fastest
    assert decision.folded == (("int8-numpy", 1),) and "int8-numpy: 1 timed row" in decision.folded_text()


def test_the_baseline_can_be_best_and_untimed_cases_are_named():
    rows = [row("numpy", "matmul", 100.0), row("csimd", "avx2", 900.0, 300.0),
            {**row("csimd", "avx2", math.nan, case="other"), "status": "wrong"}]
    decision = decide(rows)
    best = choices(decision)[("gru_b", "float32")]
    assert best.is_baseline and best.series == "numpy:matmul"
    assert decision.untimed == ("other",)


def test_vocoder_steps_carry_the_real_time_factor_of_the_winning_figure():
    step = row("csimd", "avx2", 80_000.0, 40_000.0, case="lpcnet", rtf=0.08, native_rtf=0.04)
    best = choices(decide([step]))[("lpcnet", "float32")]
    assert best.rtf == 0.04 and best.speedup is None  # no baseline row: no speed-up


def test_speedup_of_rows_without_samples_has_no_interval():
    a, b = row("csimd", "avx2", 100.0), row("numpy", "matmul", 200.0)
    a["samples_ns"] = None
    interval = speedup(a, b)
    assert interval.ratio == 2.0 and math.isnan(interval.low) and interval.text() == "2×"
    assert time_of({"median_ns": 5.0, "native_median_ns": math.nan}) == (5.0, "python")


def test_the_fastest_from_python_is_named_where_a_native_loop_wins_the_case():
    rows = [row("numpy", "matmul", 1200.0), row("csimd", "avx512", 1600.0, 50.0)]
    (choice,) = decide(rows).choices
    assert choice.series == "csimd:avx512" and (choice.from_python, choice.from_python_ns) == ("numpy:matmul", 1200.0)
    rows[1]["median_ns"] = 1000.0  # faster from Python too: nothing more to say
    assert decide(rows).choices[0].from_python == ""


def test_a_rows_baseline_is_the_fastest_baseline_row_of_its_own_rounds():
    """Two numpy variants: the faster one is every row's baseline (and its own, at 1); a row of another
    repeat pairs with that repeat's numpy; a row that was not timed has none."""
    slow, fast = row("numpy", "dot", 2000.0), row("numpy", "matmul", 1000.0)
    mine = row("csimd", "avx2", 800.0, 500.0)
    again = {**row("numpy", "matmul", 4000.0), "repeat": 1}
    later = {**row("csimd", "avx2", 800.0, 500.0), "repeat": 1}
    failed = {**row("csimd", "scalar", math.nan), "status": "wrong"}
    paired = pair([slow, fast, mine, again, later, failed])
    assert [p["baseline"] for p in paired] == ["numpy:matmul"] * 3 + ["numpy:matmul"] * 2 + [""]
    assert paired[1]["speedup"] == paired[1]["speedup_low"] == 1.0  # the baseline itself
    assert paired[0]["speedup"] == pytest.approx(0.5, rel=0.05)
    assert paired[2]["speedup"] == pytest.approx(2.0, rel=0.05) and paired[4]["speedup"] == pytest.approx(8.0, rel=0.05)
    assert paired[2]["speedup_low"] < 2.0 < paired[2]["speedup_high"]
    assert paired[5]["speedup"] is None
    assert DEFAULT_BASELINE == "numpy"
    scipy = pair([mine, row("scipy", "csr", 1500.0)], "scipy")  # another baseline, by name
    assert scipy[0]["baseline"] == "scipy:csr" and scipy[0]["speedup"] == pytest.approx(3.0, rel=0.05)


def test_stored_pairing_is_read_not_recomputed():
    rows = [row("numpy", "matmul", 1000.0), row("csimd", "avx2", 500.0)]
    stored = [{**r, **p} for r, p in zip(rows, pair(rows))]
    stored[1].update(speedup=7.0, speedup_low=6.0, speedup_high=8.0)  # what the run wrote, whatever it is
    assert choices(decide(stored))[("gru_b", "float32")].speedup.ratio == 7.0


def test_our_best_is_held_against_the_fastest_peer_by_the_python_call():
    """csimd wins our side by its native loop (40 ns), but called from Python (1.5 us) it loses to the faster
    of two peers (800 ns): like with like, the peer wins, and the decision table says so."""
    rows = [row("numpy", "matmul", 2000.0), row("csimd", "avx512", 1500.0, 40.0),
            row("litert", "xnnpack", 800.0, role="peer"), row("onnxruntime", "cpu", 1100.0, role="peer"),
            row("litert", "int8", 100.0, precision="int8", role="peer")]  # another precision: not its rival
    decision = decide(rows)
    best = choices(decision)[("gru_b", "float32")]
    assert best.series == "csimd:avx512" and best.role == "ours"
    assert best.versus.peer == "litert:xnnpack" and best.versus.peer_ns == 800.0
    assert best.versus.ratio.ratio == pytest.approx(800 / 1500, rel=0.05) and best.versus.winner == "peer"
    int8 = choices(decision)[("gru_b", "int8")]  # no int8 of ours: the peer's int8 row is the best there
    assert int8.series == "litert:int8" and int8.role == "peer" and int8.versus is None
    table = decision_table(decision)
    line, peer_line = table.records()
    assert line["best"] == "csimd:avx512 ★" and line["native"] == "40 ns"
    assert line["vs fastest peer"].startswith("litert:xnnpack is faster: 0.5")
    assert peer_line["best"] == "litert:int8 (peer)" and peer_line["vs fastest peer"] == ""
    assert any("a peer runtime is faster than our best on: gru_b float32 (litert:xnnpack)" in n for n in table.notes)


def test_with_only_peers_timed_the_best_peer_is_shown_as_such():
    decision = decide([row("litert", "xnnpack", 800.0, role="peer"), row("openvino", "f32", 900.0, role="peer")])
    (choice,) = decision.choices
    assert choice.series == "litert:xnnpack" and choice.role == "peer" and choice.versus is None
    assert decision_table(decision).records()[0]["best"] == "litert:xnnpack (peer)"


def test_a_real_run_names_the_peer_that_beats_our_best(plugins, run_rows, tmp_path):
    """A real run through workers and parquet: the peer's rows say so, and both the end of the run and the
    report's first screen name it as faster than ours (ours waits half a millisecond in every call)."""
    from gemmbench.cases.suite import parse_suite
    from gemmbench.data.results import load_results
    from gemmbench.measure.runner import RunOptions, run_suite
    from gemmbench.report import content
    from gemmbench.report import data as report_data
    from gemmbench.report.summary import summary

    suite = parse_suite("name: peers\nbackends: [test-dawdle, test-peer]\ndefaults: {warmup: 0.001, min_time: 0.0002, "
                        "samples: 5, max_time: 0.05, timeout: 30}\ncases: [{name: small, m: 16, k: 8}]\n")
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path, progress=False))
    frame = load_results(outcome.path)
    assert dict(zip(frame["backend"], frame["role"])) == {"test-dawdle": "ours", "test-peer": "peer"}
    assert not frame["reference_only"].any()
    at_the_end = next(t for t in summary(outcome.rows) if t.title.startswith("best per case"))
    report = content.decision_table(content.decision(report_data.load([outcome.path])))
    for table in (at_the_end, report):
        (line,) = table.records()
        assert line["best"] == "test-dawdle:default"
        assert line["vs fastest peer"].startswith("test-peer:default is faster")
