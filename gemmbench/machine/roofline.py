"""The machine's roof: peak arithmetic per ISA level and read bandwidth per cache level.

Small C probes (gemmbench/probes/roofline.c, compiled per ISA level like the kernels) run
pinned to one CPU: a multiply-add loop with enough independent chains to reach peak
throughput, an int8 dot-product loop (VNNI `vpdpbusd`, else maddubs), and a read sweep over
working sets from 16 KiB to 512 MiB (at most a quarter of the machine's memory).

The levels come from the sweep itself: its plateaus (runs of working sets read at about the
same bandwidth) and the knees between them. The cache sizes sysfs reports only name them, and
the bound uses the reach each plateau showed, never more than sysfs says: on a VM the L3
share one tenant gets can be far below the L3 sysfs reports. The memory level is measured
only when the sweep goes past the last cache plateau; otherwise it is reported as not
measured and the bound uses the last level measured beyond it (an optimistic roof).

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
import itertools
import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gemmbench.cases.workload import aligned_empty
from gemmbench.data import atomic
from gemmbench.machine import caches as sysfs_caches
from gemmbench.machine import fingerprint as machine
from gemmbench.machine import isa, native

PROBE_SOURCES = [Path(__file__).resolve().parent.parent / "probes" / "roofline.c"]
SWEEP_MIN, SWEEP_MAX = 16 << 10, 512 << 20
LEVELS = ("L1", "L2", "L3", "memory")
SAMPLES = 5
SAMPLE_NS = 10_000_000  # each probe sample runs about this long


@dataclass(frozen=True)
class Plateau:
    """A run of the sweep read at about one bandwidth."""

    first: int  # smallest working set on it, bytes
    last: int  # largest
    values: tuple[float, ...]  # GB/s of each working set on it

    @property
    def gbps(self) -> float:
        return statistics.median(self.values)


@dataclass(frozen=True)
class Level:
    """A plateau of the sweep, named after the cache (or memory) that serves it."""

    name: str  # L1, L2, L3 or memory
    gbps: float  # median bandwidth of its plateau
    first: int  # smallest and largest working set measured on its plateau
    last: int
    reach: int | None  # bytes it serves at that bandwidth (knee to the next plateau, at most sysfs' size); None: memory
    cache: int | None  # the size sysfs reports for it (None: memory, or sysfs silent)


ROOF_FORMAT = 2  # 2: the half-precision probe (peak_half_gflops)


@dataclass(frozen=True)
class Roof:
    feature_key: str
    measured: str  # ISO timestamp
    cpu: int  # the CPU the probes ran on
    peak_gflops: dict[str, float]  # float32 multiply-add, by ISA level
    peak_int8_gops: dict[str, float]  # u8 x s8 dot products (2 ops per multiply-add), by ISA level
    sweep: list[tuple[int, float]]  # (working set bytes, GB/s)
    caches: dict[str, int]  # cache level -> bytes of one cache, as sysfs says (per core for L1/L2)
    bandwidth: dict[str, float]  # level -> GB/s of its plateau in the sweep (measured levels only)
    levels: tuple[Level, ...] = ()  # the plateaus found in the sweep, named
    notes: tuple[str, ...] = ()  # levels not measured, and what the bound uses instead
    clock_ghz: float = 0.0  # core clock while the probes ran (0: not measured); the in-core bound uses it
    # bf16 dot products (vdpbf16ps) or fp16 multiply-adds (vfmadd231ph), by the ISA level that has them
    peak_half_gflops: dict[str, float] = field(default_factory=dict)
    format: int = ROOF_FORMAT  # what the probes measured; a cached roof of an older format is measured again

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Roof":
        data = json.loads(text)
        data["sweep"] = [tuple(p) for p in data["sweep"]]
        data["levels"] = tuple(Level(**level) for level in data.get("levels", ()))
        data["notes"] = tuple(data.get("notes", ()))
        data.setdefault("format", 1)  # cached before the format was recorded
        return cls(**data)

    def hierarchy(self) -> list[tuple[str, float, int | None]]:
        """(level, GB/s, bytes it serves at that rate; None for memory) from the fastest level out.

        Roofs cached before levels came from the sweep's knees use the sysfs sizes."""
        if self.levels:
            return [(level.name, level.gbps, level.reach) for level in self.levels]
        return [(name, self.bandwidth[name], self.caches.get(name)) for name in LEVELS
                if name in self.bandwidth and (name == "memory" or name in self.caches)]


