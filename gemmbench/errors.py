"""Errors the user can fix: the CLI prints their message on one line and exits 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: a suite, a results file, an argument. The message names what and where."""


class SuiteError(UsageError):
    """A suite with one or more problems, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
