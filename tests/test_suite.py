import pytest

from gemmbench.cases.suite import load_suite, parse_suite, shipped_suites
from gemmbench.errors import SuiteError, UsageError

GOOD = """
name: t
cases:
  - name: a
    m: 64
    k: 32
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "s.yaml")
    return info.value.problems


def test_minimal_suite_has_defaults():
    suite = parse_suite(GOOD, "s.yaml")
    (only,) = suite.cases
    assert only.case.op == "gemv" and only.case.dtype == "float32" and only.case.spec.n == 1
    assert only.threads == (1,) and only.backends is None


def test_grid_expands_every_list_field_and_names_points():
    suite = parse_suite("""
name: t
defaults: {dtype: [float32, float64], threads: [1, 2]}
cases:
  - name: g
    op: gemm
    m: [16, 32]
    k: 8
    n: [2, 4, 8]
""", "s.yaml")
    names = [c.case.name for c in suite.cases]
    assert len(names) == 2 * 2 * 3 and len(set(names)) == len(names)
    assert "g[dtype=float64,m=32,n=4]" in names
    assert all(c.threads == (1, 2) for c in suite.cases)  # lists of threads are values, not grid axes


def test_case_overrides_defaults_and_top_level_backends():
    suite = parse_suite("""
name: t
backends: [numpy]
defaults: {samples: 9, dtype: float64}
cases:
  - {name: a, m: 4, k: 4}
  - {name: b, m: 4, k: 4, samples: 3, backends: [numpy:matmul]}
""", "s.yaml")
    a, b = suite.cases
    assert a.timing.samples == 9 and b.timing.samples == 3 and a.case.dtype == "float64"
    assert [str(s) for s in a.backends] == ["numpy"] and [str(s) for s in b.backends] == ["numpy:matmul"]


def test_per_gate_density_and_block():
    suite = parse_suite("""
name: t
cases:
  - name: lpc
    m: 1152
    k: 384
    density: {update: 0.05, reset: 0.05, state: 0.2}
    block: 16x1
    keep_diagonal: true
