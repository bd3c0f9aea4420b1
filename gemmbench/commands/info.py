"""gemmbench info: the machine a run would record."""

from __future__ import annotations

import argparse
import json

from gemmbench.machine import details

NAME = "info"
HELP = "show this machine: CPU model, ISA flags, cores, BLAS (threadpoolctl), compiler, versions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    info = details()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in {**info["machine"], "feature_key": _feature_key(info), **info["extra"]}.items():
        print(f"{key:22} {value}")
    for lib in info["blas"]:
        described = ", ".join(f"{k}={v}" for k, v in lib.items() if k not in ("filepath",))
        print(f"{'threadpool':22} {described}")
        print(f"{'':22} {lib.get('filepath', '')}")
    return 0


def _feature_key(info: dict) -> str:
    from gemmbench.machine import feature_key

    machine = info["machine"]
    return feature_key(machine["cpu_model"], machine["cpu_flags"].split())
