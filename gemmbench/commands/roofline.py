"""gemmbench roofline: measure (or show the cached) peak throughput and bandwidth of this machine."""

from __future__ import annotations

import argparse

from gemmbench.machine.caches import format_size
from gemmbench.report.textable import render

NAME = "roofline"
HELP = "measure this machine's roof: peak FLOP/s per ISA level, int8 dot-product peak, bandwidth per cache level"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refresh", action="store_true", help="measure again even when a cached roof exists")
    parser.add_argument("--max-size", type=int, default=None, metavar="MIB",
                        help="largest working set of the bandwidth sweep, MiB (default 512, at most a quarter of memory)")
    parser.add_argument("--json", action="store_true", help="print the roof as JSON")


def run(args: argparse.Namespace) -> int:
    from gemmbench.machine import roofline

    max_bytes = roofline.SWEEP_MAX if args.max_size is None else args.max_size << 20
    roof = roofline.load_or_measure(refresh=args.refresh, max_bytes=max_bytes)
    if args.json:
        print(roof.to_json())
        return 0
    print(f"machine {roof.feature_key}, measured {roof.measured} on CPU {roof.cpu}; cached in "
          f"{roofline.cache_file()}")
    print()
    print(_peaks_table(roof))
    print()
    print(_levels_table(roof))
    for note in roof.notes:
        print(f"note: {note}")
    print()
    print("sweep (working set GB/s): " + ", ".join(f"{format_size(size)} {gbps:.0f}" for size, gbps in roof.sweep))
    return 0


def _peaks_table(roof) -> str:
    """One row per probed ISA level, in the order of isa.py; '-' where the level adds nothing to that arithmetic."""
    from gemmbench.machine import isa

    probed = set(roof.peak_gflops) | set(roof.peak_int8_gops) | set(roof.peak_half_gflops)
    names = [name for name in isa.LEVELS if name in probed]

    def cell(peaks: dict, name: str) -> str:
        return f"{peaks[name]:.1f}" if name in peaks else "-"

    return render(["ISA level", "float32 GFLOP/s", "int8 GOP/s", "bf16/fp16 GFLOP/s"],
                  [[name, cell(roof.peak_gflops, name), cell(roof.peak_int8_gops, name),
                    cell(roof.peak_half_gflops, name)] for name in names], right={1, 2, 3})


def _levels_table(roof) -> str:
    headers = ["level", "sysfs size", "plateau in the sweep", "reach", "read GB/s"]
    if not roof.levels:  # a roof cached before levels came from the sweep's knees
        rows = [[level, format_size(roof.caches[level]) if level in roof.caches else "", "", "", f"{gbps:.1f}"]
                for level, gbps in roof.bandwidth.items()]
    else:
        rows = [[level.name, format_size(level.cache) if level.cache else "",
                 f"{format_size(level.first)} - {format_size(level.last)}",
                 format_size(level.reach) if level.reach else "", f"{level.gbps:.1f}"] for level in roof.levels]
    return render(headers, rows, right={1, 3, 4})
