"""The shipped gru384 suite with every registered backend: each gives every case a row that explains itself."""

import pytest
import yaml

from gemmbench import registry
from gemmbench.backends.torch_backend import INSTALL_HINT
from gemmbench.cases.suite import load_suite, resolve

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

FAST = {"warmup": 0.001, "min_time": 0.0002, "samples": 3, "max_time": 0.05}
BATCH_CASES = {"gru_a_batch[n=16]", "gru_a_batch[n=64]"}


def test_every_backend_has_a_meaningful_row_for_every_gru384_case(run_rows):
    suite = yaml.safe_load(resolve("gru384").read_text())
    assert "backends" not in suite  # the default: every registered backend
    suite["defaults"].update(FAST)
    rows = run_rows(yaml.safe_dump(suite), key=("case", "backend", "variant"))
    cases = {r.case for r in rows.values()}
    expanded = load_suite("gru384").cases
    assert cases == {c.case.name for c in expanded}
    sparse_cases = {c.case.name for c in expanded if c.case.spec.sparsity is not None}
    sparse16x1 = {c.case.name for c in expanded if c.case.spec.sparsity and c.case.spec.sparsity.block == (16, 1)}
    ops = {c.case.name: c.case.op for c in expanded}
    for name in registry.backends.names():
        backend, status = registry.backends.get(name), registry.status(name)
        variants = [v for v in backend.variants() if status.available] or [None]
        for case in cases:
            for variant in variants:  # a row for every variant that runs the case's op: never a silent gap
                if variant is not None and not backend.runs(variant, ops[case]):
                    assert (case, name, variant.name) not in rows  # and none for the others (conv1d methods)
                    continue
                row = rows[(case, name, variant.name if variant else "default")]
                assert row.status in {"ok", "skipped", "unavailable"}, row
                assert (row.status == "ok") == (row.message == ""), row

    def ok(backend):
        return {(r.case, r.variant) for r in rows.values() if r.backend == backend and r.status == "ok"}

    assert {case for case, _ in ok("numpy")} == cases
    assert ok("scipy") == {(c, v) for c in sparse_cases for v in ("csr", "bsr")}
    assert {c for c, v in ok("csimd") if v == "avx2"} == cases - BATCH_CASES - sparse_cases \
        - {"gru_a_recurrent_f64"} | BATCH_CASES | sparse16x1
    assert {c for c, v in ok("int8-numpy")} == cases - {"gru_a_recurrent_f64"}
    assert ok("strassen") == {(c, v) for c in BATCH_CASES for v in ("levels1", "levels2")}
    assert rows[("gru_a_batch[n=64]", "strassen", "auto")].status == "skipped"
    torch_rows = [r for r in rows.values() if r.backend == "torch"]
    if not registry.status("torch").available:
        assert all(r.status == "unavailable" and INSTALL_HINT in r.message for r in torch_rows)
    else:
        assert {r.case for r in torch_rows if r.status == "skipped"} == {"gru_a_recurrent_f64"}
