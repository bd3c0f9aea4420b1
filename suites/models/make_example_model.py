"""Write example.npz and example_inputs.npz: a small model for `gemmbench advise` and
suites/example_model.yaml, and activations recorded-like for it.

    python suites/models/make_example_model.py     # rewrites both files beside this script

Two matrices made from a fixed seed (tests check the file matches this script), stored as
float16, as a model trained in mixed precision saves them (and so the file stays small: as
float32 the random mantissas do not compress and the file would take 460 KiB):

- gru_a_recurrent (1152 x 384): LPCNet's GRU-A recurrent matrix, three gates of 384 rows,
  pruned to 16x1 blocks at 10% per gate, as LPCNet trains it; its kept weights scaled like
  a trained layer's, and four outlier rows with weights twelve times larger (a trained
  matrix's few large rows, which set a per-tensor int8 scale for everyone).
- fc_dense (256 x 128): a dense layer with a trained-like spectrum: singular values falling
  as a power law (i^-0.7) instead of random data's flat bulk; no exact zeros.

and in example_inputs.npz, under the same names, activations for each, one input vector a row:

- gru_a_recurrent (64 x 384): GRU-A states, tanh of a random walk, inside (-1, 1);
- fc_dense (64 x 128): pre-activations, N(0, 0.6), so about 10% of them lie outside [-1, 1]
  (what the u8-offset int8 schemes clip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20261129
GRU_SHAPE = (1152, 384)
GATES = 3
BLOCK = (16, 1)
DENSITY = 0.10
OUTLIER_ROWS = (7, 400, 777, 1100)
OUTLIER_GAIN = 12.0
DENSE_SHAPE = (256, 128)
SPECTRUM_POWER = 0.7
ACTIVATIONS = 64
OUT = Path(__file__).resolve().parent / "example.npz"
INPUTS_OUT = OUT.with_name("example_inputs.npz")


def gru_a(rng: np.random.Generator) -> np.ndarray:
    m, k = GRU_SHAPE
    br, bc = BLOCK
    rows_per_gate = m // GATES
    blocks_per_gate = (rows_per_gate // br) * (k // bc)
    mask = np.zeros((m // br, k // bc), dtype=bool)
    for gate in range(GATES):
        kept = rng.choice(blocks_per_gate, size=round(DENSITY * blocks_per_gate), replace=False)
        gate_mask = np.zeros(blocks_per_gate, dtype=bool)
        gate_mask[kept] = True
        first = gate * rows_per_gate // br
        mask[first:first + rows_per_gate // br] = gate_mask.reshape(rows_per_gate // br, k // bc)
    dense_mask = np.repeat(np.repeat(mask, br, axis=0), bc, axis=1)
    weights = rng.standard_normal((m, k)) / np.sqrt(DENSITY * k) * dense_mask
    weights[list(OUTLIER_ROWS)] *= OUTLIER_GAIN
    return weights.astype(np.float16)


def dense_layer(rng: np.random.Generator) -> np.ndarray:
    m, k = DENSE_SHAPE
    left, _ = np.linalg.qr(rng.standard_normal((m, k)))
    right, _ = np.linalg.qr(rng.standard_normal((k, k)))
    singular = (np.arange(1, k + 1) ** -SPECTRUM_POWER)
    weights = (left * singular) @ right.T
    weights *= 1 / (np.sqrt(k) * weights.std())  # entries of the scale N(0, 1/k) of a trained layer
    return weights.astype(np.float16)


def activations(rng: np.random.Generator) -> dict[str, np.ndarray]:
    vectors = ACTIVATIONS
    walk = np.cumsum(rng.standard_normal((vectors, GRU_SHAPE[1])) * 0.3, axis=0)  # a state moving step by step
    return {"gru_a_recurrent": np.tanh(walk).astype(np.float16),
            "fc_dense": (0.6 * rng.standard_normal((vectors, DENSE_SHAPE[1]))).astype(np.float16)}


def arrays() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the weights, the activations), both by matrix name."""
    rng = np.random.default_rng(SEED)
    weights = {"gru_a_recurrent": gru_a(rng), "fc_dense": dense_layer(rng)}
    return weights, activations(rng)


if __name__ == "__main__":
    weights, inputs = arrays()
    for path, content in ((OUT, weights), (INPUTS_OUT, inputs)):
        np.savez_compressed(path, **content)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
