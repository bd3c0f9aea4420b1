"""The advice as the terminal shows it (and the HTML page quotes)."""

from __future__ import annotations

from gemmbench.advise.accuracy import snr_db
from gemmbench.advise.advisor import MatrixAdvice, Outcome
from gemmbench.advise.frontier import Candidate
from gemmbench.report.table import Cell, Column, Table
from gemmbench.report.text import text
from gemmbench.report.textable import duration
from gemmbench.stats.decide import DEFAULT_BASELINE, INTERVAL_LEVEL

CAVEAT = ("what this does not know: every error here is the product's (W x against the file's own W x in "
          "float64, on the activations above), not the model's accuracy. A pruned or quantized model needs "
          "retraining (at least fine-tuning) and its own evaluation; product errors compound through recurrent "
          "steps; generated activations are not your model's.")


def budget_text(budget: float) -> str:
    return f"relative error {percent(budget)} of the product (SNR {snr_db(budget):.1f} dB)"


def percent(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 0.001:
        return f"{100 * value:.3g}%"
    return f"{value:.2g}"


def _error_text(value: float) -> str:
    return f"{percent(value)} ({snr_db(value):.1f} dB)" if value > 0 else "exact"


def time_text(c: Candidate) -> str:
    if c.low_ns == c.high_ns:
        return duration(c.time_ns)
    return f"{duration(c.time_ns)} ({duration(c.low_ns)}-{duration(c.high_ns)})"


def _candidate_table(candidates: list[Candidate], marks: dict[str, str]) -> Table:
    columns = [Column("format", "storage format, precision and int8 scheme", False),
               Column("kernel", "backend:variant", False),
               Column(f"time ({100 * INTERVAL_LEVEL:.0f}% interval)", "median per call, native loop where measured",
                      False),
               Column(f"vs {DEFAULT_BASELINE} dense", f"{DEFAULT_BASELINE}'s dense product ÷ this, paired round by "
                                                      "round", False),
               Column("error (SNR)", "the product's error on the activations", False),
               Column("", "the recommendation and its runner-up", False)]
    body = [[Cell(c.format), Cell(c.kernel), Cell(time_text(c)), Cell(c.speedup.text() if c.speedup else ""),
             Cell(_error_text(c.error)), Cell(marks.get(c.label, ""))] for c in candidates]
    return Table(columns, body)


def _scheme_table(advice: MatrixAdvice) -> Table:
    columns = [Column("scheme", "int8 quantization scheme", False),
               Column("error (SNR)", "its error on the dense matrix and the activations", False),
               Column("timed here by", "kernels that ran it, verified and timed", False),
               Column("refused by the correctness gate", "kernels that ran it and failed the gate", False)]
    body = [[Cell(s.scheme), Cell(_error_text(s.error)), Cell(", ".join(s.kernels) or "no kernel timed"),
             Cell(", ".join(s.refused))] for s in advice.schemes]
    return Table(columns, body)


def matrix_text(advice: MatrixAdvice, budget: float) -> str:
    lines = [f"matrix: {advice.target.describe()}",
             f"activations: {advice.activations.source}"]
    if not advice.candidates:
        lines.append("no row was timed: nothing to advise (see the failures below)")
        return "\n".join(lines + _failures(advice))
    lines += ["", "Pareto frontier, time against error (time: median per call, native loop where measured; "
                  f"vs {DEFAULT_BASELINE} dense: the speed-up over numpy's dense product in the same case, paired "
                  "round by round):"]
    marks = _marks(advice)
    lines.append(text(_candidate_table(list(advice.frontier), marks)))
    lines += [""] + _recommendation(advice, budget)
    lines += [""] + _schemes(advice)
    lines += _outliers(advice)
    lines += _failures(advice)
    return "\n".join(lines)


def _marks(advice: MatrixAdvice) -> dict[str, str]:
    marks: dict[str, str] = {}
    if advice.advice.best is not None:
        marks[advice.advice.best.label] = "<- recommended"
    if advice.advice.runner_up is not None:
        marks[advice.advice.runner_up.label] = "<- runner-up"
    return marks


def _recommendation(advice: MatrixAdvice, budget: float) -> list[str]:
    verdict = advice.advice
    if verdict.best is None:
        closest = verdict.most_accurate
        return [f"nothing is within {budget_text(budget)}; the most accurate: {closest.kernel} on "
                f"{closest.format}, error {_error_text(closest.error)}, {time_text(closest)}"] if closest else []
    best = verdict.best
    lines = [f"recommended within {percent(budget)}: {best.kernel} on {best.format}: {time_text(best)}, "
             f"error {_error_text(best.error)}"]
    if verdict.runner_up is None:
        return lines + ["runner-up: none (no other format is within the budget)"]
    runner, versus = verdict.runner_up, verdict.versus
    how = (f"a tie within the noise ({versus.text()} the time; pick on error, or measure again)" if versus.tie
           else f"beaten: {versus.text()} the time, beyond the noise")
    lines.append(f"runner-up: {runner.kernel} on {runner.format}: {time_text(runner)}, error "
                 f"{_error_text(runner.error)}; {how}")
    others = [c for c in verdict.ties if c is not runner]
    if others:
        shown = "; ".join(f"{c.kernel} on {c.format} ({time_text(c)}, error {_error_text(c.error)})" for c in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        lines.append(f"also a tie with the recommendation within the noise: {shown}{more}")
    return lines


def _schemes(advice: MatrixAdvice) -> list[str]:
    if not advice.schemes:
        return []
    clipped = advice.activations.clipped
    lines = [f"int8 schemes on the dense matrix (u8 offset schemes clip activations to [-1, 1]: "
             f"{percent(clipped) if clipped else 'none'} of the activation values used lay outside it):"]
    lines.append(text(_scheme_table(advice)))
    done, total = advice.int8_checked
    if total:
        lines.append(f"each int8 row's error measured by the run on its inputs equals its scheme's model: "
                     f"{done} of {total} rows")
    return lines


def _outliers(advice: MatrixAdvice) -> list[str]:
    found = advice.outliers
    if found is None:
        return []
    rows = ", ".join(map(str, found.rows[:8])) + (" ..." if len(found.rows) > 8 else "")
    return ["", f"outlier rows: {len(found.rows)} (max |w| at least {found.factor:.1f}x the median row's: rows {rows})",
            f"  per-tensor int8 ({found.tensor_scheme}): error {_error_text(found.per_tensor[0])} on them, "
            f"{_error_text(found.per_tensor[1])} on the other rows",
            f"  per-row int8 ({found.row_scheme}): error {_error_text(found.per_row[0])} on them, "
            f"{_error_text(found.per_row[1])} on the other rows"]


def _failures(advice: MatrixAdvice) -> list[str]:
    if not advice.failed:
        return []
    lines = ["", f"failed rows ({len(advice.failed)}; never timed, never advised):"]
    lines += [f"  {row['case']} {row['backend']}:{row['variant']}: {row['status']}: {str(row.get('message'))[:120]}"
              for row in advice.failed[:10]]
    return lines


def outcome_text(outcome: Outcome) -> str:
    timed = sum(len(m.candidates) for m in outcome.matrices)
    parts = [f"budget: {budget_text(outcome.budget)}"]
    parts += [matrix_text(m, outcome.budget) for m in outcome.matrices]
    parts.append(f"measured: {timed} verified rows timed in rounds ({outcome.seconds:.0f} s, on this machine"
                 f"{', shared with other jobs' if outcome.noise else ''})" + (f"\n{outcome.noise}" if outcome.noise else ""))
    parts.append(CAVEAT)
    return "\n\n".join(parts)
