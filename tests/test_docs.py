"""README and docs/ say what the code does: their suites parse, their column table is the schema's,
their links lead somewhere, and README stays a front door."""

from __future__ import annotations

import argparse
import re

import pytest

from gbtest import ROOT
from gemmbench import commands
from gemmbench.cases.suite import parse_suite
from gemmbench.data import schema_doc

DOCS = ROOT / "docs"
README = ROOT / "README.md"
FRONT_DOOR_LINES = 230  # README is the front door; the reference belongs in docs/


def yaml_blocks(path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("name", ["README.md", "docs/suites.md"])
def test_suite_examples_are_valid_suites(name):
    """Each YAML example parses as it stands (a bare case list gets a suite around it)."""
    blocks = yaml_blocks(ROOT / name)
    assert blocks
    for block in blocks:
        text = block if block.startswith("name:") else "name: example\ncases:\n" + block
        assert parse_suite(text, name).cases


def test_results_columns_are_generated_from_the_schema():
    text = (DOCS / "results.md").read_text()
    assert schema_doc.refreshed(text) == text, "run: python -m gemmbench.data.schema_doc docs/results.md"


def test_schema_doc_refuses_a_file_without_markers():
    with pytest.raises(ValueError, match="x.md: no generated-columns markers"):
        schema_doc.refreshed("# nothing here\n", "x.md")


def test_every_docs_page_is_in_the_index():
    index = (DOCS / "README.md").read_text()
    missing = [page.name for page in DOCS.glob("*.md") if page.name != "README.md" and f"]({page.name})" not in index]
    assert not missing, f"docs/README.md does not link {missing}"


JOURNAL = DOCS / "journal"
PAGES = [README, *sorted(DOCS.glob("*.md")), *sorted(JOURNAL.glob("*.md"))]


def heading_anchors(path) -> set[str]:
    """The anchors a markdown renderer gives a page's headings ('## The fp16 tolerance' -> 'the-fp16-tolerance')."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(page):
    links = re.findall(r"\]\(([^)#:]+)(?:#([^)]*))?\)", page.read_text())
    broken = [t for t, _ in links if not (page.parent / t).exists()]
    assert not broken
    unanchored = [f"{t}#{a}" for t, a in links if a and t.endswith(".md") and a not in heading_anchors(page.parent / t)]
    assert not unanchored


DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def prose(text: str) -> str:
    """A page's running text: code blocks, inline code, links to the journal and link targets left out."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\[[^\]]*\]\(journal/[^)]*\)", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_reference_pages_carry_no_dated_measurements(page):
    """The reference says how things work; what was measured on a given day is in docs/journal/."""
    dated = [line for line in prose(page.read_text()).splitlines() if DATE.search(line)]
    assert not dated, f"{page.name}: dated text belongs in docs/journal/: {dated}"


def test_every_journal_page_is_in_the_journal_index():
    index = (JOURNAL / "README.md").read_text()
    missing = [p.name for p in JOURNAL.glob("*.md") if p.name != "README.md" and f"]({p.name})" not in index]
    assert not missing, f"docs/journal/README.md does not link {missing}"


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= FRONT_DOOR_LINES
    commands = [line for line in re.search(r"```sh\n(.*?)```", text, re.S).group(1).splitlines()
                if line and not line.startswith("#")]
    assert len(commands) == 2
    main_job, tests = commands
    assert re.fullmatch(r"python3 -m venv \.venv && \.venv/bin/pip install '?\.(\[[a-z,]+\])?'? && "
                        r"\.venv/bin/gemmbench run suites/gru384\.yaml", main_job), main_job
    # CI installs and tests the way README says: .ci/run runs the test command's two steps as written
    ci = (ROOT / ".ci" / "run").read_text()
    install, pytest_run = re.fullmatch(r"python3 -m venv \.venv && \.venv/bin/(pip install .+) && \.venv/bin/(pytest .+)",
                                       tests).groups()
    assert f".venv/bin/{install.replace('pip install', 'pip install --quiet --disable-pip-version-check')}" in ci
    assert f".venv/bin/{pytest_run.replace('pytest', 'pytest -q')}" in ci


def command_sections() -> dict[str, str]:
    """docs/cli.md's sections by their heading: '## run' -> the text up to the next '## '."""
    parts = re.split(r"^## (.+)$", (DOCS / "cli.md").read_text(), flags=re.M)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2])}


def option_strings(command) -> list[str]:
    """The options a command's parser takes, as its --help names them (-h aside)."""
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return [option for action in parser._actions for option in action.option_strings if option not in ("-h", "--help")]


@pytest.mark.parametrize("command", commands.load_all(), ids=lambda c: c.NAME)
def test_cli_reference_has_a_section_naming_every_option_of_each_command(command):
    sections = command_sections()
    assert command.NAME in sections, f"docs/cli.md has no '## {command.NAME}' section"
    unnamed = [option for option in option_strings(command) if f"`{option}" not in sections[command.NAME]]
    assert not unnamed, f"docs/cli.md's '## {command.NAME}' does not name {unnamed}"


def test_cli_reference_has_no_section_for_a_command_that_does_not_exist():
    names = {command.NAME for command in commands.load_all()}
    assert set(command_sections()) - {"Environment", "From Python"} <= names


def test_every_test_the_guarantees_name_exists():
    """docs/guarantees.md points each guarantee at the tests that check it; each must be there."""
    text = (DOCS / "guarantees.md").read_text()
    named = [(file, test) for file, test in re.findall(r"`((?:tests/)?[\w/]+\.py)(?:::(\w+))?`", text)
             if file.startswith(("tests/", "test_"))]
    assert len(named) > 30
    missing = []
    for file, test in named:
        path = ROOT / file if file.startswith("tests/") else ROOT / "tests" / "faults" / file
        if not path.is_file() or (test and not re.search(rf"^def {test}\(", path.read_text(), re.M)):
            missing.append(f"{file}::{test}" if test else file)
    assert not missing