# ---------------------------------------------------------------- probes

def _library(level: str) -> ctypes.CDLL:
    lib = native.load(PROBE_SOURCES, level, name="roofline")
    for fn, res, args in (("gb_probe_fma", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p]),
                          ("gb_probe_int8", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p]),
                          ("gb_probe_read", ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                                             ctypes.c_void_p]),
                          ("gb_probe_chains", ctypes.c_int, []), ("gb_probe_fma_lanes", ctypes.c_int, []),
                          ("gb_probe_int8_macs", ctypes.c_int, []), ("gb_probe_clock_cycles", ctypes.c_int, []),
                          ("gb_probe_half", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p]),
                          ("gb_probe_half_flops", ctypes.c_int, []),
                          ("gb_probe_clock", ctypes.c_int64, [ctypes.c_int64, ctypes.c_void_p])):
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


def _peak_fma(lib: ctypes.CDLL) -> float:
    """GFLOP/s of float32 multiply-add on one core."""
    sink = ctypes.c_float()
    flops = 2 * lib.gb_probe_fma_lanes() * lib.gb_probe_chains()
    return _best_rate(lambda iters: lib.gb_probe_fma(iters, ctypes.byref(sink)), flops)


def _peak_int8(lib: ctypes.CDLL) -> float:
    """G int8 operations per second (a multiply and an add per u8 x s8 product) on one core."""
    sink = ctypes.c_int32()
    ops = 2 * lib.gb_probe_int8_macs() * lib.gb_probe_chains()
    return _best_rate(lambda iters: lib.gb_probe_int8(iters, ctypes.byref(sink)), ops)


def _peak_half(lib: ctypes.CDLL) -> float:
    """GFLOP/s of the level's bf16 dot product or fp16 multiply-add instruction on one core."""
    sink = ctypes.c_float()
    flops = lib.gb_probe_half_flops() * lib.gb_probe_chains()
    return _best_rate(lambda iters: lib.gb_probe_half(iters, ctypes.byref(sink)), flops)


CLOCK_CHAIN = 20_000  # multiplies per clock sample: about 15 us, short enough to run between preemptions
CLOCK_SAMPLES = 200


def clock_ghz(lib: ctypes.CDLL) -> float:
    """The core clock in GHz (0: unknown), from the fastest of many short timings of a dependent
    multiply chain: on a shared machine most long samples are preempted, some short ones are not."""
    cycles, sink = lib.gb_probe_clock_cycles(), ctypes.c_int64()
    if not cycles:
        return 0.0
    fastest = min(lib.gb_probe_clock(CLOCK_CHAIN, ctypes.byref(sink)) for _ in range(CLOCK_SAMPLES))
    return cycles * CLOCK_CHAIN / max(fastest, 1)


def _read_bandwidth(lib: ctypes.CDLL, size: int) -> float:
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


def _cache_sizes() -> dict[str, int]:
    """Data/unified cache sizes from sysfs: bytes of one cache per level (L1, L2 per core; L3 shared)."""
    return sysfs_caches.data_cache_sizes(sysfs_caches.caches())


# ---------------------------------------------------------------- levels from the sweep

# Two runs of the sweep are told apart as levels when their bandwidths differ by more than about
# this factor: cache levels differ by 1.5-5x, the noise and slope within one level by less.
STEP = 1.4
_SPLIT_COST = math.log(STEP) ** 2  # squared log-bandwidth error a new segment must save


def _segments(logs: list[float]) -> list[tuple[int, int]]:
    """The piecewise-constant fit of `logs` with least squared error plus _SPLIT_COST per segment."""
    n = len(logs)

    def error(i: int, j: int) -> float:
        part = logs[i:j]
        mean = sum(part) / len(part)
        return sum((v - mean) ** 2 for v in part)

    best = [0.0] + [math.inf] * n
    start = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + error(i, j) + _SPLIT_COST
            if cost < best[j]:
                best[j], start[j] = cost, i
    bounds, j = [], n
    while j > 0:
        bounds.append((start[j], j))
        j = start[j]
    return bounds[::-1]


