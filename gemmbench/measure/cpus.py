"""The CPUs a run measures on: the least busy of those it may use, chosen at its start.

Workers used to be pinned to the last CPU the run may use, so two runs started side by side (or a
run beside any busy process that landed there) measured on the same CPU and timed each other.
A run now looks at how busy each allowed CPU is for a moment (/proc/stat, the same counters the
noise check reads) and prefers the least busy; `--cpus` or a suite's `cpus` pin them instead.
The choice is kept in the results file's metadata (`cpu_choice`) and every row names its CPUs
(`cpus`). When every CPU it may use is busy, the run says so at its start and in its check.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOOK_SECONDS = 0.2  # how long a run looks at the CPUs before choosing
BUSY = 0.5  # a CPU doing something else more than this share of the look is busy
PROC_STAT = Path("/proc/stat")


def cpu_times(path: Path = PROC_STAT) -> dict[str, list[int]]:
    """/proc/stat's cpu lines: 'cpu' (all) and 'cpuN' -> ticks by state (user nice system idle iowait irq
    softirq steal ...); {} where there is no /proc/stat."""
    times = {}
    try:
        text = path.read_text()
    except OSError:
        return {}
    for line in text.splitlines():
        if line.startswith("cpu"):
            name, *values = line.split()
            times[name] = [int(v) for v in values]
    return times


def busy_share(before: list[int], after: list[int]) -> float:
    """The share of the ticks between two readings a CPU spent on anything but idling (steal included:
    time the hypervisor gave the vCPU to someone else is not ours either)."""
    delta = [b - a for a, b in zip(before[:8], after[:8])]
    total = sum(delta)
    idle = sum(delta[3:5])  # idle, iowait
    return (total - idle) / total if total > 0 else 0.0


def look(cpus: list[int], seconds: float = LOOK_SECONDS) -> dict[int, float]:
    """How busy each CPU was over `seconds` of looking ({} where /proc/stat says nothing)."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    return {cpu: busy_share(before[f"cpu{cpu}"], after[f"cpu{cpu}"]) for cpu in cpus
            if f"cpu{cpu}" in before and f"cpu{cpu}" in after}


def allowed() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Choice:
    cpus: tuple[int, ...]  # the CPUs workers measure on, preferred first
    busy: dict[int, float]  # share of the look each of them was busy ({} where not visible)
    pinned: bool  # given (--cpus, the suite's cpus) rather than chosen

    @property
    def all_busy(self) -> bool:
        """Every CPU the run may measure on was busy: its rows share a CPU with something else."""
        return bool(self.busy) and all(self.busy.get(cpu, 0.0) > BUSY for cpu in self.cpus)

    def text(self) -> str:
        """'CPU 0 (2% busy; CPU 1 97%)' / 'CPU 1, pinned (99% busy)'"""
        first = self.cpus[0]
        how = ", pinned" if self.pinned else ""
        if first not in self.busy:
            return f"CPU {first}{how}"
        others = "; ".join(f"CPU {cpu} {100 * self.busy[cpu]:.0f}%" for cpu in self.cpus[1:] if cpu in self.busy)
        return f"CPU {first}{how} ({100 * self.busy[first]:.0f}% busy{'; ' + others if others else ''})"

    def warning(self) -> str:
        """What to tell the user when every CPU was busy ('' when one was free)."""
        if not self.all_busy:
            return ""
        return (f"every CPU this run may measure on is busy ({self.text()}): its samples share a CPU with "
                f"other work; preempted samples are taken again, but the cache they find is not their own. "
                f"Stop the other work, or pin it and this run (--cpus) apart")

    def as_dict(self) -> dict:
        return {**asdict(self), "busy": {str(cpu): share for cpu, share in self.busy.items()}}


def choose(pinned: tuple[int, ...] | None = None, seconds: float = LOOK_SECONDS) -> Choice:
    """The CPUs to measure on: `pinned` as given, else every allowed CPU, least busy first (the
    highest number first among equals: CPU 0 takes most of the interrupts)."""
    candidates = list(pinned) if pinned else allowed()
    busy = look(candidates, seconds)
    if pinned:
        return Choice(tuple(pinned), busy, True)
    order = sorted(candidates, key=lambda cpu: (round(busy.get(cpu, 0.0), 2), -cpu))
    return Choice(tuple(order), busy, False)
