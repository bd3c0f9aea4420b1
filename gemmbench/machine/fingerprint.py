"""What makes a number reproducible: the machine, its ISA flags (real or simulated), BLAS, compiler, versions.

`cpu_flags()` is the one place every part of gemmbench asks which flags the CPU has: variant
availability, --isa, native builds, the feature key and the roofline probes. Under a
simulation (GEMMBENCH_CPU_FLAGS, gemmbench.machine.cpusim) it answers with the simulated set, and
`simulation_environment()` tells the libraries a worker loads to see the same smaller CPU.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from gemmbench.machine import caches, cpusim, featurekey
from gemmbench.machine.cpusim import SIMD_FLAG_PREFIXES  # noqa: F401  (re-exported: the flags that decide kernels)


@dataclass(frozen=True)
class Machine:
    host: str
    cpu_model: str
    cpu_flags: str  # SIMD-relevant flags, sorted, space separated
    cores: int
    os: str
    python_version: str
    numpy_version: str
    gemmbench_version: str
    git_sha: str
    compiler: str
    cpu_id: str = ""  # vendor-family-model (featurekey.CpuIdentity.slug); '' where the OS does not say
    cpu_simulation: str = ""  # what GEMMBENCH_CPU_FLAGS hid; '' on a real CPU

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def feature_key(self) -> str:
        return featurekey.compose(self.cpu_id or self.cpu_model, self.cpu_flags.split(), _key_flags(self.cpu_flags),
                                  simulated=bool(self.cpu_simulation))


def _proc_cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo, or {} where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


@functools.cache
def _py_cpuinfo() -> dict:
    # py-cpuinfo spawns a subprocess and takes about a second: only where /proc is silent.
    import cpuinfo

    return cpuinfo.get_cpu_info()


@functools.cache
def cpu_model() -> str:
    model = _proc_cpuinfo().get("model name")
    return model or _py_cpuinfo().get("brand_raw") or platform.processor() or "unknown"


@functools.cache
def cpu_identity() -> featurekey.CpuIdentity | None:
    """Vendor, family and model (x86) or implementer and part (aarch64), from CPUID as the OS reports it."""
    found = featurekey.identity(_proc_cpuinfo())
    if found is not None:
        return found
    info = _py_cpuinfo()
    fields = {"vendor_id": info.get("vendor_id_raw", ""), "cpu family": str(info.get("family", "")),
              "model": str(info.get("model", ""))}
    return featurekey.identity(fields)


@functools.cache
def real_cpu_flags() -> frozenset[str]:
    """Every CPU flag the OS reports (names as in /proc/cpuinfo: avx2, avx512f, avx512_vnni, ...).

    Under valgrind the flags CPUID hides are taken away: valgrind runs no AVX-512, and its CPUID
    says so while /proc/cpuinfo (the host's) does not."""
    from gemmbench.measure.instructions import under_valgrind

    fields = _proc_cpuinfo()
    flags = fields.get("flags", fields.get("Features"))
    flags = frozenset(flags.split()) if flags is not None else frozenset(_py_cpuinfo().get("flags", []))
    if under_valgrind():
        reported = _cpuid_flags()
        if reported is not None:
            flags = flags - (frozenset(CPUID_FLAGS) - reported)
    return flags


# The bits gemmbench/probes/cpuid.c returns, in order.
CPUID_FLAGS = ("fma", "avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
               "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "avx_vnni")


def _cpuid_flags() -> frozenset[str] | None:
    """The flags CPUID (with the OS's XGETBV state) reports, or None where it cannot be read."""
    import ctypes
    import platform

    from gemmbench.machine.compiler import NativeBuildError, build

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        lib = ctypes.CDLL(str(build([Path(__file__).resolve().parent.parent / "probes" / "cpuid.c"], "scalar",
                                    name="cpuid")))
    except (NativeBuildError, OSError):
        return None
    lib.gb_cpuid_flags.restype = ctypes.c_uint64
    bits = lib.gb_cpuid_flags()
    if not bits >> 63:
        return None
    return frozenset(name for i, name in enumerate(CPUID_FLAGS) if bits >> i & 1)


def simulation() -> cpusim.Simulation | None:
    """The CPU GEMMBENCH_CPU_FLAGS simulates (None when unset); a bad value is a UsageError."""
    return _simulation(os.environ.get(cpusim.ENV, ""))


@functools.cache
def _simulation(spec: str) -> cpusim.Simulation | None:
    return cpusim.parse(spec, real_cpu_flags())


def cpu_flags() -> frozenset[str]:
    """The flags this run may use: the real ones, less what a simulation hides. Ask here, nowhere else."""
    simulated = simulation()
    return real_cpu_flags() if simulated is None else simulated.flags


def _simd_flags(flags: frozenset[str] | set[str] | list[str]) -> list[str]:
    return sorted(f for f in flags if f.startswith(SIMD_FLAG_PREFIXES))


def _key_flags(flags: str | list[str] | frozenset[str]) -> tuple[str, ...]:
    from gemmbench.machine import isa

    present = set(flags.split() if isinstance(flags, str) else flags)
    return isa.key_flags(isa.arch_of(present))


def feature_key(model: str | featurekey.CpuIdentity, flags: list[str] | frozenset[str], simulated: bool = False) -> str:
    """A short, filesystem-safe key naming a CPU (its identity, else its model string) and the key flags it offers."""
    return featurekey.compose(model, flags, _key_flags(flags), simulated)


def machine_key() -> str:
    """This machine's feature key, as a run records it (simulation included)."""
    identity = cpu_identity()
    return feature_key(identity or cpu_model(), _simd_flags(cpu_flags()), simulated=simulation() is not None)



def simulation_environment() -> dict[str, str]:
    """Variables a worker process needs so the libraries it loads see the simulated CPU ({} on a real one).

    numpy gets the dispatch targets the simulated CPU lacks (NPY_DISABLE_CPU_FEATURES, added to
    any the user set); oneDNN and MKL a cap on their ISA; OpenBLAS a core type only when the
    one it picked here needs a hidden flag. What the worker's BLAS then really runs is what
    threadpoolctl reports into each row's `blas` column.
    """
    spec = os.environ.get(cpusim.ENV, "")
    return dict(_simulation_environment(spec, os.environ.get("NPY_DISABLE_CPU_FEATURES", ""))) if spec.strip() else {}


@functools.cache
def _simulation_environment(spec: str, user_disabled: str) -> tuple[tuple[str, str], ...]:
    from gemmbench.machine import isa

    simulated = _simulation(spec)
    env = cpusim.library_settings(simulated, _blas_cores(), isa.host_arch())
    disabled = user_disabled.replace(",", " ").split() + _numpy_disabled(simulated)
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(dict.fromkeys(disabled))
    return tuple(env.items())


def _numpy_disabled(simulated: cpusim.Simulation) -> list[str]:
    import numpy

    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath
    return cpusim.numpy_disabled(simulated, dict(umath.__cpu_features__), list(umath.__cpu_dispatch__),
                                 list(umath.__cpu_baseline__), numpy.__version__)


def _blas_cores() -> dict[str, str]:
    """{'OPENBLAS_CORETYPE': core} for the OpenBLAS numpy loaded here, as threadpoolctl names it."""
    cores = {lib.get("architecture") for lib in blas_libraries() if lib.get("internal_api") == "openblas"}
    cores.discard(None)
    return {"OPENBLAS_CORETYPE": sorted(cores)[0]} if cores else {}


def compiler() -> str:
    """The C compiler's version line (what the C kernels are built with), or '' when there is none."""
    from gemmbench.machine.compiler import NativeBuildError, compiler_identity

    try:
        return compiler_identity().version
    except NativeBuildError:
        return ""


@functools.cache
def git_sha() -> str:
    """The git revision of the gemmbench source that is running, '+dirty' when it has changes."""
    from gemmbench.machine import revision

    return revision.current()


def blas_libraries() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (import numpy first)."""
    from threadpoolctl import threadpool_info

    return threadpool_info()


def blas_summary(libraries: list[dict]) -> str:
    """'openblas 0.3.31 Haswell pthreads' for the BLAS libraries threadpoolctl found."""
    parts = []
    for lib in libraries:
        if lib.get("user_api") != "blas":
            continue
        words = [lib.get("internal_api", "?"), lib.get("version") or "?"]
        words += [lib[key] for key in ("architecture", "threading_layer") if lib.get(key)]
        parts.append(" ".join(str(w) for w in words))
    return "; ".join(parts) or "none"


WORKER_MEMORY_SHARE = 0.75  # default memory limit of a worker, as a share of physical memory


def default_worker_memory_limit() -> int:
    return int(physical_memory() * WORKER_MEMORY_SHARE)


def physical_memory() -> int:
    """Bytes of physical memory (1 TiB when the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def gemmbench_version() -> str:
    from gemmbench import __version__

    return __version__


def fingerprint() -> Machine:
    import numpy

    simulated = simulation()
    identity = cpu_identity()
    return Machine(
        host=socket.gethostname(),
        cpu_model=cpu_model(),
        cpu_flags=" ".join(_simd_flags(cpu_flags())),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        os=f"{platform.system()} {platform.release()}",
        python_version=platform.python_version(),
        numpy_version=numpy.__version__,
        gemmbench_version=gemmbench_version(),
        git_sha=git_sha(),
        compiler=compiler(),
        cpu_id=identity.slug if identity else "",
        cpu_simulation=simulated.describe() if simulated else "",
    )


def isa_levels() -> dict[str, str]:
    """The ISA levels of this architecture (gemmbench/machine/isa.py) this CPU runs, and those it lacks a flag for."""
    from gemmbench.machine import isa

    have = cpu_flags()
    levels = isa.levels_for()
    lacking = [f"{level.name} ({', '.join(isa.missing_flags(level.name, have))})" for level in levels
               if isa.missing_flags(level.name, have)]
    return {"isa_levels": " ".join(level.name for level in levels if not isa.missing_flags(level.name, have)),
            "isa_levels_lacking": ", ".join(lacking)}


def details() -> dict:
    """Everything `gemmbench info` shows: the fingerprint, caches (one of each, and how many), clock, BLAS."""
    import numpy  # noqa: F401  (threadpoolctl sees only libraries that are loaded)

    info = _py_cpuinfo()
    found = caches.caches()
    extra = {
        "arch": info.get("arch_string_raw", platform.machine()),
        "python": sys.version.split()[0],
        "advertised_hz": info.get("hz_advertised_friendly", ""),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        **isa_levels(),
    }
    if not found:  # no sysfs: py-cpuinfo's figures, which may be totals over the cores
        extra.update({f"{name}_cache_total": info.get(f"{name}_cache_size", "") for name in ("l1_data", "l2", "l3")})
    simulated = simulation()
    return {"machine": fingerprint().as_dict(), "feature_key": machine_key(), "extra": extra,
            "caches": [asdict(c) for c in found], "blas": blas_libraries(),
            "simulation": None if simulated is None else {
                "spec": simulated.spec, "hidden": sorted(simulated.hidden),
                "worker_environment": simulation_environment()}}