def _running_median(values: list[float]) -> list[float]:
    """Median of each value and its neighbours: drops a lone outlier (another tenant's burst), keeps every step."""
    inner = [statistics.median(values[i - 1:i + 2]) for i in range(1, len(values) - 1)]
    return [values[0], *inner, values[-1]] if len(values) > 1 else list(values)


def _find_plateaus(sweep: list[tuple[int, float]]) -> list[Plateau]:
    """Plateaus of a bandwidth sweep, fastest first. A lone working set between two plateaus is
    a knee, not a level (except the first one: the sweep starts inside L1); neighbours within
    STEP of each other, or out of order, are one level seen twice (noise, TLB reach)."""
    points = sorted((size, bw) for size, bw in sweep if bw > 0)
    if not points:
        return []
    runs = [points[i:j] for i, j in _segments(_running_median([math.log(bw) for _, bw in points]))]
    runs = [run for index, run in enumerate(runs) if len(run) > 1 or index == 0]
    plateaus: list[Plateau] = []
    for run in runs:
        here = Plateau(run[0][0], run[-1][0], tuple(bw for _, bw in run))
        if plateaus and here.gbps * STEP > plateaus[-1].gbps:
            previous = plateaus.pop()
            here = Plateau(previous.first, here.last, previous.values + here.values)
        plateaus.append(here)
    return plateaus


def _knee(plateau: Plateau, following: Plateau | None) -> int | None:
    """Where a plateau ends: midway (geometrically) between its last working set and the next plateau's first."""
    return None if following is None else int(math.sqrt(plateau.last * following.first))


def _cache_names(plateaus: list[Plateau], caches: dict[str, int], memory: Plateau | None) -> list[str]:
    """A cache name for each cache plateau, in order: the in-order naming whose caches' sizes lie
    nearest the plateaus' knees (a plateau the sweep ended on has no knee and fits any)."""
    names = sorted(caches, key=caches.get)
    names += [f"L{len(names) + i + 1}" for i in range(len(plateaus) - len(names))]  # levels sysfs does not name
    followers = [*plateaus[1:], memory]
    knees = [_knee(plateau, following) for plateau, following in zip(plateaus, followers)]

    def misfit(naming: tuple[str, ...]) -> float:
        return sum(abs(math.log(knee / caches[name])) for knee, name in zip(knees, naming) if knee and name in caches)

    return list(min(itertools.combinations(names, len(plateaus)), key=misfit))


def levels(sweep: list[tuple[int, float]], caches: dict[str, int]) -> tuple[list[Level], list[str]]:
    """The sweep's plateaus named as cache levels and memory, and notes on what was not measured.

    The last plateau is memory when it starts at or beyond the largest cache sysfs names, or when
    there are more plateaus than caches.
    """
    plateaus = _find_plateaus(sweep)
    if not plateaus:
        return [], ["the bandwidth sweep measured nothing"]
    beyond = bool(caches) and plateaus[-1].first >= max(caches.values())  # a full cache thrashes
    memory = plateaus[-1] if len(plateaus) > 1 and (beyond or len(plateaus) > len(caches)) else None
    cached = plateaus[:-1] if memory else plateaus
    names = _cache_names(cached, caches, memory)
    found = []
    for plateau, name, following in zip(cached, names, [*cached[1:], memory]):
        knee = _knee(plateau, following)
        reach = min(knee, caches.get(name, knee)) if knee else caches.get(name, plateau.last)
        found.append(Level(name, plateau.gbps, plateau.first, plateau.last, reach, caches.get(name)))
    tried = sysfs_caches.format_size(max(size for size, _ in sweep))
    notes = [f"{name}: not measured (" + (f"the sweep stopped at {tried})" if size > cached[-1].last else
                                          "no plateau of its own in the sweep: not told apart from its neighbours)")
             for name, size in caches.items() if name not in names]
    if memory is not None:
        found.append(Level("memory", memory.gbps, memory.first, memory.last, None, None))
    else:
        last = found[-1]
        notes.append(f"memory: not measured (the sweep, up to {tried}, found no plateau beyond {last.name}'s); "
                     f"beyond {last.name} the bound uses {last.name}'s {last.gbps:.0f} GB/s, an optimistic roof")
    return found, notes


