"""The worker process: one backend at one thread count, pinned before numpy loads.

The supervisor (gemmbench/measure/supervisor.py) starts `python -m gemmbench.measure.worker FD` with CPU
affinity, the memory limit and the BLAS/OpenMP thread variables already set. The worker
reads JSON lines on stdin, its job first and then commands, and answers on the pipe FD:

    job      {"backend", "threads", "variants", "isa", "registrations", "op_registrations",
              "method_registrations", "memory_limit", "cache", "pages"}
             -> {"type": "ready", "resolution_ns"}
    prepare  {"cmd": "prepare", "case", "timing", "skip"}: the case's data, then each variant
             -> {"type": "plan", "variants"}; per variant {"type": "begin"} and {"type": "started",
                "row", "samples"} (how many samples the row wants); then {"type": "prepared"} (or {"type": "retire"} after running out of memory)
    build    {"cmd": "build", "ops"} -> {"type": "built", "what", "seconds"}: the backend's build(), before any row
    sample   {"cmd": "sample", "variant"} -> {"type": "sample", "variant", "ns", "cpu_ns", "native_ns",
             "native_cpu_ns", "placement", "preempted", "marked"} (Item.sample)
    count    {"cmd": "count", "variant"} -> {"type": "counted", "variant", "columns"} (under callgrind)
    finish   {"cmd": "finish"} -> {"type": "finished", "variant", "columns"} per item, {"type": "done"}
    quit     {"cmd": "quit"}

Whatever a backend prints goes to stderr, never into the pipe.
"""

from __future__ import annotations

import json
import os
import sys


class Channel:
    """JSON lines out through the pipe the supervisor reads."""

    def __init__(self, fd: int):
        self.stream = os.fdopen(fd, "w", buffering=1)

    def send(self, kind: str, **fields) -> None:
        self.stream.write(json.dumps({"type": kind, **fields}) + "\n")
        self.stream.flush()


