"""gemmbench advise WEIGHTS[:KEY] --budget 1%: the fastest format and kernel for your matrix within an error budget."""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

from gemmbench import defaults
from gemmbench.commands import add_progress_options, known_backend
from gemmbench.errors import UsageError

NAME = "advise"
HELP = "sweep storage formats and kernels on your own matrix; recommend the fastest within an error budget"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", metavar="WEIGHTS[:KEY]",
                        help="a .npy, .npz, .safetensors or PyTorch state dict file, and the key of one matrix; "
                             "without a key, every 2-D matrix of the file")
    parser.add_argument("--budget", default="1%",
                        help="the error the product may have: a relative error ('1%%', '0.01') or an SNR "
                             "('30dB'); default 1%%")
    parser.add_argument("--inputs", metavar="FILE[:KEY]",
                        help="recorded activations, one input vector a row (default: generated, uniform in [-1, 1))")
    parser.add_argument("--transpose", action="store_true",
                        help="the file stores W transposed (k x m, as Keras kernels are)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer densities and samples, no numpy int8 reference timings (about 30 s a matrix)")
    parser.add_argument("--backends", metavar="LIST", default=",".join(defaults.ADVISE_DENSE),
                        help="the backends that run the dense matrix, beside the baseline every case runs "
                             "(default: %(default)s; those not installed here are left out)")
    parser.add_argument("--sparse-backends", metavar="LIST", default=",".join(defaults.ADVISE_SPARSE),
                        help="the backends that run the block-sparse formats (default: %(default)s)")
    parser.add_argument("-o", "--out", default="results", help="folder of the results files (default: results)")
    parser.add_argument("--page", default=None, metavar="HTML",
                        help="where to write the HTML page (default: reports/<results name>.html)")
    parser.add_argument("--seed", default=None, type=int, metavar="N", help="seed of the shuffled round order")
    add_progress_options(parser)


def parse_budget(text: str) -> float:
    """'1%' or '0.01' (relative error) or '30dB' (SNR) -> relative error in (0, 1]."""
    value = str(text).strip().lower().replace(" ", "")
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(%|db)?", value)
    if match:
        number, unit = float(match[1]), match[2]
        budget = number / 100 if unit == "%" else 10 ** (-number / 20) if unit == "db" else number
        if 0 < budget <= 1 and math.isfinite(budget):
            return budget
    raise UsageError(f"--budget: expected a relative error like 1% or 0.01, or an SNR like 30dB "
                     f"(a relative error in (0, 1]); got {text!r}")


def _backend_list(text: str, option: str) -> tuple[str, ...]:
    """'csimd,torch' -> ('csimd', 'torch'); a name no backend has is refused."""
    return tuple(known_backend(name.strip(), option) for name in text.split(",") if name.strip())


def run(args: argparse.Namespace) -> int:
    from gemmbench.advise import sweep
    from gemmbench.advise.advisor import advise
    from gemmbench.advise.page import default_folder, write_page, write_table
    from gemmbench.advise.target import recorded, targets
    from gemmbench.advise.text import outcome_text
    from gemmbench.data import output

    budget = parse_budget(args.budget)
    settings = replace(sweep.QUICK if args.quick else sweep.DEFAULT,
                       dense=_backend_list(args.backends, "--backends"),
                       sparse=_backend_list(args.sparse_backends, "--sparse-backends"))
    matrices = targets(args.weights, args.transpose)
    inputs = recorded(args.inputs) if args.inputs else None
    reading = [m.ref.path for m in matrices] + ([inputs.path] if inputs else [])
    # Before the sweep (minutes): a page that cannot be written must not cost them.
    output.checked(Path(args.page) if args.page else default_folder() / "page.html", reading)
    outcome = advise(matrices, budget, settings, inputs, Path(args.out), args.progress, args.seed)
    print(outcome_text(outcome))
    table = write_table(outcome)
    page = write_page(outcome, Path(args.page) if args.page else None, reading)
    print(f"\nresults: {table} (the advice) and {outcome.run_path} (every row, for gemmbench report/compare)")
    print(f"page: {page}")
    sys.stdout.flush()
    return 0
