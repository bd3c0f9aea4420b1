"""`iir_bank`: B signals of T samples through a bank of F filters, each a cascade of S biquads.

The op is stateful: a call filters the next T samples of each signal's stream, continuing from
the state the previous call left (the harness passes the same `x` every call, so call k filters
the k-th repetition of it). `verify` checks a first call from the reset state and a second one
that must continue it.

Outputs: `full` writes every filtered sample, (B, F, T); `energy` writes each band's energy (sum
of squares) per frame of `frame` samples, (B, F, T / frame).

Work, counted per section-sample as 9 FLOPs (5 multiplies, 4 adds: transposed direct form II,
y = b0 x + s1, s1' = b1 x - a1 y + s2, s2' = b2 x - a2 y), whatever a method really does (a
block GEMM does more, so its GFLOP/s is the rate of useful work); `energy` adds 2 per
filter-sample (square, accumulate).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmbench.op import Calls, Case, Column, Counts, Op, Workload
from gemmbench.ops import iir_design as design
from gemmbench.ops import iir_reference as reference
from gemmbench.report.kinds import PlotKind

if TYPE_CHECKING:
    from gemmbench.measure.verify import Verdict

FLOPS_PER_SECTION_SAMPLE = 9
FLOPS_PER_ENERGY_SAMPLE = 2
RADIUS_RANGE = (0.9, 0.9999)
# float32 tolerance: 1e-4 relative RMS while the largest pole radius is at most 0.999; beyond,
# it grows with the filters' memory, 1 / (1 - r) (the error a resonator accumulates does).
TOLERANCE_RADIUS = 0.999


@dataclass(frozen=True)
class IirBankSpec:
    b: int = 32  # signals
    t: int = 16000  # samples per signal and call
    f: int = 128  # filters
    s: int = 1  # biquad sections per filter
    sample_rate: float = 16000.0
    design: str = "mel"
    fmin: float = 50.0
    fmax: float = 7600.0
    q: float = 8.0
    pole_radius: float | None = None
    output: str = "full"
    frame: int = 160
    signal: str = "noise"

    @property
    def bank(self) -> design.BankDesign:
        return design.BankDesign(self.f, self.s, self.sample_rate, self.design, self.fmin, self.fmax, self.q,
                                 self.pole_radius)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.b, self.f, self.t if self.output == "full" else self.t // self.frame)


@dataclass(frozen=True, eq=False)
class IirBankWorkload(Workload):
    """x (B, T) and the first call's reference, plus what backends and verify need."""

    coeffs: np.ndarray = None  # (F, S, 5) b0 b1 b2 a1 a2 in the case dtype: what the backend gets
    state: np.ndarray = None  # float64 (F, S, B, 2): the reference's state after the first call

    @property
    def spec(self) -> IirBankSpec:
        return self.case.spec

    @property
    def sos(self) -> np.ndarray:
        """float64 (F, S, 6) of exactly the given coefficients."""
        return design.to_sos(self.coeffs.astype(np.float64))

    @functools.cached_property
    def second_reference(self) -> np.ndarray:
        """What a second call, continuing the first, must return (computed on first use, then kept)."""
        s = self.spec
        return reference.filter_bank(self.sos, self.x, s.output, s.frame, self.state).out


def block_gemm_flops(spec: IirBankSpec, length: int) -> int:
    """FLOPs of a block-form call's matrix products: the Toeplitz (L x L, dense as BLAS runs it), the
    state's push (n x L) and read-out (L x n) per block and filter; the scan and the tail left out."""
    blocks, n = spec.t // length, 2 * spec.s
    return 2 * spec.b * spec.f * blocks * (length * length + 2 * n * length)


def tolerance(_max_radius: float, precision: str) -> float:
    from gemmbench.measure.verify import TOLERANCE

    base = TOLERANCE[precision]
    if _max_radius <= TOLERANCE_RADIUS:
        return base
    return base * (1.0 - TOLERANCE_RADIUS) / (1.0 - _max_radius)


def _max_radius(spec: IirBankSpec, dtype: str) -> float:
    coeffs = design.coefficients(spec.bank).astype(dtype)
    return float(design.pole_radii(coeffs).max())


def make(case: Case) -> IirBankWorkload:
    s: IirBankSpec = case.spec
    x = np.ascontiguousarray(design.signal(np.random.default_rng(case.seed), s.b, s.t, s.signal), dtype=case.dtype)
    given = np.ascontiguousarray(design.coefficients(s.bank), dtype=case.dtype)
    first = reference.filter_bank(design.to_sos(given.astype(np.float64)), x, s.output, s.frame)
    return IirBankWorkload(case, x, first.out, coeffs=given, state=first.state)


