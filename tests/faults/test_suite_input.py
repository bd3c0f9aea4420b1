"""Bad suites through the real CLI: one clear line per problem on stderr, exit 2, no traceback, and
nothing run or written."""

import pytest

from gemmbench.cases.suite import parse_suite
from gemmbench.errors import SuiteError

DEEP = "name: t\ncases: " + "[" * 5000 + "]" * 5000 + "\n"
GRID = "name: t\ncases: [{name: a, m: [" + ", ".join(map(str, range(1, 401))) + "], k: [" + \
       ", ".join(map(str, range(1, 401))) + "]}]\n"


def case(fields: str) -> str:
    return f"name: t\ncases:\n  - {{name: a, {fields}}}\n"


BAD_SUITES = {
    "malformed YAML": ("name: t\ncases: [\n", "line 3, column 1: malformed YAML: expected the node content"),
    "tab indentation": ("name: t\ncases:\n\t- {name: a}\n", "malformed YAML: found character '\\t'"),
    "empty file": ("", "top level: the file holds no suite (it is empty, or only comments); a suite is a mapping "
                       "with fields name, description, defaults, backends, isa, cpus, cases"),
    "top level is a list": ("- a\n- b\n", "top level: must be a mapping"),
    "unknown key": (case("m: 4, k: 4, sampels: 3"), "case 'a': unknown field 'sampels' (did you mean 'samples'?)"),
    "unknown top-level key": ("name: t\ndescripton: x\ncases: [{name: a, m: 4, k: 4}]\n",
                              "top level: unknown field 'descripton' (did you mean 'description'?)"),
    "size of the wrong type": (case("m: 4, k: four"), "case 'a': field 'k': must be a positive integer, got 'four'"),
    "float size": (case("m: 4.5, k: 4"), "field 'm': must be a positive integer, got 4.5"),
    "cases is a mapping": ("name: t\ncases: {a: 1}\n", "field 'cases': must be a non-empty list of cases"),
    "name is a list": ("name: [t]\ncases: [{name: a, m: 4, k: 4}]\n",
                       "field 'name': must be a non-empty string without control characters, got ['t']"),
    "name with a newline": ('name: "t\\nu"\ncases: [{name: a, m: 4, k: 4}]\n',
                            "field 'name': must be a non-empty string without control characters, got 't\\nu'"),
    "negative size": (case("m: -3, k: 4"), "field 'm': must be a positive integer, got -3"),
    "zero size": (case("m: 4, k: 0"), "field 'k': must be a positive integer, got 0"),
    "zero threads": (case("m: 4, k: 4, threads: 0"), "field 'threads': must be a positive integer or a list"),
    "buffers beyond memory": (case("m: 2000000, k: 2000000"), "field 'm'/'k'/'n': buffers need 89407.1 GiB, more "
                                                              "than the "),
    "integer of 5000 digits": (case("m: " + "9" * 5000 + ", k: 4"),
                               "YAML: value refused: Exceeds the limit (4300 digits) for integer string conversion"),
    "density above 1": (case("m: 32, k: 16, density: 1.5"), "field 'density': must be a number in (0, 1]"),
    "density 0": (case("m: 32, k: 16, density: 0"), "field 'density': must be a number in (0, 1]"),
    "density nan": (case("m: 32, k: 16, density: .nan"), "field 'density': must be a number in (0, 1]"),
    "block rows that do not divide m": (case("m: 40, k: 16, density: 0.5"),
                                        "field 'block': 16-row blocks must divide each of the 1 gate(s) of m=40"),
    "block columns that do not divide k": (case("m: 32, k: 6, density: 0.5, block: 8x4"),
                                           "field 'block': 4-column blocks must divide k=6"),
    "unknown block shape": (case("m: 32, k: 16, density: 0.5, block: 3x3"), "field 'block': must be one of 16x1"),
    "unknown backend": (case("m: 4, k: 4, backends: [nonesuch]"),
                        "case 'a': field 'backends': unknown backend 'nonesuch'; known backends: "),
    "empty grid": (case("m: [], k: 4"), "case 'a': field 'm': empty list, so the grid has no cases"),
    "grid too large": (GRID, "field 'cases': the grid expands to 160000 cases; at most 100000 are allowed"),
    "nesting too deep": (DEEP, "YAML: nested too deeply"),
    "duplicate case names": ("name: t\ncases: [{name: a, m: 4, k: 4}, {name: a, m: 8, k: 4}]\n",
                             "case 'a': duplicate case name; names must be unique"),
    "timeout of zero": (case("m: 4, k: 4, timeout: 0"), "field 'timeout': must be a positive number, got 0"),
}


@pytest.mark.parametrize("text, expected", BAD_SUITES.values(), ids=BAD_SUITES.keys())
def test_each_bad_suite_is_one_clear_line_and_exit_2(cli, write_suite, tmp_path, text, expected):
    suite = write_suite(text, fast=False)
    out = tmp_path / "out"
    result = cli("run", suite, "-o", out)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"gemmbench: error: {suite}: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert expected in result.stderr, result.stderr
    assert not out.exists()  # refused before anything ran or was written


def test_several_problems_give_one_line_each(cli, write_suite):
    suite = write_suite("name: t\ncases:\n  - {name: a, m: -1, k: 0}\n  - {name: b, m: 4, k: 4, dtype: half}\n"
                        "  - {name: c, m: 4, k: 4, colour: red}\n", fast=False)
    result = cli("validate", suite)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith(f"gemmbench: error: {suite}: case '") for line in lines)


def test_long_names_are_kept_whole_and_only_shortened_in_messages():
    name = "gru_" + "a" * 200
    suite = parse_suite(f"name: t\ncases: [{{name: {name}, op: gemm, m: 4, k: 4, n: [1, 2]}}]\n", "s.yaml")
    assert [c.case.name for c in suite.cases] == [f"{name}[n=1]", f"{name}[n=2]"]
    with pytest.raises(SuiteError) as info:  # gemv takes n=1 only
        parse_suite(f"name: t\ncases: [{{name: {name}, m: 4, k: 4, n: [1, 2]}}]\n", "s.yaml")
    (line,) = info.value.problems
    assert "field 'n': must be 1 for op gemv" in line and len(line) < 200


def test_a_suite_that_is_not_text_is_one_line(cli, tmp_path):
    suite = tmp_path / "binary.yaml"
    suite.write_bytes(b"\xff\xfe\x00garbage\x80")
    result = cli("run", suite)
    assert result.returncode == 2
    assert result.stderr.startswith(f"gemmbench: error: {suite}: cannot read suite: 'utf-8' codec can't decode")
    assert len(result.stderr.splitlines()) == 1
