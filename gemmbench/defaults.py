"""The backends the harness's own measuring commands choose when the command line names none.

Written here once, by name only: no harness module imports a backend
(tests/test_harness_imports.py), `check --levels` and `advise` take theirs from their command
lines and fall back on these, and a name that is not installed here is left out where it is
used. The baseline every speed-up is measured against is DEFAULT_BASELINE, beside the rule that
uses it.
"""

from __future__ import annotations

# check --levels: the kernel whose variance is measured against the baseline, each as
# BACKEND[:VARIANT]; a backend alone stands for its float32 GEMV of the highest ISA level this CPU runs.
LEVELS_KERNEL = "csimd"

# advise: the backends of the dense matrix and of the block-sparse formats, beside the baseline
# (which every case runs), and the references timed on the dense matrix but never the advice.
ADVISE_DENSE = ("csimd", "torch")
ADVISE_SPARSE = ("csimd", "scipy")
ADVISE_REFERENCES = ("int8-numpy",)
# the block shapes advise prunes to: those csimd's kernels take (float32 16x1, int8 8x4); scipy runs any
ADVISE_BLOCKS = ((16, 1), (8, 4))
