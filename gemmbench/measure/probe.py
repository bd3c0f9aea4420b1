"""What the CLI process knows about backends, learnt in a child process: plugin code never runs here.

Whether a backend is available, its variants (which this CPU lacks flags for, which are references
only) and whether it has a build step all come from calling into the backend, and a backend is
third-party code: its import may call sys.exit, crash on a CPU it was not built for, or hang. So
`statuses` asks a child, `python -m gemmbench.measure.probe FD`, which loads the backends one after
the other and answers on the pipe FD:

    job   {"backends", "registrations", "op_registrations", "method_registrations", "build", "ops"} on stdin
          -> per backend {"type": "begin", "backend"}, then {"type": "status", ...} (a
             registry.BackendStatus), then with "build" {"type": "built", "backend", "state", "what"}

A backend whose child dies or stays silent past the startup timeout (GEMMBENCH_STARTUP_TIMEOUT,
or `build_timeout` while building) is unavailable with what happened as the reason; a fresh child
asks about the backends after it. Answers are kept for the life of the process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

from gemmbench import registry
from gemmbench.registry import BackendStatus

BUILD_TIMEOUT = 900.0  # seconds a backend's build() may take (every ISA level of csimd, from cold)
_known: dict[tuple, BackendStatus] = {}


@dataclass(frozen=True)
class Built:
    """What `gemmbench build` did for one backend."""

    backend: str
    state: str  # 'done', 'failed', 'unavailable', 'nothing to build'
    what: str
    seconds: float = 0.0


def status(name: str) -> BackendStatus:
    """One backend's status (UsageError for an unknown name)."""
    return statuses([name])[name]


def statuses(names: Iterable[str] | None = None) -> dict[str, BackendStatus]:
    """The status of each named backend (default: every registered one), asked of a child process.

    An unknown name is a UsageError; a first question about a backend asks about every registered
    backend not yet known, so one child answers a whole command."""
    from gemmbench.machine.cpusim import ENV

    names = registry.backends.names() if names is None else list(names)
    for name in names:
        if name not in registry.backends.names():
            registry.backends.get(name)  # raises the one-line 'unknown backend' error
    # What a backend's answer depends on besides its own code: a method or op registered since changes it.
    context = (os.environ.get(ENV), os.environ.get("PYTHONPATH"),
               tuple(sorted(registry.methods.registered_targets().items())),
               tuple(sorted(registry.ops.registered_targets().items())))
    missing = [name for name in names if (name, registry.backends.target(name), *context) not in _known]
    if missing:
        wanted = [n for n in registry.backends.names() if (n, registry.backends.target(n), *context) not in _known]
        for found in _ask(wanted, build=False):
            _known[(found.name, registry.backends.target(found.name), *context)] = found
    return {name: _known[(name, registry.backends.target(name), *context)] for name in names}


def build(names: list[str], ops: Iterable[str]) -> list[Built]:
    """Each backend's build(), in a child process, in the order given."""
    built = {b.backend: b for b in _ask(names, build=True, ops=sorted(ops))}
    return [built[name] for name in names]


# ---------------------------------------------------------------- the parent's side

def _ask(names: list[str], build: bool, ops: list[str] = ()) -> list:
    """An answer for every name (statuses, or with `build` what was built): a child asks about the
    backends in turn; the one it was lost on is answered with what happened, a fresh child goes on."""
    wanted = Built if build else BackendStatus
    answers: dict[str, object] = {}
    remaining = list(names)
    while remaining:
        child = _Child(remaining, build, ops)
        try:
            for answer in child.answers():
                if isinstance(answer, wanted):
                    answers[answer.backend if build else answer.name] = answer
        finally:
            child.close()
        lost = child.current if child.current not in answers else next((n for n in remaining if n not in answers), None)
        if lost is not None and lost in remaining:
            answers[lost] = _lost(lost, child.lost or "gave no answer", build)
        remaining = [name for name in remaining if name not in answers]
    return [answers[name] for name in names]


def _lost(name: str, why: str, build: bool):
    reason = f"its code {why}"
    if build:
        return Built(name, "failed", reason)
    return BackendStatus(name, False, reason, (), registry.backends.target(name))


