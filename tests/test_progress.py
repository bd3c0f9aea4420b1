"""The progress line: rows done of the total, failures, and a time estimate."""

from __future__ import annotations

import io

from gemmbench.measure.progress import Progress, remaining_text


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_shows_the_total_and_what_is_left():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, enabled=True, total=10, clock=clock)
    progress.begin("a · numpy:matmul · 1t")
    assert "[0/10 rows] a · numpy:matmul · 1t" in stream.getvalue()  # no estimate before a row is done
    for status in ("ok", "wrong"):
        clock.now += 6.0
        progress.row_done(status)
    progress.begin("b · csimd:avx2 · 1t")
    assert "[2/10 rows, 1 failed, 48 s left] b · csimd:avx2 · 1t" in stream.getvalue()


def test_without_a_total_it_counts_and_silent_when_disabled():
    progress = Progress(io.StringIO(), enabled=True)
    progress.row_done("ok")
    assert progress.status() == "1 rows"
    quiet = io.StringIO()
    Progress(quiet, enabled=False, total=3).begin("x")
    assert quiet.getvalue() == ""


def test_remaining_time_reads_as_people_say_it():
    assert [remaining_text(s) for s in (4.4, 65, 3 * 3600 + 125)] == ["4 s", "1 min 05 s", "3 h 02 min"]
