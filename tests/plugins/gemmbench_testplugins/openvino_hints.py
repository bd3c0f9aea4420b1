"""OpenVINO's peer backend with its precision hints swapped, to show the correctness gate catching a
library that computes in another precision than its variant claims (registered by the test that uses it)."""

from gemmbench.backends.peers.openvino_runtime import OpenVinoBackend


class SwappedHintsBackend(OpenVinoBackend):
    """f32 compiled with the bf16 hint (OpenVINO's own default on a CPU with AVX512_BF16), bf16 with f32."""

    name = "test-openvino-swapped-hints"
    hints = {**OpenVinoBackend.hints, "f32": "bf16", "bf16": "f32"}
