"""gemmbench plot RESULTS... --kind K -o FILE.png|svg: one of the report's figures on its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from gemmbench.cases.fields import did_you_mean
from gemmbench.commands.report import add_row_options, row_filter
from gemmbench.data import output
from gemmbench.errors import UsageError

NAME = "plot"
HELP = "draw one kind of plot of results files or directories to a PNG or SVG file"
FORMATS = ("png", "svg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="parquet results files, or directories searched for them")
    parser.add_argument("-k", "--kind", required=True, metavar="KIND",
                        help="which plot: one of the report's kinds (speedup, sweep, isa, threads, accuracy, "
                             "roofline, samples) or one an op adds (e.g. rtf, parts); a wrong name lists them all")
    parser.add_argument("-o", "--out", required=True, type=Path,
                        help="image file to write: .png or .svg (a kind drawn on several pages adds -2, -3, ...)")
    add_row_options(parser)
    parser.add_argument("--dpi", type=int, default=150, help="resolution of a PNG (default: 150)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from gemmbench.report import data, kinds

    fmt = args.out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"{args.out}: unknown image format {args.out.suffix or '(none)'!r}; use .png or .svg")
    from gemmbench.data.results import files_read

    reading = files_read(args.results)
    output.checked(args.out, reading)
    results = data.load(args.results, args.baseline, row_filter(args))
    known = kinds.available(results)  # the core kinds and those of the ops these results ran
    if args.kind not in known:
        raise UsageError(f"--kind: unknown plot kind '{args.kind}'{did_you_mean(args.kind, list(known))}; "
                         f"kinds of these results: {', '.join(known)}")
    # A kind the report draws only on demand (every sample) is asked for by naming it here.
    results = dataclasses.replace(results, every_sample=bool(known[args.kind].on_demand))
    try:
        figures = kinds.pages(args.kind, results, titled=True)
    except kinds.NoPlotData as reason:
        raise UsageError(f"{', '.join(args.results)}: no {args.kind} plot: {reason}") from None
    for path, figure in zip(_page_paths(args.out, len(figures)), figures):
        output.write(path, kinds.render(figure, fmt, args.dpi), reading)
        print(path)
    return 0


def _page_paths(out: Path, count: int) -> list[Path]:
    """speedup.png, speedup-2.png, speedup-3.png, ... for a kind drawn on `count` pages."""
    return [out] + [out.with_name(f"{out.stem}-{n}{out.suffix}") for n in range(2, count + 1)]
