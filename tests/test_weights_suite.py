"""Suites on a model's own matrices: weights and inputs fields, the rows they give, --resume's SHA-256 check."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from gbtest import FAST_DEFAULTS
from gemmbench.cases.suite import load_suite
from gemmbench.data.results import load_results
from gemmbench.errors import SuiteError, UsageError


@pytest.fixture
def model(tmp_path):
    """models/m.npz beside the suite: a dense matrix, one with a 16x1 mask at 25%, and activations."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((64, 32)) / np.sqrt(32)
    mask = np.repeat(rng.random((4, 32)) < 0.25, 16, axis=0)
    (tmp_path / "models").mkdir()
    np.savez(tmp_path / "models" / "m.npz", dense=weights.astype(np.float32),
             sparse=(weights * mask).astype(np.float32), cube=np.zeros((2, 2, 2)))
    np.save(tmp_path / "models" / "acts.npy", rng.uniform(-1, 1, (40, 32)).astype(np.float32))
    return tmp_path


def suite(model, body: str, name: str = "s.yaml"):
    path = model / name
    path.write_text("name: weights\n" + FAST_DEFAULTS + "cases:\n" + body)
    return path


def problems(path) -> list[str]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    return caught.value.problems


def test_shape_from_the_file_and_paths_from_the_suite(model, monkeypatch, tmp_path_factory):
    path = suite(model, "  - {name: a, weights: models/m.npz:dense}\n"
                        "  - {name: b, weights: {file: models/m.npz, key: dense, transpose: true}, m: 32}\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # relative to the suite, not the working directory
    a, b = (c.case.spec for c in load_suite(path).cases)
    assert (a.m, a.k, b.m, b.k) == (64, 32, 32, 64)
    assert a.weights.sha256 == hashlib.sha256((model / "models" / "m.npz").read_bytes()).hexdigest()
    assert a.weights.source == "models/m.npz:dense" and b.weights.source == "models/m.npz:dense transposed"
    assert a.structure == "dense" and a.sparsity is None


def test_bad_weights_fields_are_one_line_each(model):
    lines = problems(suite(model, "  - {name: a, weights: models/m.npz:gru}\n"
                                  "  - {name: b, weights: models/none.npz:w}\n"
                                  "  - {name: c, weights: models/m.npz:cube}\n"
                                  "  - {name: d, weights: models/m.npz:dense, m: 10}\n"
                                  "  - {name: e, m: 8, k: 8, own_mask: false}\n"))
    where = f"{model / 's.yaml'}"
    assert lines[0] == (f"{where}: case 'a': field 'weights': m.npz has no array 'gru'; it holds: dense (64x32 float32), "
                        f"sparse (64x32 float32), cube (2x2x2 float64), got 'models/m.npz:gru'")
    assert lines[1].startswith(f"{where}: case 'b': field 'weights': none.npz: no such file (")
    assert lines[2] == (f"{where}: case 'c': field 'weights': m.npz:cube: shape (2, 2, 2) is 3-D; it must be 2-D, "
                        f"got 'models/m.npz:cube'")
    assert lines[3] == (f"{where}: case 'd': field 'm': the matrix models/m.npz:dense is 64x32; give m: 64 or leave "
                        f"m out, got 10")
    assert lines[4] == f"{where}: case 'e': field 'own_mask': applies to a matrix read from a file (a 'weights' field), got False"
    assert len(lines) == 5


def test_bad_file_exits_2_with_one_line(model, cli):
    result = cli("validate", suite(model, "  - {name: a, weights: models/m.npz:gru}\n"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "field 'weights': m.npz has no array 'gru'; it holds: dense (64x32 float32)" in result.stderr


def test_an_already_sparse_matrix_keeps_its_mask_and_density_prunes_further(model):
    path = suite(model, "  - {name: own, weights: models/m.npz:sparse}\n"
                        "  - {name: further, weights: models/m.npz:sparse, density: 0.1}\n"
                        "  - {name: dense, weights: models/m.npz:sparse, own_mask: false}\n")
    own, further, dense = (c.case for c in load_suite(path).cases)
    held = own.spec.sparsity.density[0]
    assert own.spec.sparsity.block == (16, 1) and 0.15 < held < 0.35
    assert own.spec.structure.startswith("already sparse: 16x1 blocks at ")
    assert further.spec.sparsity.block == (16, 1) and further.spec.sparsity.density == (0.1,)
    assert dense.spec.sparsity is None

    from gemmbench.cases.workload import make_workload

    stored = np.load(model / "models" / "m.npz")["sparse"]
    work = make_workload(own)
    assert np.array_equal(work.weights, stored)  # its own mask: nothing pruned
    assert np.array_equal(np.repeat(work.block_mask, 16, axis=0), stored != 0)
    kept = make_workload(further).weights != 0
    assert kept.sum() < (stored != 0).sum() and not (kept & (stored == 0)).any()  # inside the own mask


def test_a_density_above_the_files_is_refused(model):
    lines = problems(suite(model, "  - {name: a, weights: models/m.npz:sparse, density: 0.9}\n"))
    assert len(lines) == 1 and "field 'density': the file's matrix holds " in lines[0]
    assert "nonzero 16x1 blocks (density 0." in lines[0] and "a higher density would keep blocks of zeros" in lines[0]


def test_inputs_of_the_wrong_width_are_refused(model):
    np.save(model / "models" / "short.npy", np.zeros((5, 31), np.float32))
    lines = problems(suite(model, "  - {name: a, weights: models/m.npz:dense, inputs: models/short.npy}\n"))
    assert lines == [f"{model / 's.yaml'}: case 'a': field 'inputs': models/short.npy holds vectors of 31 values "
                     f"(one a row); this case's k is 32, got 'models/short.npy'"]


def test_rows_record_the_files_and_inputs_are_verified_and_cycled(model, cli):
    path = suite(model, "  - {name: rec, weights: models/m.npz:dense, inputs: models/acts.npy}\n"
                        "  - {name: own, weights: models/m.npz:sparse}\n", name="run.yaml")
    text = path.read_text().replace("cases:", "backends: [numpy, csimd:avx2, scipy]\ncases:")
    (model / "run.yaml").write_text(text.replace("timeout: 30", "timeout: 300"))  # a loaded machine compiling csimd
    result = cli("run", model / "run.yaml", "-o", model / "out", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    from gbtest import results_path

    rows = load_results(results_path(result.stdout))
    sha = hashlib.sha256((model / "models" / "m.npz").read_bytes()).hexdigest()
    assert set(rows["weights_source"]) == {"models/m.npz:dense", "models/m.npz:sparse"}
    assert set(rows["weights_sha256"]) == {sha}
    assert json.loads(rows["params"].iloc[0])["weights"]["sha256"] == sha
    rec = rows[(rows["case"] == "rec") & (rows["backend"] != "scipy")].set_index("variant")
    assert set(rec["inputs_source"]) == {"models/acts.npy"} and set(rec["status"]) == {"ok"}
    assert rec.loc["avx2", "detail"].endswith("the Python call cycles through 40 recorded inputs (the native "
                                              "loop runs on the first: it cannot cycle)")
    assert rec.loc["matmul", "detail"].endswith("the Python call cycles through 40 recorded inputs")
    assert 1e-9 < rec.loc["matmul", "rel_err"] < 1e-5  # float32 against float64 over all 40 inputs together
    own = rows[rows["case"] == "own"]
    nonzero = np.load(model / "models" / "m.npz")["sparse"] != 0
    assert set(own["weights_structure"]) == {f"already sparse: 16x1 blocks at {nonzero.mean():.1%} "
                                             f"({int(nonzero.sum() // 16)} blocks)"}
    assert set(own.loc[own["backend"] == "scipy", "status"]) == {"ok"}


def test_resume_refuses_a_changed_weights_file(model, cli):
    import pyarrow.parquet as pq

    from gemmbench.measure.runner import RunOptions, resume_run, run_suite

    path = suite(model, "  - {name: a, weights: models/m.npz:dense, backends: [numpy]}\n"
                        "  - {name: b, m: 8, k: 8, backends: [numpy]}\n")
    outcome = run_suite(load_suite(path), RunOptions(out_dir=model / "out", progress=False))
    table = pq.read_table(outcome.path)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    pq.write_table(table.slice(0, 1).replace_schema_metadata(
        {b"gemmbench": json.dumps({**meta, "complete": False}).encode()}), outcome.path)
    rng = np.random.default_rng(9)
    np.savez(model / "models" / "m.npz", dense=rng.standard_normal((64, 32)).astype(np.float32))
    result = cli("run", "--resume", outcome.path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"gemmbench: error: {outcome.path}: cannot resume: models/m.npz: the file changed "
                                    f"since the run started (SHA-256 ")
    assert result.stderr.endswith("now); start a new run\n")
    with pytest.raises(UsageError, match="cannot resume: models/m.npz: the file changed"):
        resume_run(outcome.path, progress=False)


def test_lpcnet_step_takes_gru_a_from_the_file(model):
    from gemmbench.cases.workload import make_workload

    rng = np.random.default_rng(2)
    gru = (rng.standard_normal((96, 32)) * np.repeat(rng.random((6, 32)) < 0.2, 16, axis=0)).astype(np.float32)
    np.save(model / "models" / "gru.npy", gru)
    path = suite(model, "  - {name: step, op: lpcnet_step, weights: models/gru.npy, hidden_b: 4, cond_size: 8,"
                        " levels: 16}\n")
    case = load_suite(path).cases[0].case
    assert (case.spec.m, case.spec.k) == (96, 32) and case.spec.sparsity.block == (16, 1)
    assert case.spec.weights.source == "models/gru.npy"
    assert np.array_equal(make_workload(case).extra["gru_a"], gru)  # its own mask: nothing pruned
