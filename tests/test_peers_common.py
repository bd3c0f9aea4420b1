"""What the three peers share: their role, their absence shown as 'unavailable' with the install line,
and no runtime imported until a worker prepares a row."""

import os
import subprocess
import sys

import pytest

from gbtest import results_path
from gemmbench import registry
from gemmbench.backend import ROLES
from gemmbench.backends.peers.base import INSTALL_HINT
from gemmbench.backends.peers.litert import LiteRTBackend
from gemmbench.backends.peers.onnx_runtime import OnnxRuntimeBackend
from gemmbench.backends.peers.openvino_runtime import OpenVinoBackend

PEERS = {"litert": LiteRTBackend, "onnxruntime": OnnxRuntimeBackend, "openvino": OpenVinoBackend}
RUNTIMES = ("ai_edge_litert", "flatbuffers", "onnxruntime", "onnx", "openvino")


def test_the_peers_are_peers_and_the_built_ins_ours():
    assert {name: registry.backends.get(name).role for name in PEERS} == dict.fromkeys(PEERS, "peer")
    assert registry.backends.get("numpy").role == registry.backends.get("csimd").role == "ours"
    assert all(registry.backends.get(name).role in ROLES for name in registry.backends.names())


@pytest.mark.parametrize("name", sorted(PEERS))
def test_a_missing_runtime_makes_the_backend_unavailable_with_the_install_line(monkeypatch, name):
    backend = PEERS[name]()
    for module in backend.modules:
        monkeypatch.setitem(sys.modules, module, None)  # what the import system sees when it is not installed
    ok, reason = backend.available()
    assert not ok and reason == f"{', '.join(backend.modules)} not installed ({INSTALL_HINT})"


def test_listing_the_peers_imports_no_runtime():
    script = ("import sys\nfrom gemmbench import registry\n"
              "for name in ('litert', 'onnxruntime', 'openvino'):\n    registry.status(name)\n"
              f"print(sorted(set({RUNTIMES!r}) & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_without_the_runtimes_a_real_run_says_unavailable_with_the_install_line(cli, write_suite, tmp_path):
    """The CLI and its workers start with the runtimes hidden from the import system, as in an
    environment where the extra was never installed: their rows say so, the others run."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({RUNTIMES!r}))\n")
    suite = write_suite("""
        name: no-peers
        backends: [numpy, litert, onnxruntime, openvino]
        cases:
          - {name: small, m: 16, k: 8}
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")]))}
    listed = cli("list", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    for name in PEERS:
        assert "unavailable" in lines[name] and INSTALL_HINT in lines[name], lines[name]
    result = cli("run", suite, "-o", tmp_path / "out", "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    import pandas as pd

    rows = pd.read_parquet(results_path(result.stdout)).set_index("backend")
    assert rows.loc["numpy", "status"] == "ok"
    for name in PEERS:
        assert rows.loc[name, "status"] == "unavailable" and INSTALL_HINT in rows.loc[name, "message"]


@pytest.mark.slow
def test_a_vocoder_step_composes_from_each_peers_products(run_rows):
    """lpcnet_step on a peer: its six products prepared and bound to the step's buffers, the gates in numpy."""
    for module in RUNTIMES:
        pytest.importorskip(module, reason=f"{module} not installed ({INSTALL_HINT})")
    rows = run_rows("""
        name: peer-steps
        backends: ["litert:xnnpack-int8-dynamic", "onnxruntime:f32", "openvino:f32"]
        cases:
          - {name: step, op: lpcnet_step, m: 72, k: 24, steps: 3}
        """)
    for backend, variant in (("litert", "xnnpack-int8-dynamic"), ("onnxruntime", "f32"), ("openvino", "f32")):
        row = rows[("step", backend, variant)]
        assert row.status == "ok", row.message
        assert row.detail.startswith(f"composed in numpy over {backend} gemv: ") and row.rtf > 0