def _measuring_cpu() -> int:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return cpus[-1]  # the CPU single-thread workers use


def sweep_sizes(max_bytes: int = SWEEP_MAX, memory: int | None = None) -> list[int]:
    """Working sets of the sweep: doubling from SWEEP_MIN to max_bytes, and to at most a quarter of memory."""
    memory = machine.physical_memory() if memory is None else memory
    top = min(max_bytes, memory // 4)
    return [SWEEP_MIN << i for i in range(int(math.log2(max(top, SWEEP_MIN) // SWEEP_MIN)) + 1)]


def _measure_roof(max_bytes: int = SWEEP_MAX) -> Roof:
    """Run the probes here; pinned to one CPU by the caller (see measure_in_worker)."""
    usable = [level.name for level in isa.levels_for() if not native.missing_cpu_flags(level) and level.probed]
    cpu = _measuring_cpu()
    libs = {name: _library(name) for name in usable}
    peak = {name: _peak_fma(lib) for name, lib in libs.items() if "float32" in isa.get(name).gains}
    int8 = {name: _peak_int8(lib) for name, lib in libs.items() if "int8" in isa.get(name).gains}
    half = {name: _peak_half(lib) for name, lib in libs.items() if lib.gb_probe_half_flops()}
    widest = libs[max(peak, key=isa.rank)]
    sweep = [(size, _read_bandwidth(widest, size)) for size in sweep_sizes(max_bytes)]
    clock = clock_ghz(widest)
    caches = _cache_sizes()
    found, notes = levels(sweep, caches)
    if sweep[-1][0] < max_bytes:
        notes.append(f"the sweep stopped at {sysfs_caches.format_size(sweep[-1][0])}, a quarter of this machine's "
                     f"memory, short of the {sysfs_caches.format_size(max_bytes)} asked for")
    return Roof(machine_key(), dt.datetime.now(dt.timezone.utc).isoformat(), cpu, peak, int8, sweep, caches,
                {level.name: level.gbps for level in found}, tuple(found), tuple(notes), clock, half)


def machine_key() -> str:
    return machine.machine_key()


def cache_file() -> Path:
    import socket

    return native.cache_dir() / "roofline" / f"{machine_key()}-{socket.gethostname()}.json"


def load_or_measure(refresh: bool = False, max_bytes: int = SWEEP_MAX) -> Roof:
    """The cached roof of this machine, measured (and cached) when absent or asked to."""
    path = cache_file()
    if path.exists() and not refresh:
        try:
            cached = Roof.from_json(path.read_text())
            if cached.format == ROOF_FORMAT:
                return cached
        except (ValueError, TypeError, KeyError):
            pass  # an unreadable cache, or one from older probes, is measured again
    roof = measure_in_worker(max_bytes)
    atomic.write_bytes(path, roof.to_json().encode())
    return roof


def measure_in_worker(max_bytes: int = SWEEP_MAX) -> Roof:
    """The probes in a child process pinned to the CPU single-threaded rows use, like every other
    measurement: the process that asked keeps its own affinity."""
    import subprocess
    import sys

    from gemmbench.errors import UsageError
    from gemmbench.measure.supervisor import PACKAGE_PARENT, child_setup

    proc = subprocess.run([sys.executable, "-m", "gemmbench.machine.roofline", str(max_bytes)], capture_output=True,
                          text=True, cwd=PACKAGE_PARENT, preexec_fn=child_setup({_measuring_cpu()}, None))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"measuring the roofline failed: {last}")
    return Roof.from_json(proc.stdout)


# ---------------------------------------------------------------- per-row bound

INDEX_BYTES = 4  # one int32 per stored block and per block row in the block-sparse formats
ELEMENT_BYTES = {"int8": 1, "bf16": 2, "fp16": 2}  # a stored weight in a precision narrower than the case dtype


def _element(row: dict) -> int:
    return ELEMENT_BYTES.get(row.get("precision") or "", np.dtype(row["dtype"]).itemsize)


def _blocks(row: dict) -> tuple[int, int] | None:
    """(stored blocks, block height) of a block-sparse row's kernel; None when it multiplies densely."""
    sparsity = row.get("sparsity") or ""
    if not sparsity or row.get("backend") == "numpy":  # numpy multiplies the pruned matrix dense
        return None
    rows, cols = (int(v) for v in sparsity.split("@")[0].split("x"))
    return round(float(row["density"]) * int(row["m"]) * int(row["k"])) // (rows * cols), rows


def weight_bytes(row: dict) -> int:
    """Bytes of weights (and block index) the row's kernel reads per call, as stored."""
    m, k, blocks = int(row["m"]), int(row["k"]), _blocks(row)
    if blocks is None:
        return m * k * _element(row)
    nonzeros = round(float(row["density"]) * m * k)
    return nonzeros * _element(row) + INDEX_BYTES * (blocks[0] + m // blocks[1])


def intensity(row: dict) -> float:
    """Useful operations per byte moved: weights as stored, input in the kernel's precision, float32 output."""
    precision = row.get("precision") or row["dtype"]
    element = 1 if precision == "int8" else np.dtype(row["dtype"]).itemsize
    n = int(row["n"])
    moved = weight_bytes(row) + element * int(row["k"]) * n + np.dtype(row["dtype"]).itemsize * int(row["m"]) * n
    return row["useful_flops"] / moved


def level_of(size: int, roof: Roof) -> str:
    """The level `size` bytes fit in: the first measured cache level whose reach holds them, else memory."""
    return next((name for name, _, reach in roof.hierarchy() if reach is not None and size <= reach), "memory")


def attainable_bandwidth(size: int, roof: Roof) -> float:
    """GB/s for reading `size` bytes once per call when each level keeps what it holds of them.

    Where memory was not measured, what the caches cannot hold is read at the last measured
    level's bandwidth: still an upper bound, only a looser one.
    """
    seconds, served, gbps = 0.0, 0, 0.0
    for _, gbps, reach in roof.hierarchy():
        holds = size if reach is None else min(size, reach)
        if holds > served:
            seconds += (holds - served) / gbps
            served = holds
        if served == size:
            break
    if served < size:
        seconds += (size - served) / gbps
    return size / seconds


def row_columns(roof: Roof, row: dict) -> dict:
    """roof_gflops, roof_pct, roof_level and weight_bytes for one result row (empty when n/a)."""
    if row.get("status") != "ok" or row.get("op") not in ("gemv", "gemm"):
        return {}
    if row.get("isa") in isa.LEVELS and not isa.get(row["isa"]).probed:
        return {}  # no probe measured this arithmetic's peak: a roof from another level's would be made up
    precision = row.get("precision") or row["dtype"]
    peaks = roof.peak_int8_gops if precision == "int8" else roof.peak_gflops
    if precision in ("bf16", "fp16") and row.get("isa") in roof.peak_half_gflops:
        peaks = roof.peak_half_gflops  # the kernel computes with the level's bf16/fp16 instruction, not FMA
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
            "weight_bytes": weights, **_core_columns(roof, row, time)}


# ---------------------------------------------------------------- in-core bound

# A block-sparse kernel whose weights sit in L1 and L2 runs out of issue slots before bandwidth:
# each block costs a load of its weights, a broadcast load of its activations and (a share of)
# an index load, whatever its size, so its bound is blocks per cycle, not bytes per second. One
# block per cycle is what a core issuing three loads a cycle can reach with these three loads.
# It is a separate bound beside the roof, never folded into roof_gflops.
BLOCKS_PER_CYCLE = 1.0


def _core_columns(roof: Roof, row: dict, time_ns: float) -> dict:
    """core_bound_ns and core_pct of a block-sparse row (empty when dense or the clock is unknown)."""
    blocks = _blocks(row)
    if blocks is None or not roof.clock_ghz:
        return {}
    bound = blocks[0] / (BLOCKS_PER_CYCLE * roof.clock_ghz)
    return {"core_bound_ns": bound, "core_pct": 100 * bound / time_ns}


if __name__ == "__main__":  # measure_in_worker's child: already pinned
    print(_measure_roof(int(__import__("sys").argv[1])).to_json())