class Worker:
    """What a worker keeps between commands: its backend, the current case and its items."""

    def __init__(self, job: dict, channel: Channel):
        from gemmbench import registry
        from gemmbench.backend import select_isa
        from gemmbench.machine.fingerprint import cpu_flags
        from gemmbench.measure import pages
        from gemmbench.measure.timing import timer_resolution_ns

        pages.use(job.get("pages", "huge"))  # before anything is allocated for a row

        for name, target in job["registrations"].items():
            registry.backends.register(name, target, clobber=True)
        for name, target in job.get("op_registrations", {}).items():
            registry.ops.register(name, target, clobber=True)
        for name, target in job.get("method_registrations", {}).items():
            registry.methods.register(name, target, clobber=True)
        self.job, self.channel = job, channel
        self.backend = registry.backends.get(job["backend"])
        self.backend_ok, self.reason, offered = registry.inspect(self.backend)
        variants = select_isa(offered, job["isa"]) if self.backend_ok else []
        if job["variants"] is not None:
            variants = [v for v in variants if v.name in job["variants"]]
        self.variants = variants
        self.flags, self.resolution = cpu_flags(), timer_resolution_ns()
        self.items: dict = {}
        self.case = None
        self.shared = None  # the case's workload, shared read-only by the variants (measure/isolation.py)

    def prepare(self, command: dict) -> bool:
        """Make the case's data and start each variant's item; False: the worker must retire."""
        from gemmbench.cases.workload import case_from_dict, make_workload, op_of
        from gemmbench.measure.isolation import Guard
        from gemmbench.measure.item import Context, Item, failure_message, not_run
        from gemmbench.measure.timing import TimingSettings

        self.drop()
        case = case_from_dict(command["case"])
        skip = set(command["skip"])
        composed_from = op_of(case).composed_from
        variants = [v for v in self.variants if v.name not in skip and self.backend.runs(v, case.op, composed_from)]
        if not self.backend_ok:
            self.channel.send("plan", variants=["default"])
            self.channel.send("started", variant="default",
                              row={**not_run("unavailable", self.reason), "role": self.backend.role})
            self.channel.send("prepared")
            return True
        self.channel.send("plan", variants=[v.name for v in variants])
        try:
            self.shared = Guard(lambda: make_workload(case))
        except Exception as exc:
            for variant in variants:
                self.channel.send("started", variant=variant.name,
                                  row=not_run("error", "generating the data failed: " + failure_message(exc)))
            self.channel.send("prepared")
            return True
        ctx = Context(TimingSettings(**command["timing"]), self.resolution, self.flags, self.job.get("cache", "hot"))
        self.case = case
        floor = self.call_floor(ctx) if variants else {}
        for variant in variants:
            self.channel.send("begin", variant=variant.name)
            item = Item(op_of(case), self.backend, variant, self.shared.view(self.backend.writable_workload), ctx)
            row = self._unchanged({**item.start(), **self._blas(), **floor})
            if row["status"] == "ok":
                self.items[variant.name] = item
            out_of_memory = self._out_of_memory(row)  # says so in the row's message
            self.channel.send("started", variant=variant.name, row=row, samples=item.samples_wanted)
            if out_of_memory:
                self.channel.send("retire")  # what the backend leaked stays with this process
                return False
        self.channel.send("prepared")
        return True

    def _unchanged(self, row: dict) -> dict:
        """The row, failed when its variant changed the case's shared arrays (then made afresh for the others)."""
        from gemmbench.measure.isolation import changed_message

        changed = self.shared.changed()
        if not changed:
            return row
        return {**row, "status": "error", "message": changed_message(changed)}

    def call_floor(self, ctx) -> dict:
        """The backend's bare-call floor, timed like its rows, once per case (where it has one)."""
        from gemmbench.measure.timing import measure_loop

        if not self.backend.offers("call_floor"):
            return {}
        return {"call_floor_ns": measure_loop(self.backend.call_floor(), ctx.timing, ctx.resolution_ns).stats.median}

    def _blas(self) -> dict:
        from threadpoolctl import threadpool_limits

        from gemmbench.machine.fingerprint import blas_libraries, blas_summary

        threadpool_limits(limits=self.job["threads"])  # libraries a prepare loaded are limited too
        libraries = blas_libraries()
        threads = [lib["num_threads"] for lib in libraries if lib.get("user_api") == "blas"]
        return {"blas": blas_summary(libraries), "blas_threads": max(threads, default=None)}

    def _out_of_memory(self, row: dict) -> bool:
        from gemmbench.report.textable import size

        out = row["status"] == "error" and "MemoryError" in row["message"]
        if out and self.job["memory_limit"] is not None:
            row["message"] += f" [worker memory limit {size(self.job['memory_limit'])}; see --memory-limit]"
        return out

    def build(self, ops: frozenset[str]) -> None:
        """The backend's build step, here rather than in the supervisor: a plugin that hangs or
        crashes on import or while building costs its own rows only."""
        import time

        what, start = "", time.perf_counter()
        if self.backend_ok and self.backend.offers("build"):
            try:
                what = self.backend.build(ops)
            except Exception as exc:  # its rows will say what is wrong too
                what = f"build failed: {type(exc).__name__}: {exc}"
        self.channel.send("built", what=what, seconds=time.perf_counter() - start)

    def sample(self, variant: str) -> None:
        self.channel.send("sample", variant=variant, **self.items[variant].sample())

    def count(self, variant: str) -> None:
        self.channel.send("counted", variant=variant, columns=self.items[variant].count())

    def finish(self) -> None:
        for name, item in self.items.items():
            self.channel.send("begin", variant=name)
            self.channel.send("finished", variant=name, columns=self._unchanged(item.finish()))
        self.drop()
        self.channel.send("done")

    def drop(self) -> None:
        """One case's arrays alive at a time."""
        for item in self.items.values():
            item.close()
        self.items, self.case, self.shared = {}, None, None


def main(fd: int) -> None:
    import faulthandler

    faulthandler.enable()
    channel = Channel(fd)
    commands = sys.stdin.buffer
    job = json.loads(commands.readline())
    os.dup2(2, 1)  # whatever a backend prints goes to stderr, never into the pipe
    worker = Worker(job, channel)
    channel.send("ready", resolution_ns=worker.resolution)
    for line in commands:
        command = json.loads(line)
        kind = command["cmd"]
        if kind == "prepare":
            if not worker.prepare(command):
                return
        elif kind == "build":
            worker.build(frozenset(command.get("ops", ())))
        elif kind == "sample":
            worker.sample(command["variant"])
        elif kind == "count":
            worker.count(command["variant"])
        elif kind == "finish":
            worker.finish()
        elif kind == "quit":
            return


if __name__ == "__main__":
    main(int(sys.argv[1]))
