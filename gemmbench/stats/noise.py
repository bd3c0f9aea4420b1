"""How noisy this machine is right now, and what would make it quieter (`gemmbench check`).

Observations over about a second: load, CPU steal time (the hypervisor giving our vCPUs to
someone else, from /proc/stat), other processes using CPU, the frequency governor and turbo
where the OS shows them, SMT siblings of the CPU single-threaded rows run on, and the
coefficient of variation of a fixed calibration loop run on that CPU in a pinned child
process, and whether large arrays can be put on huge pages (gemmbench.measure.pages). A verdict follows, with what to change (the things `pyperf system tune` changes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gemmbench.measure import pages

CALIBRATION_SECONDS = 1.0
SAMPLE_NS = 2_000_000  # each calibration sample lasts about this long
STEAL_NOISY = 0.02  # share of CPU time stolen by the hypervisor above which timings move
BUSY_PROCESS = 0.10  # a process using more than this share of one CPU is named
CV_NOISY = 0.03  # calibration loop cv above which rows of one run will not agree to a few percent
CV_QUIET = 0.01


@dataclass(frozen=True)
class Finding:
    name: str
    value: str
    noisy: bool
    advice: str = ""


@dataclass(frozen=True)
class Check:
    verdict: str  # quiet, noisy or very noisy
    cpu: int
    findings: tuple[Finding, ...]
    calibration_cv: float
    steal: float
    busy: tuple[str, ...] = field(default_factory=tuple)

    @property
    def noisy(self) -> bool:
        return self.verdict != "quiet"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Check":
        """The check as a results file keeps it (as_dict)."""
        findings = tuple(Finding(**finding) for finding in data.get("findings", ()))
        return cls(data["verdict"], data["cpu"], findings, data["calibration_cv"], data["steal"],
                   tuple(data.get("busy", ())))

    def advice(self) -> list[str]:
        return [f.advice for f in self.findings if f.noisy and f.advice]

    def warning(self) -> str:
        """A line for the end of a run the check started: '' when the machine was quiet."""
        if not self.noisy:
            return ""
        noisy = "; ".join(f"{f.name}: {f.value}" for f in self.findings if f.noisy)
        return (f"warning: the machine looked {self.verdict} when the run started ({noisy}); ratios paired by "
                f"round hold better than single times; see gemmbench check")


# ---------------------------------------------------------------- observations

def _cpu_times() -> dict[str, list[int]]:
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu"):
            name, *values = line.split()
            times[name] = [int(v) for v in values]
    return times


def _process_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def calibration_samples(seconds: float = CALIBRATION_SECONDS) -> list[float]:
    """ns per iteration of a fixed pure-Python loop, sampled for `seconds` (run pinned, in a child)."""
    def spin(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total

    n = 1000
    while True:
        start = time.perf_counter_ns()
        spin(n)
        if time.perf_counter_ns() - start >= SAMPLE_NS:
            break
        n *= 2
    samples, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter_ns()
        spin(n)
        samples.append((time.perf_counter_ns() - start) / n)
    return samples


def _calibration_cv(cpu: int, seconds: float) -> float:
    code = f"import json, gemmbench.stats.noise as n; print(json.dumps(n.calibration_samples({seconds!r})))"
    from gemmbench.measure.supervisor import child_setup

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          preexec_fn=child_setup({cpu}, None))
    import numpy as np

    samples = np.asarray(json.loads(proc.stdout), dtype=float)
    return float(samples.std(ddof=1) / samples.mean()) if samples.size > 1 else float("nan")


def observe(cpu: int | None = None, seconds: float = CALIBRATION_SECONDS) -> Check:
    """Watch the machine for about `seconds` while a pinned calibration loop runs on `cpu`."""
    if cpu is None:
        cpu = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else 0
    before_cpu, before_procs, started = _cpu_times(), _process_ticks(), time.monotonic()
    cv = _calibration_cv(cpu, seconds)
    elapsed = time.monotonic() - started
    after_cpu, after_procs = _cpu_times(), _process_ticks()
    steal = _steal(before_cpu["cpu"], after_cpu["cpu"])
    busy = _busy(before_procs, after_procs, elapsed)
    findings = [
        _load_finding(),
        Finding("steal", f"{100 * steal:.1f}% of CPU time taken by the hypervisor", steal > STEAL_NOISY,
                "another tenant shares these CPUs: prefer ratios paired by round, --repeat, and "
                "--metric instructions for CI gates"),
        Finding("other processes", _first(busy, 3) or "none busy", bool(busy),
                "stop the processes named, or pin them away from the measuring CPUs"),
        Finding("calibration loop", f"cv {100 * cv:.2f}% on CPU {cpu} (quiet below {100 * CV_QUIET:.0f}%)",
                cv > CV_QUIET, "samples of one row spread by a few percent: ratios paired by round, and "
                               "--repeat to see the spread between runs"),
        *_frequency_findings(cpu),
        _smt_finding(cpu),
        _huge_pages_finding(),
    ]
    return Check(judge(findings, cv), cpu, tuple(findings), cv, steal, tuple(busy))


def judge(findings: list[Finding], cv: float) -> str:
    """quiet when no finding is noisy (the calibration loop's counts as noisy above CV_QUIET), so every
    other verdict has a finding to name as its cause."""
    noisy = sum(f.noisy for f in findings)
    return "quiet" if noisy == 0 else "noisy" if noisy <= 1 and cv <= CV_NOISY * 2 else "very noisy"


def _huge_pages_finding() -> Finding:
    mode = pages.transparent_hugepages()
    return Finding("huge pages", f"transparent huge pages: {mode}", mode == "never",
                   "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled: large matrices then sit on "
                   "2 MiB pages, with one cache placement from run to run (docs/measurement.md)")


def _steal(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta[:8])  # user nice system idle iowait irq softirq steal
    return delta[7] / total if total > 0 and len(delta) > 7 else 0.0


def _busy(before: dict, after: dict, elapsed: float) -> list[str]:
    hz, me = os.sysconf("SC_CLK_TCK"), os.getpid()
    names = []
    for pid, (name, ticks) in after.items():
        share = (ticks - before.get(pid, (name, ticks))[1]) / hz / max(elapsed, 1e-3)
        if pid != me and share > BUSY_PROCESS and pid in before:
            names.append(f"{name} (pid {pid}, {100 * share:.0f}% of a CPU)")
    return names


def _first(names: list[str], count: int) -> str:
    shown = ", ".join(sorted(names, key=lambda n: -int(n.rsplit(", ", 1)[-1].split("%")[0]))[:count])
    return shown + (f" and {len(names) - count} more" if len(names) > count else "")


def _load_finding() -> Finding:
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Finding("load", f"{load:.2f} (1-minute average) on {cores} CPUs", load > 0.5 * cores,
                   "wait for the machine to settle, or run where nothing else runs")


def _frequency_findings(cpu: int) -> list[Finding]:
    findings = []
    governor = _read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
    findings.append(Finding("governor", governor or "not visible (a VM usually hides it)",
                            bool(governor) and governor != "performance",
                            "set the performance governor: cpupower frequency-set -g performance"))
    no_turbo, boost = _read("/sys/devices/system/cpu/intel_pstate/no_turbo"), _read("/sys/devices/system/cpu/cpufreq/boost")
    turbo_on = no_turbo == "0" or boost == "1"
    findings.append(Finding("turbo", "on" if turbo_on else "off" if (no_turbo or boost) else "not visible",
                            turbo_on, "turn turbo off for steadier clocks (intel_pstate/no_turbo or cpufreq/boost)"))
    return findings


def _smt_finding(cpu: int) -> Finding:
    siblings = _read(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
    shared = bool(siblings) and siblings != str(cpu)
    return Finding("SMT siblings", f"CPU {cpu} shares its core with {siblings}" if shared else
                   (f"CPU {cpu} has its core to itself" if siblings else "not visible"), shared,
                   "keep the sibling idle while measuring (or disable SMT)")
