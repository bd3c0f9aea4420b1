"""gemmbench validate SUITE...: check suites without running them."""

from __future__ import annotations

import argparse

from gemmbench.errors import SuiteError, UsageError

NAME = "validate"
HELP = "check suite files and show how many cases their grids expand to"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="+", help="suite YAML files or shipped suite names")


def run(args: argparse.Namespace) -> int:
    from gemmbench.cases.suite import load_suite
    from gemmbench.measure.runner import RunOptions, check_selections

    problems: list[str] = []
    for path in args.suites:
        try:
            suite = load_suite(path)
            check_selections(suite, RunOptions())
        except SuiteError as exc:
            problems.extend(exc.problems)
            continue
        except UsageError as exc:
            problems.append(str(exc))
            continue
        threads = sorted({t for c in suite.cases for t in c.threads})
        print(f"{path}: ok: suite '{suite.name}', {len(suite.cases)} cases, threads {threads}")
    if problems:
        raise SuiteError(problems)
    return 0
