"""Each CLI sub-command is a module with NAME, HELP, add_arguments(parser) and run(args) -> exit status."""

from __future__ import annotations

import argparse
import importlib

MODULES = ("run", "check", "list_backends", "info", "validate", "build", "roofline", "report", "plot", "compare",
           "merge", "baseline", "advise")


def load_all():
    return [importlib.import_module(f"gemmbench.commands.{name}") for name in MODULES]


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """--progress / --no-progress: the progress line on stderr (default: when stderr is a terminal)."""
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show progress even when stderr is not a terminal")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")


def known_backend(name: str, option: str) -> str:
    """`name` when a backend is registered under it; else one line naming the option and the known backends."""
    from gemmbench import registry
    from gemmbench.cases.fields import did_you_mean
    from gemmbench.errors import UsageError

    known = registry.backends.names()
    if name not in known:
        raise UsageError(f"{option}: unknown backend '{name}'{did_you_mean(name, known)}; known backends: "
                         f"{', '.join(known)}")
    return name