""", "s.yaml")
    case = suite.cases[0].case
    assert case.spec.sparsity.density == (0.05, 0.05, 0.2) and case.spec.sparsity.block == (16, 1)
    assert case.spec.sparsity.label() == "16x1@0.05/0.05/0.2+diag"


@pytest.mark.parametrize("case_fields, expected", [
    ("m: -3\n    k: 4", "case 'a': field 'm': must be a positive integer, got -3"),
    ("m: 0\n    k: 4", "field 'm': must be a positive integer, got 0"),
    ("m: 4\n    k: four", "field 'k': must be a positive integer, got 'four'"),
    ("m: 4\n    k: 4\n    dtype: int3", "field 'dtype': must be one of float32, float64, got 'int3'"),
    ("m: 4\n    k: 4\n    op: conv", "field 'op': must be one of conv1d, gemm, gemv, iir_bank, lpcnet_step"),
    ("m: 4\n    k: 4\n    n: 3", "field 'n': must be 1 for op gemv"),
    ("m: 32\n    k: 4\n    density: 1.5", "field 'density': must be a number in (0, 1]"),
    ("m: 32\n    k: 4\n    density: 0", "field 'density': must be a number in (0, 1]"),
    ("m: 40\n    k: 4\n    density: 0.5", "field 'block': 16-row blocks must divide each of the 1 gate(s) of m=40"),
    ("m: 32\n    k: 6\n    density: 0.5\n    block: 8x4", "field 'block': 4-column blocks must divide k=6"),
    ("m: 32\n    k: 4\n    density: 0.5\n    block: 3x3", "field 'block': must be one of 16x1"),
    ("m: 32\n    k: 4\n    block: 16x1", "field 'block': only applies with a 'density' field"),
    ("m: 32\n    k: 4\n    samples: 0", "field 'samples': must be a positive integer"),
    ("m: 32\n    k: 4\n    min_time: -1", "field 'min_time': must be a positive number"),
    ("m: 32\n    k: 4\n    threads: [1, zero]", "field 'threads': must be a positive integer or a list"),
    ("m: 32\n    k: 4\n    sampels: 3", "unknown field 'sampels' (did you mean 'samples'?)"),
    ("m: 32\n    k: 4\n    density: 0.5\n    keep_diagonal: true", "field 'keep_diagonal': needs square gates"),
    ("m: 2000000\n    k: 2000000", "buffers need"),
    ("m: []\n    k: 4", "field 'm': empty list, so the grid has no cases"),
])
def test_each_bad_field_gets_one_clear_line(case_fields, expected):
    lines = problems(f"name: t\ncases:\n  - name: a\n    {case_fields}\n")
    assert len(lines) == 1, lines
    assert lines[0].startswith("s.yaml: ")
    assert expected in lines[0]


def test_all_problems_are_reported_together():
    lines = problems("name: t\ncases:\n  - {name: a, m: -1, k: 0}\n  - {name: b, m: 4, k: 4, dtype: x}\n")
    assert len(lines) == 3
    assert any("case 'a': field 'm'" in l for l in lines) and any("case 'b': field 'dtype'" in l for l in lines)


@pytest.mark.parametrize("text, expected", [
    ("name: t\ncases: [\n", "malformed YAML"),
    ("- just\n- a list\n", "top level: must be a mapping"),
    ("name: t\n", "field 'cases': must be a non-empty list"),
    ("name: t\ncases: []\n", "field 'cases': must be a non-empty list"),
    ("name: t\ncasez: []\ncases: [{name: a, m: 1, k: 1}]\n", "unknown field 'casez' (did you mean 'cases'?)"),
    ("name: t\ncases:\n  - {name: a, m: 1, k: 1}\n  - {name: a, m: 2, k: 1}\n", "duplicate case name"),
    ("name: t\ncases:\n  - 42\n", "case #1: must be a mapping"),
    ("name: t\ndefaults: {warmpu: 1}\ncases: [{name: a, m: 1, k: 1}]\n", "did you mean 'warmup'"),
])
def test_document_level_problems(text, expected):
    lines = problems(text)
    assert any(expected in line for line in lines), lines


def test_yaml_is_data_only():
    lines = problems("name: !!python/object/apply:os.system ['echo pwned']\ncases: [{name: a, m: 1, k: 1}]\n")
    assert "tag 'tag:yaml.org,2002:python/object/apply:os.system' refused: suites are plain data" in lines[0]


def test_missing_file_names_it_and_shipped_suites():
    with pytest.raises(UsageError, match="nope.yaml: no such suite file; shipped suites: .*gru384"):
        load_suite("nope.yaml")


def test_shipped_suites_validate_and_resolve_by_name():
    shipped = shipped_suites()
    assert {"gru384", "quick"} <= set(shipped)
    for name in shipped:
        assert load_suite(name).cases


def test_gru384_holds_the_lpcnet_shapes():
    cases = {(c.case.op, c.case.spec.m, c.case.spec.k, c.case.spec.n) for c in load_suite("gru384").cases}
    for shape in [("gemv", 1152, 384, 1), ("gemv", 1152, 128, 1), ("gemv", 48, 384, 1), ("gemv", 48, 16, 1),
                  ("gemv", 512, 16, 1), ("gemm", 1152, 384, 16), ("gemm", 1152, 384, 64)]:
        assert shape in cases


def test_isa_field_caps_or_lists_levels():
    from gemmbench.machine.isa import parse_spec

    assert parse_spec("avx2") == {"scalar", "avx2"}
    assert parse_spec("scalar,avx512vnni") == {"scalar", "avx512vnni"}
    assert parse_spec("avx512bf16") == {"scalar", "avx2", "avx512", "avx512bf16"}  # branches, not a line
    assert parse_spec("neon-dotprod") == {"scalar", "neon", "neon-dotprod"}
    suite = parse_suite("name: t\nisa: avx512\ncases: [{name: a, m: 4, k: 4}, {name: b, m: 4, k: 4, isa: avx2}]\n")
    assert [c.isa for c in suite.cases] == ["avx512", "avx2"]
    lines = problems("name: t\ncases: [{name: a, m: 4, k: 4, isa: sse9}]\n")
    assert len(lines) == 1 and "field 'isa': must be one ISA level" in lines[0] and "avx512vnni" in lines[0]
