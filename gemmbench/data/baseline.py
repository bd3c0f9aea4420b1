"""The committed baseline of one machine's results: the directory under the baseline root named by
their feature key (gemmbench.machine.featurekey). A baseline of that key stored under any other
name is an error, never a silent miss: a renamed directory must not turn a CI gate off.
"""

from __future__ import annotations

import os
from pathlib import Path

from gemmbench.errors import UsageError
from gemmbench.machine.featurekey import is_simulated


def _feature_key(frame, results) -> str:
    keys = sorted(set(frame["feature_key"].dropna()))
    if len(keys) != 1:
        raise UsageError(f"{results}: rows of {len(keys)} feature keys ({', '.join(keys) or 'none'}); give one "
                         f"machine's results, e.g. a merged dataset's feature_key=... directory")
    if is_simulated(keys[0]):
        raise UsageError(f"{results}: measured on a simulated CPU ({keys[0]}, GEMMBENCH_CPU_FLAGS): a simulation "
                         f"has no baseline and is never compared with a machine's")
    return keys[0]


def _checked(path: Path) -> Path:
    from gemmbench.data.results import load_results

    simulated = sorted(k for k in set(load_results(path)["feature_key"].dropna()) if is_simulated(k))
    if simulated:
        raise UsageError(f"{path}: holds rows of a simulated CPU ({', '.join(simulated)}); a baseline must come "
                         f"from a real machine")
    return path


def find(results: str | os.PathLike, root: str | os.PathLike) -> Path | None:
    """The baseline directory under `root` for the machine `results` come from; None when there is none."""
    from gemmbench.data.results import load_results

    frame = load_results(results)
    key, root = _feature_key(frame, results), Path(root)
    if (root / key).is_dir():
        return _checked(root / key)
    for other in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if key in set(load_results(other)["feature_key"].dropna()):
            raise UsageError(f"{other}: a baseline of feature key {key} is stored under {other.name}; move it to "
                             f"{root / key} so that it gates again")
    return None
