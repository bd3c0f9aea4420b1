"""The correctness gate: a backend's output against the float64 reference, before any timing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Largest relative error (||out - ref||_2 / ||ref||_2) accepted for the arithmetic a kernel uses:
# a few times the worst error the arithmetic gives when it works, so a row past it is broken, not
# merely coarse. float32 sums of a few thousand terms stay near 1e-6; Strassen levels add a little.
# int8 with 7- or 8-bit weights lands near 1-2%: 5% (SNR 26 dB) means a lost row or a wrong scale.
# bf16 keeps 8 significant bits (each weight, and with vdpbf16ps each activation, off by at most
# 2^-9 = 0.2% relative; a dot product's term errors mostly cancel): 1% (SNR 40 dB), far below int8.
# fp16 keeps 11 (2^-11 = 0.05%), and may sum 8 products a lane in fp16: 0.2% (SNR 54 dB). The errors
# these were set from: docs/csimd.md, "Schemes and references" (figures in docs/journal/).
TOLERANCE = {"float64": 1e-10, "float32": 1e-4, "bf16": 1e-2, "fp16": 2e-3, "int8": 5e-2}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    max_abs_err: float
    rel_err: float
    snr_db: float
    tolerance: float
    message: str = ""
    columns: dict = field(default_factory=dict)  # op columns the judging found (lpcnet_step's tree: flipped draws)


def check(output: np.ndarray, reference: np.ndarray, precision: str, tolerance: float | None = None) -> Verdict:
    """Relative error of `output` against the float64 `reference`, judged at `tolerance`
    (default: the precision's entry in TOLERANCE)."""
    tolerance = TOLERANCE[precision] if tolerance is None else tolerance
    if output.shape != reference.shape:
        return Verdict(False, math.nan, math.nan, math.nan, tolerance,
                       f"output shape {output.shape} != reference shape {reference.shape}")
    diff = output.astype(np.float64) - reference
    if not np.all(np.isfinite(diff)):
        bad = int(np.count_nonzero(~np.isfinite(diff)))
        return Verdict(False, math.inf, math.inf, -math.inf, tolerance, f"{bad} non-finite output values")
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    ref_norm = float(np.linalg.norm(reference))
    err_norm = float(np.linalg.norm(diff))
    if ref_norm == 0 and err_norm > 0:  # nothing to be relative to: any nonzero output is wrong
        return Verdict(False, max_abs, math.inf, -math.inf, tolerance,
                       f"the reference is all zeros and the output is not (largest value {max_abs:.3g})")
    rel, snr = relative(err_norm, ref_norm)
    if rel <= tolerance:
        return Verdict(True, max_abs, rel, snr, tolerance)
    return Verdict(False, max_abs, rel, snr, tolerance,
                   f"relative error {rel:.3g} exceeds the {precision} tolerance {tolerance:g}")


def relative(err_norm: float, ref_norm: float) -> tuple[float, float]:
    """(relative error, SNR in dB) of an error against a reference, by their norms; an exact zero
    reference and output are exact, an error against a zero reference is infinitely wrong."""
    if err_norm == 0:
        return 0.0, math.inf
    if ref_norm == 0:
        return math.inf, -math.inf
    return err_norm / ref_norm, 20 * math.log10(ref_norm / err_norm)


def combine(verdicts: list[Verdict], reference_norms: list[float], precision: str, tolerance: float) -> Verdict:
    """One verdict over several inputs: the relative error of all their outputs together
    (||all errors|| / ||all references||), judged at `tolerance`; a broken input (shape,
    non-finite values) breaks the whole."""
    for index, verdict in enumerate(verdicts):
        if not verdict.ok and not math.isfinite(verdict.rel_err):
            return Verdict(False, verdict.max_abs_err, verdict.rel_err, verdict.snr_db, tolerance,
                           f"input {index + 1} of {len(verdicts)}: {verdict.message}")
    errors = [v.rel_err * n if n > 0 else v.rel_err for v, n in zip(verdicts, reference_norms)]
    err_norm = math.sqrt(sum(e * e for e in errors))
    ref_norm = math.sqrt(sum(n * n for n in reference_norms))
    rel, snr = relative(err_norm, ref_norm)
    max_abs = max(v.max_abs_err for v in verdicts)
    if rel <= tolerance:
        return Verdict(True, max_abs, rel, snr, tolerance)
    return Verdict(False, max_abs, rel, snr, tolerance,
                   f"relative error {rel:.3g} over {len(verdicts)} inputs exceeds the {precision} tolerance "
                   f"{tolerance:g}")
