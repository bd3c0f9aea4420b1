"""The CPU's caches as Linux's sysfs describes them: the size of one cache, and how many there are.

Tools that sum over cores (lscpu, py-cpuinfo) print '96 KiB' for two 48 KiB L1 data caches;
what a kernel's working set must fit in is one of them, so that is what is reported here,
with the count and how many CPUs share each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True)
class Cache:
    level: int
    kind: str  # 'Data', 'Instruction' or 'Unified'
    size: int  # bytes of one cache
    instances: int  # how many of them the machine's CPUs have
    shared_by: int  # CPUs sharing one
    per_core: bool  # one per core: the CPUs sharing one are exactly one core's hardware threads

    @property
    def name(self) -> str:
        return f"L{self.level}" + {"Data": "d", "Instruction": "i"}.get(self.kind, "")


def _parse_size(text: str) -> int:
    text = text.strip()
    return int(text[:-1]) * _UNITS[text[-1]] if text and text[-1] in _UNITS else int(text)


def _parse_cpu_list(text: str) -> frozenset[int]:
    """'0-3,8' -> {0, 1, 2, 3, 8}"""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def caches(root: Path = SYSFS_CPUS) -> list[Cache]:
    """Every cache level and kind, ordered L1d, L1i, L2, L3; [] where sysfs does not say."""
    groups: dict[tuple[int, str], dict[frozenset[int], int]] = {}
    for index in sorted(root.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
            shared = _parse_cpu_list((index / "shared_cpu_list").read_text())
        except (OSError, ValueError, KeyError):
            continue
        cpu = int(index.parent.parent.name[3:])
        groups.setdefault((level, kind), {})[shared or frozenset({cpu})] = size
    found = []
    for (level, kind), instances in groups.items():
        sharing = next(iter(instances))
        found.append(Cache(level, kind, instances[sharing], len(instances), len(sharing),
                           sharing == _core_threads(root, min(sharing))))
    return sorted(found, key=lambda c: (c.level, c.kind != "Data", c.kind))


def _core_threads(root: Path, cpu: int) -> frozenset[int]:
    try:
        return _parse_cpu_list((root / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text())
    except (OSError, ValueError):
        return frozenset({cpu})


def data_cache_sizes(found: list[Cache]) -> dict[str, int]:
    """'L1', 'L2', 'L3' -> bytes of one data (or unified) cache of that level."""
    return {f"L{c.level}": c.size for c in found if c.kind != "Instruction"}


def describe(cache: Cache) -> str:
    """'48 KiB per core, 2 of them' / '480 MiB shared by 2 CPUs, 1 of them'"""
    where = "per core" if cache.per_core else f"shared by {cache.shared_by} CPU{'s' if cache.shared_by > 1 else ''}"
    return f"{format_size(cache.size)} {where}, {cache.instances} of them"


def format_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} B"
