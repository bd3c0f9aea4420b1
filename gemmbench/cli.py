"""The `gemmbench` command: argparse sub-commands over the public API.

Bad input prints one line per problem and exits 2; Ctrl-C (SIGINT), SIGTERM and SIGHUP stop a
run after saving what finished and exit 128 + the signal number (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys

from gemmbench import __version__
from gemmbench.commands import load_all
from gemmbench.errors import SuiteError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gemmbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gemmbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in load_all():
        child = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(child)
        child.set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SuiteError as exc:
        for problem in exc.problems:
            print(f"gemmbench: error: {problem}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"gemmbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gemmbench: interrupted", file=sys.stderr)
        return 130