class _Child:
    """One probe process over a list of backends."""

    def __init__(self, names: list[str], build: bool, ops: list[str]):
        from gemmbench.measure import interrupts
        from gemmbench.measure.reaping import Cage
        from gemmbench.measure.supervisor import PACKAGE_PARENT, child_setup, startup_timeout
        from gemmbench.measure.tail import Tail

        self.timeout = BUILD_TIMEOUT if build else startup_timeout()
        self.current = names[0]
        self.lost: str | None = None  # what happened to the child while on `current`
        self.stderr = Tail()
        self.cage = Cage()  # a plugin's import may start processes too
        read_fd, write_fd = os.pipe()
        try:
            with interrupts.held():
                self.proc = subprocess.Popen([sys.executable, "-m", "gemmbench.measure.probe", str(write_fd)],
                                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr.writer,
                                             pass_fds=(write_fd,), start_new_session=True, cwd=PACKAGE_PARENT,
                                             preexec_fn=child_setup(set(), None, self.cage))
        except (OSError, subprocess.SubprocessError):
            os.close(read_fd)
            self.stderr.close()
            self.cage.remove()
            raise
        finally:
            os.close(write_fd)
            self.stderr.started()
        self.cage.pid = self.proc.pid
        self.fd = read_fd
        job = {"backends": names, "build": build, "ops": list(ops),
               "registrations": registry.backends.registered_targets(),
               "op_registrations": registry.ops.registered_targets(),
               "method_registrations": registry.methods.registered_targets()}
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.close()
        except OSError:  # it died already: reading says how
            pass

    def answers(self) -> Iterator:
        """BackendStatus and Built answers as they come; `lost` says why they stopped early."""
        buffer = b""
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                kind = message.pop("type")
                if kind == "begin":
                    self.current = message["backend"]
                    deadline = time.monotonic() + self.timeout
                elif kind == "status":
                    yield BackendStatus(**{k: tuple(v) if isinstance(v, list) else v for k, v in message.items()})
                elif kind == "built":
                    yield Built(**message)
                elif kind == "done":
                    return
            wait = deadline - time.monotonic()
            if wait <= 0:
                self.lost = f"did not answer within {self.timeout:g} s (hung while loading or asked)"
                return
            ready, _, _ = select.select([self.fd, *self.stderr.open_fds()], [], [], min(wait, 0.25))
            if self.stderr.fd in ready:
                self.stderr.drain()
            if self.fd in ready:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    self.lost = self._death()
                    return
                buffer += chunk

    def _death(self) -> str:
        import signal

        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "closed its pipe while loading"
        if code < 0:
            try:
                what = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"ended the process (exit status {code})"
        lines = self.stderr.lines()
        detail = next((line for line in lines if line.startswith("Fatal Python error")), lines[-1] if lines else "")
        return what + " while loading or asked" + (f" ({detail[:200]})" if detail else "")

    def close(self) -> None:
        self.cage.end(alive=self.proc.returncode is None)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.cage.remove()
        os.close(self.fd)
        self.stderr.close()


# ---------------------------------------------------------------- the child's side

def main(fd: int) -> None:
    import faulthandler

    from gemmbench.measure.worker import Channel

    faulthandler.enable()
    channel = Channel(fd)
    job = json.loads(sys.stdin.buffer.readline())
    os.dup2(2, 1)  # whatever a backend prints goes to stderr, never into the pipe
    for name, target in job["registrations"].items():
        registry.backends.register(name, target, clobber=True)
    for name, target in job["op_registrations"].items():
        registry.ops.register(name, target, clobber=True)
    for name, target in job["method_registrations"].items():
        registry.methods.register(name, target, clobber=True)
    for name in job["backends"]:
        channel.send("begin", backend=name)
        found = registry.status(name)
        channel.send("status", **asdict(found))
        if job["build"]:
            channel.send("built", **asdict(_build_here(name, found, frozenset(job["ops"]))))
    channel.send("done")


def _build_here(name: str, found: BackendStatus, ops: frozenset[str]) -> Built:
    if not found.available:
        return Built(name, "unavailable", found.reason)
    if not found.builds:
        return Built(name, "nothing to build", "")
    start = time.perf_counter()
    try:
        what = registry.backends.get(name).build(ops)
    except (Exception, SystemExit) as exc:  # a failed build is reported, and the others still run
        return Built(name, "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    return Built(name, "done", what or "", time.perf_counter() - start)


if __name__ == "__main__":
    main(int(sys.argv[1]))
