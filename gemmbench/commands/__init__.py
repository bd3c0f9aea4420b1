"""Each CLI sub-command is a module with NAME, HELP, add_arguments(parser) and run(args) -> exit status."""

from __future__ import annotations

import argparse
import importlib

MODULES = ("run", "check", "list_backends", "info", "validate", "build", "roofline", "report", "plot", "compare",
           "merge", "baseline")


def load_all():
    return [importlib.import_module(f"gemmbench.commands.{name}") for name in MODULES]


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """--progress / --no-progress: the progress line on stderr (default: when stderr is a terminal)."""
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show progress even when stderr is not a terminal")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
