"""What makes a number reproducible: the machine, its ISA flags, BLAS, compiler, versions."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

# Flag prefixes that decide which kernels can run; the rest of /proc/cpuinfo is noise here.
SIMD_FLAG_PREFIXES = ("sse4", "ssse3", "avx", "fma", "f16c", "amx", "bmi2", "asimd", "sve", "i8mm", "bf16")


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

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def feature_key(self) -> str:
        return feature_key(self.cpu_model, self.cpu_flags.split())


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
def cpu_flags() -> frozenset[str]:
    """Every CPU flag the OS reports (names as in /proc/cpuinfo: avx2, avx512f, avx512_vnni, ...)."""
    flags = _proc_cpuinfo().get("flags")
    if flags is not None:
        return frozenset(flags.split())
    return frozenset(_py_cpuinfo().get("flags", []))


def simd_flags(flags: frozenset[str] | set[str] | list[str]) -> list[str]:
    return sorted(f for f in flags if f.startswith(SIMD_FLAG_PREFIXES))


def feature_key(model: str, flags: list[str] | frozenset[str]) -> str:
    """A short, filesystem-safe key naming a CPU model and the SIMD features it offers."""
    from gemmbench import isa

    present = set(flags)
    top = [f for f in isa.key_flags(isa.arch_of(present)) if f in present]
    slug = "".join(c if c.isalnum() else "-" for c in model.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return "+".join([slug or "unknown", *top])


def compiler() -> str:
    """The C compiler's version line (what the C kernels are built with), or '' when there is none."""
    from gemmbench.native import NativeBuildError, compiler_identity

    try:
        return compiler_identity().version
    except NativeBuildError:
        return ""


@functools.cache
def git_sha() -> str:
    """The git revision of the gemmbench source that is running, '+dirty' when it has changes."""
    source = Path(__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return "unknown"
    try:
        sha = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


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


def simulation_environment() -> dict[str, str]:
    """Environment variables a worker needs so that its libraries see the CPU the run simulates."""
    return {}


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

    return Machine(
        host=socket.gethostname(),
        cpu_model=cpu_model(),
        cpu_flags=" ".join(simd_flags(cpu_flags())),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        os=f"{platform.system()} {platform.release()}",
        python_version=platform.python_version(),
        numpy_version=numpy.__version__,
        gemmbench_version=gemmbench_version(),
        git_sha=git_sha(),
        compiler=compiler(),
    )


def details() -> dict:
    """Everything `gemmbench info` shows: the fingerprint plus caches, clock and BLAS."""
    import numpy  # noqa: F401  (threadpoolctl sees only libraries that are loaded)

    info = _py_cpuinfo()
    extra = {
        "arch": info.get("arch_string_raw", platform.machine()),
        "python": sys.version.split()[0],
        "l1_data_cache": info.get("l1_data_cache_size", ""),
        "l2_cache": info.get("l2_cache_size", ""),
        "l3_cache": info.get("l3_cache_size", ""),
        "advertised_hz": info.get("hz_advertised_friendly", ""),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
    }
    return {"machine": fingerprint().as_dict(), "extra": extra, "blas": blas_libraries()}
