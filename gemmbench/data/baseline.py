"""The committed baseline of one machine's results: under its feature key, or under the key its
CPU had in the first key format (gemmbench.machine.featurekey), which the rows' brand string and flags
reproduce. A baseline of the same CPU under any other key is an error, never a silent miss: a
renamed key must not turn a CI gate off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gemmbench.errors import UsageError
from gemmbench.machine.featurekey import is_simulated
from gemmbench.machine.fingerprint import format1_key


@dataclass(frozen=True)
class Baseline:
    path: Path
    note: str  # how it was found, when not under the results' own key ('' when it was)


def _cpus(frame) -> set[tuple[str, str]]:
    return {(m, f) for m, f in frame[["cpu_model", "cpu_flags"]].dropna().itertuples(index=False)}


def _feature_key(frame, results) -> str:
    keys = sorted(set(frame["feature_key"].dropna()))
    if len(keys) != 1:
        raise UsageError(f"{results}: rows of {len(keys)} feature keys ({', '.join(keys) or 'none'}); give one "
                         f"machine's results, e.g. a merged dataset's feature_key=... directory")
    if is_simulated(keys[0]):
        raise UsageError(f"{results}: measured on a simulated CPU ({keys[0]}, GEMMBENCH_CPU_FLAGS): a simulation "
                         f"has no baseline and is never compared with a machine's")
    return keys[0]


def _checked(path: Path, note: str) -> Baseline:
    from gemmbench.data.results import load_results

    simulated = sorted(k for k in set(load_results(path)["feature_key"].dropna()) if is_simulated(k))
    if simulated:
        raise UsageError(f"{path}: holds rows of a simulated CPU ({', '.join(simulated)}); a baseline must come "
                         f"from a real machine")
    return Baseline(path, note)


def find(results: str | os.PathLike, root: str | os.PathLike) -> Baseline | None:
    """The baseline directory under `root` for the machine `results` come from; None when there is none."""
    from gemmbench.data.results import load_results

    frame = load_results(results)
    key, root = _feature_key(frame, results), Path(root)
    if (root / key).is_dir():
        return _checked(root / key, "")
    cpus = _cpus(frame)
    for old in sorted({format1_key(model, flags) for model, flags in cpus}):
        if (root / old).is_dir():
            return _checked(root / old, f"the baseline of {key} is stored under {old}, its CPU's key in the first "
                                        f"key format (same CPU model string and flags; that format records no "
                                        f"family/model)")
    for other in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if _cpus(load_results(other)) & cpus:
            raise UsageError(f"{other}: a baseline of this CPU (same model string and flags) is stored under "
                             f"{other.name}, which is neither its feature key {key} nor its first-format key; "
                             f"move it to {root / key} so that it gates again")
    return None
