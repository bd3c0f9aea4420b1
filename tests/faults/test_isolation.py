"""Each variant sees the case's arrays read-only: a variant that writes into them fails itself, with the
reason, and its siblings (before and after it, in the same worker) are judged on the data they should be."""

import math

import numpy as np
import pytest

from gemmbench.measure.verify import check, combine

SUITE = "name: siblings\nbackends: [{backend}]\ncases: [{{name: a, m: 16, k: 8}}]\n"


@pytest.mark.slow
def test_a_variant_that_writes_into_the_case_fails_itself(plugins, run_rows):
    rows = run_rows(SUITE.format(backend="test-siblings"))
    found = {variant: (row.status, row.message) for (_, _, variant), row in rows.items()}
    assert found["first"] == ("ok", "") and found["last"] == ("ok", "")
    for variant, numpy_says in (("scale", "ValueError: output array is read-only"),
                                ("zero-reference", "ValueError: assignment destination is read-only")):
        status, message = found[variant]
        assert status == "error" and message.startswith(numpy_says)
        assert message.endswith("(the case's arrays are read-only to a variant; a backend that must write to "
                                "them declares writable_workload = True)")
    assert found["poke"] == ("error", "wrote into the case's shared arrays (weights) through a pointer; a variant "
                                      "must leave its inputs as it found them (they were made afresh for the "
                                      "others; a backend that must write to them declares writable_workload = True)")


@pytest.mark.slow
def test_a_backend_that_declares_it_writes_gets_copies(plugins, run_rows):
    rows = run_rows(SUITE.format(backend="test-writes"))
    found = {variant: (row.status, row.message) for (_, _, variant), row in rows.items()}
    # Each variant wrote into its own copy; the one that zeroed its own reference is judged against it.
    assert found.pop("zero-reference")[0] == "wrong"
    assert set(found.values()) == {("ok", "")}


def test_any_output_against_a_zero_reference_is_wrong_not_an_error():
    verdict = check(np.array([0.0, 0.5, -2.0]), np.zeros(3), "float32")
    assert not verdict.ok and verdict.rel_err == math.inf and verdict.snr_db == -math.inf
    assert verdict.message == "the reference is all zeros and the output is not (largest value 2)"
    assert check(np.zeros(3), np.zeros(3), "float32").ok  # exactly zero is exactly right
    both = combine([check(np.ones(2), np.ones(2), "float32"), check(np.ones(2), np.zeros(2), "float32")],
                   [math.sqrt(2), 0.0], "float32", 1e-4)
    assert not both.ok and both.message.startswith("input 2 of 2: the reference is all zeros")
