"""README and docs/ say what the code does: their suites parse, their column table is the schema's,
their links lead somewhere, and README stays a front door."""

from __future__ import annotations

import re

import pytest
from gbtest import ROOT

from gemmbench.data import schema_doc
from gemmbench.cases.suite import parse_suite

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


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_lead_to_files(page):
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text())
    broken = [t for t in targets if not (page.parent / t).exists()]
    assert not broken


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= FRONT_DOOR_LINES
    commands = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    assert "pip install . && .venv/bin/gemmbench run suites/gru384.yaml" in commands
    assert "pip install -e '.[test]' && .venv/bin/pytest" in commands


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