@functools.lru_cache(maxsize=64)
def rounding_error(case: Case) -> float:
    """What rounding the designed coefficients to the case dtype alone does to the output: relative
    RMS over the case's first signal (all filters, all samples, from rest), the designed float64
    coefficients against the given ones. One signal, so the supervisor can afford it per case; the
    signals are independent draws of the same noise, so the others tell the same."""
    s: IirBankSpec = case.spec
    if case.dtype == "float64":
        return 0.0
    x = design.signal(np.random.default_rng(case.seed), s.b, s.t, s.signal)[:1].astype(case.dtype)
    exact = design.coefficients(s.bank)
    given = reference.filter_bank(design.to_sos(exact.astype(case.dtype).astype(np.float64)), x, s.output, s.frame)
    return reference.rounding_error(design.to_sos(exact), given, x, s.output, s.frame)


def worse(first: "Verdict", second: "Verdict", label: str) -> "Verdict":
    """The verdict of two calls: the second's failure (named), else the larger error."""
    if not second.ok:
        return dataclasses.replace(second, message=f"{label}: {second.message}")
    return second if second.rel_err > first.rel_err else first


class IirBank(Op):
    name = "iir_bank"
    doc = "a bank of F IIR filters (cascades of S biquads) over B signals of T samples, state carried across calls"
    fields = {
        "b": "signals (default 32)",
        "t": "samples per signal and call (default 16000)",
        "f": "filters (default 128)",
        "s": "biquad sections per filter (default 1)",
        "sample_rate": "Hz (default 16000)",
        "design": "centre spacing: mel or log (default mel)",
        "fmin": "lowest centre in Hz (default 50)",
        "fmax": "highest centre in Hz, below sample_rate / 2 (default 7600)",
        "q": "quality of each band-pass section, > 0.5 (default 8)",
        "pole_radius": f"every pole at this radius, {RADIUS_RANGE[0]} to {RADIUS_RANGE[1]} (default: from q)",
        "output": "full (B, F, T) or energy (B, F, T / frame) (default full)",
        "frame": "samples per energy frame; divides t (default 160)",
        "signal": "noise, or burst (noise then silence: subnormal tails) (default noise)",
    }
    spec_type = IirBankSpec
    size_fields = ("b", "t", "f")
    columns = (
        Column("filter_samples_per_s", "float64", "B x F x T / median time"),
        Column("rtf_signal", "float64", "time to filter one signal through the bank over its duration (T / rate)"),
        Column("coef_rounding_err", "float64", "relative RMS error rounding the coefficients to the case dtype "
                                               "alone causes (designed float64 against given coefficients, first "
                                               "signal)"),
        Column("pole_radius_max", "float64", "largest pole radius of the given coefficients"),
        Column("write_floor_ns", "float64", "time to write the output once (full output; csimd measures it)"),
        Column("floor_ratio", "float64", "median time over write_floor_ns"),
        Column("block_length", "int64", "L of a block-form (GEMM) variant"),
        Column("gemm_gflops", "float64", "block form: its matrix products' FLOPs (Toeplitz as dense) over the median "
                                         "time"),
        Column("sgemm_gflops", "float64", "block form: the same Toeplitz products timed alone with np.matmul (part "
                                          "sgemm_same_shape)"),
    )

    plots = (PlotKind("filterbank", "Which way to run a filter bank",
                      "Each method's time per call (log) with its error against the float64 reference beside it, "
                      "per iir_bank case; the dotted line is the write floor of full outputs.",
                      "gemmbench.ops.iir_plot:method_plot"),)

    # ---- the case

    def spec(self, read: Any) -> IirBankSpec:
        d = IirBankSpec()
        b, t, f, s = (read.positive_int(k, getattr(d, k)) for k in ("b", "t", "f", "s"))
        rate = read.positive_number("sample_rate", d.sample_rate)
        radius = read.values.get("pole_radius")
        if radius is not None:
            if isinstance(radius, bool) or not isinstance(radius, (int, float)) \
                    or not RADIUS_RANGE[0] <= radius <= RADIUS_RANGE[1]:
                read.bad("pole_radius", f"must be between {RADIUS_RANGE[0]} and {RADIUS_RANGE[1]} "
                                        f"(poles inside the unit circle)")
                radius = None
            else:
                radius = float(radius)
        return IirBankSpec(b, t, f, s, rate, read.choice("design", design.DESIGNS, d.design),
                           read.positive_number("fmin", d.fmin), read.positive_number("fmax", d.fmax),
                           read.positive_number("q", d.q), radius,
                           read.choice("output", reference.OUTPUTS, d.output),
                           read.positive_int("frame", d.frame), read.choice("signal", design.SIGNALS, d.signal))

    def validate(self, spec: IirBankSpec, dtype: str) -> list[tuple[str, str]]:
        problems = []
        if spec.output == "energy" and spec.t % spec.frame:
            problems.append(("frame", f"must divide t = {spec.t} (energy per whole frame)"))
        if not spec.fmin < spec.fmax < spec.sample_rate / 2:
            problems.append(("fmax", f"must lie above fmin = {spec.fmin:g} and below sample_rate / 2 = "
                                     f"{spec.sample_rate / 2:g}"))
        if spec.q <= 0.5:
            problems.append(("q", "must exceed 0.5 (a band-pass with complex poles)"))
        return problems

    def memory_bytes(self, spec: IirBankSpec, dtype: str) -> int:
        out = math.prod(spec.out_shape)
        item = np.dtype(dtype).itemsize
        # x; the references of two calls (float64, both kept); the output; check()'s float64 temporaries
        return spec.b * spec.t * (8 + item) + out * (8 + 8 + item + 16)

    def label(self, case: Case) -> str:
        s = case.spec
        return f"B{s.b} F{s.f} T{s.t} S{s.s} {s.output}"

    # ---- data and work

    def make(self, case: Case) -> IirBankWorkload:
        return make(case)

    def counts(self, case: Case) -> Counts:
        s: IirBankSpec = case.spec
        filter_samples = s.b * s.f * s.t
        flops = FLOPS_PER_SECTION_SAMPLE * s.s * filter_samples
        if s.output == "energy":
            flops += FLOPS_PER_ENERGY_SAMPLE * filter_samples
        item = np.dtype(case.dtype).itemsize
        moved = item * (s.b * s.t + math.prod(s.out_shape) + s.f * s.s * design.COEFFS)
        return Counts(flops=flops, bytes=moved)

    def case_columns(self, case: Case) -> dict:
        return {"coef_rounding_err": rounding_error(case), "pole_radius_max": _max_radius(case.spec, case.dtype)}

    def derive(self, case: Case, row: dict, parts: dict[str, float] | None) -> dict:
        s: IirBankSpec = case.spec
        median = row["median_ns"]
        columns = {"filter_samples_per_s": s.b * s.f * s.t / median * 1e9,
                   "rtf_signal": (median / s.b) / (s.t / s.sample_rate * 1e9)}
        floors = [ns for name, ns in (parts or {}).items() if name.startswith("write_once")]
        if floors:
            floor = min(floors)
            columns.update(write_floor_ns=floor, floor_ratio=median / floor)
        length = row.get("block_length")  # reported by a block-form method's prepared bank
        if length:
            columns["gemm_gflops"] = block_gemm_flops(s, length) / median
            sgemm = (parts or {}).get("sgemm_same_shape")
            if sgemm:
                toeplitz = 2 * s.b * s.f * (s.t // length) * length * length
                columns["sgemm_gflops"] = toeplitz / sgemm
        return columns

    def roof(self, case: Case, row: dict, roof: Any) -> dict:
        """Energy: the level's float32 FMA peak; full: also bounded by writing the output at the
        memory bandwidth (read bandwidth stands in for write: the floor column is the measured one)."""
        if row.get("status") != "ok" or not roof.peak_gflops:
            return {}
        peak = roof.peak_gflops.get(row.get("isa") or "") or max(roof.peak_gflops.values())
        if case.dtype == "float64":
            peak /= 2
        counts = self.counts(case)
        attainable, level = peak, "compute"
        if case.spec.output == "full" and "memory" in roof.bandwidth:
            attainable = min(peak, counts.flops / counts.bytes * roof.bandwidth["memory"])
            level = "memory" if attainable < peak else "compute"
        time = row.get("native_median_ns")
        if time is None or (isinstance(time, float) and math.isnan(time)):
            time = row["median_ns"]
        return {"roof_gflops": attainable, "roof_pct": 100 * counts.useful / time / attainable, "roof_level": level}

    # ---- judging a backend

    def tolerance(self, case: Case, precision: str) -> float:
        return tolerance(_max_radius(case.spec, case.dtype), precision)

    def verify(self, workload: IirBankWorkload, calls: Calls, precision: str, native: bool = False) -> "Verdict":
        """A first call from the reset state, then a second that must continue it."""
        from gemmbench.measure.verify import check

        limit = self.tolerance(workload.case, precision)
        call = calls.run_native if native and calls.run_native else calls.run
        calls.reset()
        calls.out.fill(math.nan)
        call()
        first = check(calls.out, workload.reference, precision, limit)
        if not first.ok:
            return first
        calls.out.fill(math.nan)
        call()
        return worse(first, check(calls.out, workload.second_reference, precision, limit),
                     "the second call (continuing the first)")
