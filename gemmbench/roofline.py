"""The machine's roof: peak arithmetic per ISA level and read bandwidth per cache level.

Small C probes (gemmbench/probes/roofline.c, compiled per ISA level like the kernels) run
pinned to one CPU: a multiply-add loop with enough independent chains to reach peak
throughput, an int8 dot-product loop (VNNI `vpdpbusd`, else maddubs), and a read sweep over
working sets from 16 KiB to 512 MiB. Plateaus are read per cache level: the median
bandwidth of the working sets that fit well inside a level and not in the level below.

A row's attainable bound follows the roofline model: min(peak of its arithmetic, intensity x
the bandwidth its weights can be read at), with intensity = useful operations over the bytes
the kernel's storage format reads (weights as stored, index included, plus input and output).
A benchmark calls a kernel again and again, so the bandwidth is that of the best reuse the
hierarchy allows: every level keeps as much of the weights as it holds between calls, the
rest streams from the next level out (a kernel that alternates its direction gets this).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import math
import os
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gemmbench import atomic, isa, native
from gemmbench.machine import cpu_model, feature_key, simd_flags, cpu_flags
from gemmbench.workload import aligned_empty

PROBE_SOURCES = [Path(__file__).resolve().parent / "probes" / "roofline.c"]
SWEEP_MIN, SWEEP_MAX = 16 << 10, 512 << 20
LEVELS = ("L1", "L2", "L3", "memory")
SAMPLES = 5
SAMPLE_NS = 10_000_000  # each probe sample runs about this long


@dataclass(frozen=True)
class Roof:
    feature_key: str
    measured: str  # ISO timestamp
    cpu: int  # the CPU the probes ran on
    peak_gflops: dict[str, float]  # float32 multiply-add, by ISA level
    peak_int8_gops: dict[str, float]  # u8 x s8 dot products (2 ops per multiply-add), by ISA level
    sweep: list[tuple[int, float]]  # (working set bytes, GB/s)
    caches: dict[str, int]  # cache level -> bytes (per core for L1/L2)
    bandwidth: dict[str, float]  # level -> GB/s plateau

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Roof":
        data = json.loads(text)
        data["sweep"] = [tuple(p) for p in data["sweep"]]
        return cls(**data)


# ---------------------------------------------------------------- probes

def _library(level: str) -> ctypes.CDLL:
    lib = native.load(PROBE_SOURCES, level, name="roofline")
    for fn, res, args in (("gb_probe_fma", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p]),
                          ("gb_probe_int8", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p]),
                          ("gb_probe_read", ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                                             ctypes.c_void_p]),
                          ("gb_probe_chains", ctypes.c_int, []), ("gb_probe_fma_lanes", ctypes.c_int, []),
                          ("gb_probe_int8_macs", ctypes.c_int, [])):
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    return lib


def _best_rate(run, work_per_unit: float) -> float:
    """Operations (or bytes) per ns of the fastest of a few samples: peaks are what is attainable."""
    units = 1
    while run(units) < SAMPLE_NS / 10:  # calibrate so one sample lasts about SAMPLE_NS
        units *= 4
    units = max(1, int(units * SAMPLE_NS / max(run(units), 1)))
    return max(work_per_unit * units / max(run(units), 1) for _ in range(SAMPLES))


def peak_fma(lib: ctypes.CDLL) -> float:
    """GFLOP/s of float32 multiply-add on one core."""
    sink = ctypes.c_float()
    flops = 2 * lib.gb_probe_fma_lanes() * lib.gb_probe_chains()
    return _best_rate(lambda iters: lib.gb_probe_fma(iters, ctypes.byref(sink)), flops)


def peak_int8(lib: ctypes.CDLL) -> float:
    """G int8 operations per second (a multiply and an add per u8 x s8 product) on one core."""
    sink = ctypes.c_int32()
    ops = 2 * lib.gb_probe_int8_macs() * lib.gb_probe_chains()
    return _best_rate(lambda iters: lib.gb_probe_int8(iters, ctypes.byref(sink)), ops)


def read_bandwidth(lib: ctypes.CDLL, size: int) -> float:
    """GB/s reading a `size`-byte working set again and again (the median of a few samples)."""
    floats = max(128, size // 4 // 128 * 128)
    buf = aligned_empty((floats,), np.float32)
    buf.fill(1.0)
    sink = ctypes.c_float()
    address = buf.ctypes.data

    def run(reps: int) -> int:
        return lib.gb_probe_read(address, floats, reps, ctypes.byref(sink))

    reps = 1
    while run(reps) < SAMPLE_NS / 10:
        reps *= 2
    reps = max(1, int(reps * SAMPLE_NS / 2 / max(run(reps), 1)))
    samples = [floats * 4 * reps / max(run(reps), 1) for _ in range(SAMPLES)]
    return statistics.median(samples)


def cache_sizes() -> dict[str, int]:
    """Data/unified cache sizes of CPU 0 from sysfs (L1, L2 per core; L3 shared)."""
    sizes: dict[str, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")) if base.exists() else []:
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        multiplier = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
        sizes[f"L{level}"] = int(size.rstrip("KMG")) * multiplier
    return sizes


def plateaus(sweep: list[tuple[int, float]], caches: dict[str, int]) -> dict[str, float]:
    """Median bandwidth of working sets well inside each level (at most half of it, above the
    level below); memory: working sets at least four times the last level."""
    result = {}
    lower = 0
    for level in [lv for lv in LEVELS[:-1] if lv in caches]:
        inside = [bw for size, bw in sweep if lower < size <= caches[level] // 2]
        if inside:
            result[level] = statistics.median(inside)
        lower = caches[level]
    far = [bw for size, bw in sweep if size >= 4 * lower] if lower else []
    if far:
        result["memory"] = statistics.median(far)
    return result


def _pinned_cpu() -> int:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return cpus[-1]  # the CPU single-thread workers use


def measure(max_bytes: int = SWEEP_MAX) -> Roof:
    """Run the probes pinned to one CPU (the one single-threaded workers use)."""
    usable = [level.name for level in isa.levels_for() if not native.missing_cpu_flags(level)
              and {"float32", "int8"} & set(level.gains)]
    cpu = _pinned_cpu()
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if previous is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        libs = {name: _library(name) for name in usable}
        peak = {name: peak_fma(lib) for name, lib in libs.items() if "float32" in isa.get(name).gains}
        int8 = {name: peak_int8(lib) for name, lib in libs.items()}
        widest = libs[max(peak, key=isa.rank)]
        sizes = [SWEEP_MIN << i for i in range(int(math.log2(max_bytes // SWEEP_MIN)) + 1)]
        sweep = [(size, read_bandwidth(widest, size)) for size in sizes]
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    caches = cache_sizes()
    return Roof(machine_key(), dt.datetime.now(dt.timezone.utc).isoformat(), cpu, peak, int8, sweep, caches,
                plateaus(sweep, caches))


def machine_key() -> str:
    return feature_key(cpu_model(), simd_flags(cpu_flags()))


def cache_file() -> Path:
    import socket

    return native.cache_dir() / "roofline" / f"{machine_key()}-{socket.gethostname()}.json"


def load_or_measure(refresh: bool = False, max_bytes: int = SWEEP_MAX) -> Roof:
    """The cached roof of this machine, measured (and cached) when absent or asked to."""
    path = cache_file()
    if path.exists() and not refresh:
        try:
            return Roof.from_json(path.read_text())
        except (ValueError, TypeError, KeyError):
            pass  # an unreadable cache is measured again
    roof = measure(max_bytes)
    atomic.write_bytes(path, roof.to_json().encode())
    return roof


# ---------------------------------------------------------------- per-row bound

INDEX_BYTES = 4  # one int32 per stored block and per block row in the block-sparse formats


def weight_bytes(row: dict) -> int:
    """Bytes of weights (and block index) the row's kernel reads per call, as stored."""
    element = 1 if row.get("precision") == "int8" else np.dtype(row["dtype"]).itemsize
    m, k = int(row["m"]), int(row["k"])
    sparsity = row.get("sparsity") or ""
    if not sparsity or row.get("backend") == "numpy":  # numpy multiplies the pruned matrix dense
        return m * k * element
    rows, cols = (int(v) for v in sparsity.split("@")[0].split("x"))
    nonzeros = round(float(row["density"]) * m * k)
    blocks = nonzeros // (rows * cols)
    return nonzeros * element + INDEX_BYTES * (blocks + m // rows)


def intensity(row: dict) -> float:
    """Useful operations per byte moved: weights as stored, input in the kernel's precision, float32 output."""
    precision = row.get("precision") or row["dtype"]
    element = 1 if precision == "int8" else np.dtype(row["dtype"]).itemsize
    n = int(row["n"])
    moved = weight_bytes(row) + element * int(row["k"]) * n + np.dtype(row["dtype"]).itemsize * int(row["m"]) * n
    return row["useful_flops"] / moved


def level_of(size: int, roof: Roof) -> str:
    for level in LEVELS[:-1]:
        if level in roof.caches and level in roof.bandwidth and size <= roof.caches[level]:
            return level
    return "memory"


def attainable_bandwidth(size: int, roof: Roof) -> float:
    """GB/s for reading `size` bytes once per call when each level keeps what it holds of them."""
    seconds, served = 0.0, 0
    for level in LEVELS:
        if level not in roof.bandwidth or (level != "memory" and level not in roof.caches):
            continue
        holds = size if level == "memory" else min(size, roof.caches[level])
        if holds > served:
            seconds += (holds - served) / roof.bandwidth[level]
            served = holds
        if served == size:
            break
    return size / seconds


def row_columns(roof: Roof, row: dict) -> dict:
    """roof_gflops, roof_pct, roof_level and weight_bytes for one result row (empty when n/a)."""
    if row.get("status") != "ok" or row.get("op") not in ("gemv", "gemm"):
        return {}
    precision = row.get("precision") or row["dtype"]
    peaks = roof.peak_int8_gops if precision == "int8" else roof.peak_gflops
    peak = peaks.get(row.get("isa") or "") or max(peaks.values())
    if precision == "float64":
        peak /= 2
    weights = weight_bytes(row)
    level = level_of(weights, roof)
    attainable = min(peak, intensity(row) * attainable_bandwidth(weights, roof))
    time = row.get("native_median_ns")
    if time is None or (isinstance(time, float) and math.isnan(time)):
        time = row["median_ns"]
    achieved = row["useful_flops"] / time
    return {"roof_gflops": attainable, "roof_pct": 100 * achieved / attainable, "roof_level": level,
            "weight_bytes": weights}
