"""The formats advice sweeps, as a suite the real runner measures.

Per matrix: the matrix dense (on the dense backends: their float32 kernels and every int8 scheme
they run), its own mask when it is already sparse, and each block shape of the sweep at each
density below what the matrix holds (on the sparse backends). Every case runs the baseline's
dense product too (DEFAULT_BASELINE): what every row's speed-up is paired with, round by round,
so cases measured minutes apart share one scale. Which backends and block shapes: the command
line's, else gemmbench.defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gemmbench import defaults, registry
from gemmbench.advise.target import Target
from gemmbench.cases.arrayfile import ArrayRef
from gemmbench.formats.blockdetect import diagonal_positions, occupied_blocks
from gemmbench.stats.decide import DEFAULT_BASELINE


@dataclass(frozen=True)
class Settings:
    densities: tuple[float, ...]
    samples: int
    min_time: float
    warmup: float
    max_time: float
    references: tuple[str, ...] = defaults.ADVISE_REFERENCES  # backends timed on the dense matrix, never the advice
    dense: tuple[str, ...] = defaults.ADVISE_DENSE  # backends of the dense matrix, beside the baseline
    sparse: tuple[str, ...] = defaults.ADVISE_SPARSE  # backends of the block-sparse formats, beside the baseline
    blocks: tuple[tuple[int, int], ...] = defaults.ADVISE_BLOCKS  # block shapes pruned to


DEFAULT = Settings((0.05, 0.1, 0.2, 0.3, 0.5), samples=15, min_time=0.002, warmup=0.02, max_time=1.0)
QUICK = Settings((0.05, 0.2), samples=5, min_time=0.001, warmup=0.005, max_time=0.3, references=())


@dataclass(frozen=True)
class Planned:
    """A case of the sweep: which matrix, and the format it stores."""

    name: str
    target: Target
    format: str  # 'dense', 'own 16x1 mask', '8x4 @10%'


def _file_field(ref: ArrayRef) -> dict:
    return {"file": ref.path, "key": ref.key, "transpose": ref.transpose}


def _held_density(target: Target, block: tuple[int, int]) -> float:
    """The share of `block`'s grid holding a nonzero (the detected diagonal apart): 1 when dense."""
    if not target.structure.sparse:
        return 1.0
    nonzero = target.weights != 0
    m, k = target.shape
    if target.structure.diagonal:
        nonzero[diagonal_positions(m, k)] = False
    return occupied_blocks(nonzero, block) / ((m // block[0]) * (k // block[1]))


def _density_field(target: Target, density: float) -> float | dict:
    """One density; per square gate when the matrix keeps a diagonal (each gate's own, as LPCNet's GRU)."""
    m, k = target.shape
    if not target.structure.diagonal:
        return density
    return {f"gate{g + 1}": density for g in range(m // k)}


def usable(backends: tuple[str, ...]) -> list[str]:
    """The baseline and the backends of the list, each once, that are installed and available here (asked of a
    child process: no backend's code runs here)."""
    from gemmbench.measure import probe

    chosen = [name for name in dict.fromkeys((DEFAULT_BASELINE, *backends)) if name in registry.backends.names()]
    return [name for name, status in probe.statuses(chosen).items() if status.available]


def planned_cases(target: Target, settings: Settings, inputs: ArrayRef | None) -> list[tuple[Planned, dict]]:
    """(what it is, its suite case) for each format of the sweep on one matrix."""
    m, k = target.shape
    common = {"op": "gemv", "weights": _file_field(target.ref),
              **({"inputs": _file_field(inputs)} if inputs is not None else {})}
    dense_backends = usable((*settings.dense, *settings.references))
    out = [(Planned(f"{target.name} dense", target, "dense"),
            {**common, "name": f"{target.name} dense", "backends": dense_backends,
             **({"own_mask": False} if target.structure.sparse else {})})]
    sparse_backends = usable(settings.sparse)
    structure = target.structure
    if structure.sparse:
        br, bc = structure.storage
        name = f"{target.name} own {br}x{bc} mask"
        out.append((Planned(name, target, f"own {br}x{bc} mask"),
                    {**common, "name": name, "backends": sparse_backends}))
    for block in settings.blocks:
        if m % block[0] or k % block[1]:
            continue
        held = _held_density(target, block)
        for density in settings.densities:
            if density >= held * 0.98:  # no further pruning: the own mask (or dense) already stands for it
                continue
            label = f"{block[0]}x{block[1]} @{density:.0%}"
            name = f"{target.name} {label}"
            out.append((Planned(name, target, label),
                        {**common, "name": name, "density": _density_field(target, density),
                         "block": f"{block[0]}x{block[1]}", "backends": sparse_backends}))
    return out


def suite_document(name: str, cases: list[dict], settings: Settings) -> dict:
    return {"name": name, "description": "formats swept by gemmbench advise",
            "defaults": {"dtype": "float32", "threads": [1], "samples": settings.samples,
                         "min_time": settings.min_time, "warmup": settings.warmup, "max_time": settings.max_time},
            "cases": cases}


def suite_name(targets: list[Target]) -> str:
    stem = Path(targets[0].ref.path).stem
    return f"advise-{stem}" + (f"-{targets[0].name}" if len(targets) == 1 and targets[0].ref.key else "")
