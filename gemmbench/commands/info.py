"""gemmbench info: the machine a run would record."""

from __future__ import annotations

import argparse
import json

NAME = "info"
HELP = ("show this machine: CPU model, ISA flags (real or simulated), caches, cores, BLAS (threadpoolctl), "
        "compiler, versions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from gemmbench.machine.caches import Cache, describe
    from gemmbench.machine.fingerprint import details

    info = details()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in {**info["machine"], "feature_key": info["feature_key"], **info["extra"]}.items():
        print(f"{key:22} {value}")
    for cache in info["caches"]:
        print(f"{Cache(**cache).name + ' cache':22} {describe(Cache(**cache))}")
    simulation = info["simulation"]
    if simulation is not None:
        settings = " ".join(f"{k}={v}" for k, v in simulation["worker_environment"].items()) or "nothing to set"
        print(f"{'worker environment':22} {settings}  (the BLAS below is this process's, not a worker's)")
    for lib in info["blas"]:
        described = ", ".join(f"{k}={v}" for k, v in lib.items() if k not in ("filepath",))
        print(f"{'threadpool':22} {described}")
        print(f"{'':22} {lib.get('filepath', '')}")
    return 0
