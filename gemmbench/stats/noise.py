"""How noisy this machine is right now, and what would make it quieter (`gemmbench check`).

Observations over about a second: how busy each CPU is (/proc/stat; gemmbench.measure.cpus
chooses the least busy to measure on), CPU steal time (the hypervisor giving our vCPUs to
someone else), other processes using CPU, the frequency governor and turbo where the OS shows
them, SMT siblings of the measuring CPU, and a fixed calibration loop run on that CPU in a pinned
child process: how many of its samples were preempted (their thread switched out, see
gemmbench.measure.timing), and the coefficient of variation of the others; and whether large
arrays can be put on huge pages (gemmbench.measure.pages). A verdict follows; each noisy finding
says what it does to a run's figures and what to change (the things `pyperf system tune` changes).

The thresholds are set on what a quiet VM shows (docs/measurement.md, "Noise check"): a check
that calls a quiet machine noisy teaches its readers to skip it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gemmbench.measure import cpus as cpu_choice
from gemmbench.measure import pages

CALIBRATION_SECONDS = 1.0
SAMPLE_NS = 2_000_000  # each calibration sample lasts about this long
STEAL_NOISY = 0.02  # share of CPU time stolen by the hypervisor above which timings move
BUSY_PROCESS = 0.10  # a process using more than this share of one CPU is named ...
RUNNING_FLAT_OUT = 0.5  # ... and one using more than this share is noisy: it takes a CPU's turns
# The calibration loop's spread: the median distance of its samples from their median, preempted ones
# left out (the same measure as a row's sample_spread). A VM's CPU speed wanders even when nothing
# else runs, with a tail of slow samples; these sit above what quiet VMs showed (docs/measurement.md).
SPREAD_QUIET = 0.08
SPREAD_NOISY = 0.15  # above it, and with another finding, the verdict is very noisy
PREEMPTED_NOISY = 0.10  # share of the calibration loop's samples preempted above which a run's retakes cost time


@dataclass(frozen=True)
class Finding:
    name: str
    value: str
    noisy: bool
    advice: str = ""  # what to change
    affects: str = ""  # what a noisy finding does to a run's figures


@dataclass(frozen=True)
class Check:
    verdict: str  # quiet, noisy or very noisy
    cpu: int
    findings: tuple[Finding, ...]
    calibration_cv: float  # of the calibration samples that were not preempted
    steal: float
    busy: tuple[str, ...] = field(default_factory=tuple)
    preempted: float = 0.0  # share of the calibration loop's samples that were preempted
    calibration_spread: float = 0.0  # median distance of its kept samples from their median, as a share

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
                   tuple(data.get("busy", ())), data.get("preempted", 0.0), data.get("calibration_spread", 0.0))

    def advice(self) -> list[str]:
        return [f"{f.name}: {f.affects}; {f.advice}" if f.affects else f.advice
                for f in self.findings if f.noisy and f.advice]

    def warning(self) -> str:
        """A line for the end of a run the check started: '' when the machine was quiet."""
        if not self.noisy:
            return ""
        noisy = "; ".join(f"{f.name}: {f.value}" + (f" ({f.affects})" if f.affects else "")
                          for f in self.findings if f.noisy)
        return (f"warning: the machine looked {self.verdict} when the run started ({noisy}); ratios paired by "
                f"round hold better than single times; see gemmbench check for what to change")


# ---------------------------------------------------------------- observations

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


def calibration_samples(seconds: float = CALIBRATION_SECONDS) -> list[tuple[float, bool]]:
    """(ns per iteration, preempted) of a fixed pure-Python loop, sampled for `seconds` (run pinned, in a child)."""
    from gemmbench.measure import timing

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
    take = timing.sampler(timing.python_loop(lambda: spin(n)))
    samples, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        sample = take(1)
        samples.append((sample.wall_ns / n, sample.preempted))
    return samples


def _calibration(cpu: int, seconds: float) -> tuple[float, float, float, int]:
    """(cv and spread of the samples not preempted, share preempted, samples) of the calibration loop
    pinned to `cpu`."""
    code = f"import json, gemmbench.stats.noise as n; print(json.dumps(n.calibration_samples({seconds!r})))"
    from gemmbench.measure.supervisor import child_setup

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          preexec_fn=child_setup({cpu}, None))
    import numpy as np

    samples = json.loads(proc.stdout)
    kept = np.asarray([ns for ns, preempted in samples if not preempted], dtype=float)
    share = sum(preempted for _, preempted in samples) / len(samples) if samples else float("nan")
    cv = float(kept.std(ddof=1) / kept.mean()) if kept.size > 1 else float("nan")
    spread = float(np.median(np.abs(kept / np.median(kept) - 1))) if kept.size > 1 else float("nan")
    return cv, spread, share, len(samples)


def observe(cpu: int | None = None, seconds: float = CALIBRATION_SECONDS,
            choice: cpu_choice.Choice | None = None) -> Check:
    """Watch the machine for about `seconds` while a pinned calibration loop runs on `cpu` (default:
    the CPU a run would choose; `choice`: the run's own, when it has chosen already)."""
    if choice is None:
        choice = cpu_choice.choose((cpu,) if cpu is not None else None)
    cpu = choice.cpus[0] if cpu is None else cpu
    before_cpu, before_procs, started = cpu_choice.cpu_times(), _process_ticks(), time.monotonic()
    cv, spread, preempted, count = _calibration(cpu, seconds)
    elapsed = time.monotonic() - started
    after_cpu, after_procs = cpu_choice.cpu_times(), _process_ticks()
    steal = _steal(before_cpu.get("cpu", []), after_cpu.get("cpu", []))
    busy = _busy(before_procs, after_procs, elapsed)
    findings = [
        _cpu_finding(choice),
        Finding("steal", f"{100 * steal:.1f}% of CPU time taken by the hypervisor", steal > STEAL_NOISY,
                "prefer ratios paired by round, --repeat, and --metric instructions for CI gates",
                "another tenant shares these CPUs: samples come out preempted and are taken again, and runs "
                "differ from each other"),
        Finding("other processes", _first([name for name, _ in busy], 3) or "none busy",
                any(share > RUNNING_FLAT_OUT for _, share in busy),
                "stop the processes named, or pin them away from the measuring CPU (--cpus)",
                "a process running flat out takes turns on the CPUs and shares their caches"),
        Finding("calibration loop", f"spread {100 * spread:.1f}% on CPU {cpu} (half its samples within that of "
                                    f"their median, preempted ones left out; quiet below {100 * SPREAD_QUIET:.0f}%; "
                                    f"cv {100 * cv:.1f}%)", not spread <= SPREAD_QUIET,
                "ratios paired by round, and --repeat to see the spread between runs",
                "samples of one row spread wider: wider intervals, more rows flagged noisy"),
        Finding("preempted samples", f"{100 * preempted:.0f}% of the calibration loop's {count} samples "
                                     f"(noisy above {100 * PREEMPTED_NOISY:.0f}%)", not preempted <= PREEMPTED_NOISY,
                "find what else runs on the measuring CPU (see other processes), or pin this run away from it",
                "that share of every row's samples is taken again (a slower run); a kept one is marked"),
        *_frequency_findings(cpu),
        _smt_finding(cpu),
        _huge_pages_finding(),
    ]
    return Check(judge(findings, spread), cpu, tuple(findings), cv, steal, tuple(name for name, _ in busy), preempted,
                 spread)


def _cpu_finding(choice: cpu_choice.Choice) -> Finding:
    return Finding("measuring CPU", choice.text() + (" (every CPU it may use is busy)" if choice.all_busy else ""),
                   choice.all_busy, "stop the other work, or pin it and this run apart (--cpus)",
                   "samples share the CPU: preempted ones are taken again, and the caches they find are not their own")


def judge(findings: list[Finding], spread: float) -> str:
    """quiet when no finding is noisy (the calibration loop's counts as noisy above SPREAD_QUIET), so every
    other verdict has a finding to name as its cause; very noisy with two or more, or a spread above SPREAD_NOISY."""
    noisy = sum(f.noisy for f in findings)
    return "quiet" if noisy == 0 else "noisy" if noisy <= 1 and spread <= SPREAD_NOISY else "very noisy"


def _huge_pages_finding() -> Finding:
    mode = pages.transparent_hugepages()
    return Finding("huge pages", f"transparent huge pages: {mode}", mode == "never",
                   "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled: large matrices then sit on "
                   "2 MiB pages, with one cache placement from run to run (docs/measurement.md)",
                   "rows run on 4 KiB pages (pages: huge is refused), and each process draws its own cache placement")


def _steal(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta[:8])  # user nice system idle iowait irq softirq steal
    return delta[7] / total if total > 0 and len(delta) > 7 else 0.0


def _busy(before: dict, after: dict, elapsed: float) -> list[tuple[str, float]]:
    """(description, share of a CPU) of every other process busier than BUSY_PROCESS over the look."""
    hz, me = os.sysconf("SC_CLK_TCK"), os.getpid()
    found = []
    for pid, (name, ticks) in after.items():
        share = (ticks - before.get(pid, (name, ticks))[1]) / hz / max(elapsed, 1e-3)
        if pid != me and share > BUSY_PROCESS and pid in before:
            found.append((f"{name} (pid {pid}, {100 * share:.0f}% of a CPU)", share))
    return found


def _first(names: list[str], count: int) -> str:
    shown = ", ".join(sorted(names, key=lambda n: -int(n.rsplit(", ", 1)[-1].split("%")[0]))[:count])
    return shown + (f" and {len(names) - count} more" if len(names) > count else "")


def _frequency_findings(cpu: int) -> list[Finding]:
    findings = []
    governor = _read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
    findings.append(Finding("governor", governor or "not visible (a VM usually hides it)",
                            bool(governor) and governor != "performance",
                            "set the performance governor: cpupower frequency-set -g performance",
                            "the clock follows the load: the same row runs at different speeds from run to run"))
    no_turbo, boost = _read("/sys/devices/system/cpu/intel_pstate/no_turbo"), _read("/sys/devices/system/cpu/cpufreq/boost")
    turbo_on = no_turbo == "0" or boost == "1"
    findings.append(Finding("turbo", "on" if turbo_on else "off" if (no_turbo or boost) else "not visible",
                            turbo_on, "turn turbo off for steadier clocks (intel_pstate/no_turbo or cpufreq/boost)",
                            "the clock depends on heat and on the other cores: times move between runs"))
    return findings


def _smt_finding(cpu: int) -> Finding:
    siblings = _read(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
    shared = bool(siblings) and siblings != str(cpu)
    return Finding("SMT siblings", f"CPU {cpu} shares its core with {siblings}" if shared else
                   (f"CPU {cpu} has its core to itself" if siblings else "not visible"), shared,
                   "keep the sibling idle while measuring (or disable SMT)",
                   "work on the sibling takes half the core: times run high while it is busy")
