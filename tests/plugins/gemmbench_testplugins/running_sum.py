"""An op from outside gemmbench, to prove ops are plugins: a running sum that keeps state between calls.

`op: test_running_sum` with fields `length` and `decay`: each call adds the decayed running total
to the input's prefix sums, so a call continues where the last one stopped. Nothing in gemmbench
knows it; it arrives through the `gemmbench.ops` entry-point group like a third party's op.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.measure.verify import check
from gemmbench.op import Case, Column, Counts, Op, Workload
from gemmbench.report.kinds import PlotKind


@dataclass(frozen=True)
class RunningSumSpec:
    length: int
    decay: float


def running_sum(x: np.ndarray, decay: float, carry: float) -> tuple[np.ndarray, float]:
    """float64 prefix sums of x on top of the decayed carry; returns (sums, new carry)."""
    sums = np.cumsum(x.astype(np.float64)) + carry * decay
    return sums, float(sums[-1])


class RunningSum(Op):
    name = "test_running_sum"
    doc = "prefix sums that continue from call to call (a test op with state)"
    fields = {"length": "values per call", "decay": "how much of the last call's total carries over, in [0, 1]"}
    columns = (Column("test_sums_per_second", "float64", "values summed per second (test op)"),)
    plots = (PlotKind("test_running_sum", "Running sums per second", "The test op's own column, per backend.",
                      "gemmbench_testplugins.running_sum:draw"),)
    stateful = True
    spec_type = RunningSumSpec

    def spec(self, read):
        return RunningSumSpec(read.positive_int("length"), read.number_in("decay", 0.5, 0.0, 1.0))

    def make(self, case: Case) -> Workload:
        x = np.random.default_rng(case.seed).uniform(-1, 1, case.spec.length).astype(case.dtype)
        return Workload(case, x, running_sum(x, case.spec.decay, 0.0)[0])

    def counts(self, case: Case) -> Counts:
        return Counts(flops=case.spec.length, bytes=2 * case.spec.length * np.dtype(case.dtype).itemsize)

    def label(self, case: Case) -> str:
        return f"n={case.spec.length}"

    def derive(self, case, row, parts):
        return {"test_sums_per_second": case.spec.length / row["median_ns"] * 1e9}

    def verify(self, workload, calls, precision, native=False):
        """The first call after a reset, then a second that must carry the first one's total over."""
        calls.reset()
        first, carry = running_sum(workload.x, workload.case.spec.decay, 0.0)
        second, _ = running_sum(workload.x, workload.case.spec.decay, carry)
        for expected in (first, second):
            calls.out.fill(np.nan)
            calls.run()
            verdict = check(calls.out, expected, precision)
            if not verdict.ok:
                return verdict
        return verdict


class RunningSumBackend(Backend):
    name = "test-running-sum"
    ops = frozenset({"test_running_sum"})

    def variants(self):
        return [Variant("cumsum", detail="np.cumsum with a carried total")]

    def prepare(self, workload, variant):
        return {"decay": workload.case.spec.decay, "carry": 0.0}

    def run(self, prepared, x, out):
        np.cumsum(x, out=out)
        out += prepared["carry"] * prepared["decay"]
        prepared["carry"] = float(out[-1])

    def reset(self, prepared):
        prepared["carry"] = 0.0


class ForgetfulBackend(RunningSumBackend):
    """Right on the first call after a reset, but never carries its total over: a stateful op must see it."""

    name = "test-forgetful"

    def run(self, prepared, x, out):
        super().run(prepared, x, out)
        prepared["carry"] = 0.0


def draw(data):
    from matplotlib.figure import Figure

    from gemmbench.report.kinds import NoPlotData

    rows = data.ok[data.ok["op"] == "test_running_sum"]
    if rows.empty:
        raise NoPlotData("no test_running_sum rows")
    figure = Figure(figsize=(6, 2.5))
    axes = figure.subplots()
    axes.barh(rows["case"], rows["test_sums_per_second"])
    axes.set_xlabel("values summed per second")
    return figure
