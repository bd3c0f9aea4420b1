"""The project's one "best": per case and precision, by native time where measured, else the Python call."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gemmbench.stats.decide import decide, reference_only, speedup, time_of


def row(backend, variant, python_ns, native_ns=None, precision="float32", case="gru_b", **extra) -> dict:
    rng = np.random.default_rng(len(backend) + len(variant))
    spread = lambda ns: None if ns is None else list(ns * (1 + 0.02 * rng.standard_normal(25)))  # noqa: E731
    return {"run_id": "r1", "case": case, "threads": 1, "status": "ok", "backend": backend, "variant": variant,
            "precision": precision, "dtype": "float32", "median_ns": python_ns, "native_median_ns": native_ns,
            "samples_ns": spread(python_ns), "native_samples_ns": spread(native_ns), "snr_db": 140.0,
            "rel_err": 1e-7, "detail": "", **extra}


def choices(decision) -> dict:
    return {(c.case, c.precision): c for c in decision.choices}


def test_native_time_decides_not_the_python_call():
    """numpy's Python call (1.2 us) beats csimd's (1.5 us), but csimd's native loop takes 25 ns."""
    rows = [row("numpy", "matmul", 1200.0), row("csimd", "avx2", 1500.0, 25.0)]
    best = choices(decide(rows, is_reference=lambda b, v: False))[("gru_b", "float32")]
    assert best.series == "csimd:avx2" and best.figure == "native"
    assert (best.native_ns, best.python_ns) == (25.0, 1500.0)  # both shown
    assert best.speedup.ratio == pytest.approx(1200 / 25)
    assert best.speedup.low < best.speedup.ratio < best.speedup.high


def test_one_best_per_precision_and_reference_rows_are_folded_away():
    rows = [row("numpy", "matmul", 30000.0), row("csimd", "avx512", 20000.0, 16000.0),
            row("csimd", "avx512vnni-int8", 5000.0, 3000.0, precision="int8", snr_db=41.8),
            row("int8-numpy", "w127-row-u8off", 200.0, precision="int8")]  # a (pretend) fast reference
    decision = decide(rows, is_reference=lambda b, v: b == "int8-numpy")
    found = choices(decision)
    assert list(found) == [("gru_b", "float32"), ("gru_b", "int8")]
    assert found[("gru_b", "int8")].series == "csimd:avx512vnni-int8" and found[("gru_b", "int8")].snr_db == 41.8
    assert found[("gru_b", "int8")].fastest and not found[("gru_b", "float32")].fastest
    assert decision.folded == (("int8-numpy", 1),) and "int8-numpy: 1 timed row" in decision.folded_text()


def test_the_baseline_can_be_best_and_untimed_cases_are_named():
    rows = [row("numpy", "matmul", 100.0), row("csimd", "avx2", 900.0, 300.0),
            {**row("csimd", "avx2", math.nan, case="other"), "status": "wrong"}]
    decision = decide(rows, is_reference=lambda b, v: False)
    best = choices(decision)[("gru_b", "float32")]
    assert best.is_baseline and best.series == "numpy:matmul"
    assert decision.untimed == ("other",)


def test_vocoder_steps_carry_the_real_time_factor_of_the_winning_figure():
    step = row("csimd", "avx2", 80_000.0, 40_000.0, case="lpcnet", rtf=0.08, native_rtf=0.04)
    best = choices(decide([step], is_reference=lambda b, v: False))[("lpcnet", "float32")]
    assert best.rtf == 0.04 and best.speedup is None  # no baseline row: no speed-up


def test_speedup_of_rows_without_samples_has_no_interval():
    a, b = row("csimd", "avx2", 100.0), row("numpy", "matmul", 200.0)
    a["samples_ns"] = None
    interval = speedup(a, b)
    assert interval.ratio == 2.0 and math.isnan(interval.low) and interval.text() == "2×"
    assert time_of({"median_ns": 5.0, "native_median_ns": math.nan}) == (5.0, "python")


def test_int8_numpy_declares_its_schemes_reference_only():
    assert reference_only("int8-numpy", "w127-row-u8off") and not reference_only("csimd", "avx2")
    assert not reference_only("no-such-backend", "x") and not reference_only("int8-numpy", "no-such-scheme")


def test_the_fastest_from_python_is_named_where_a_native_loop_wins_the_case():
    from gemmbench.stats.decide import decide

    rows = [{"run_id": "r", "case": "gru_b", "threads": 1, "backend": "numpy", "variant": "matmul", "status": "ok",
             "median_ns": 1200.0, "dtype": "float32", "precision": "float32"},
            {"run_id": "r", "case": "gru_b", "threads": 1, "backend": "csimd", "variant": "avx512", "status": "ok",
             "median_ns": 1600.0, "native_median_ns": 50.0, "dtype": "float32", "precision": "float32"}]
    decision = decide(rows, is_reference=lambda backend, variant: False)
    (choice,) = decision.choices
    assert choice.series == "csimd:avx512" and choice.from_python == "numpy:matmul (1.2 us)"
    rows[1]["median_ns"] = 1000.0  # faster from Python too: nothing more to say
    assert decide(rows, is_reference=lambda backend, variant: False).choices[0].from_python == ""
