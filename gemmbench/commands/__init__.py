"""Each CLI sub-command is a module with NAME, HELP, add_arguments(parser) and run(args) -> exit status."""

from __future__ import annotations

import importlib

MODULES = ("run", "check", "list_backends", "info", "validate", "build", "roofline", "report", "plot", "compare",
           "merge", "baseline")


def load_all():
    return [importlib.import_module(f"gemmbench.commands.{name}") for name in MODULES]
