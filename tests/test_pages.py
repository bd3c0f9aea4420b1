"""Large arrays on 2 MiB pages (gemmbench.measure.pages): aligned, usable, eligible for huge pages, and a refused
mapping is a MemoryError like numpy's own."""

import subprocess
import sys

import numpy as np
import pytest

from gemmbench.cases.workload import aligned_copy, aligned_empty
from gemmbench.measure import pages
from gemmbench.measure.timing import TimingSettings


def _smaps_entry(address: int) -> dict[str, str]:
    """The /proc/self/smaps fields of the mapping that holds `address`."""
    entry, inside = {}, False
    for line in open("/proc/self/smaps"):
        head = line.split()[0]
        if "-" in head and ":" not in head:
            low, high = (int(part, 16) for part in head.split("-"))
            inside = low <= address < high
        elif inside and ":" in head:
            entry[head.rstrip(":")] = line.split(":", 1)[1].strip()
    return entry


def test_a_large_array_starts_on_a_huge_page_boundary_and_holds_its_values():
    array = aligned_copy(np.arange(1152 * 384, dtype=np.float32).reshape(1152, 384))
    assert array.nbytes >= pages.HUGE_MIN and array.ctypes.data % pages.HUGE_PAGE == 0
    assert array.flags.c_contiguous and array.flags.writeable
    np.testing.assert_array_equal(array.ravel(), np.arange(1152 * 384, dtype=np.float32))


def test_a_small_array_keeps_ordinary_memory_and_its_alignment():
    array = aligned_empty(1000, np.float32)
    assert array.ctypes.data % 64 == 0 and array.nbytes < pages.HUGE_MIN


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="smaps and transparent huge pages are Linux's")
def test_the_mapping_is_eligible_for_huge_pages_where_the_kernel_offers_them():
    if not pages.advisable():
        pytest.skip(f"transparent huge pages are {pages.transparent_hugepages()!r} here: nothing to advise")
    array = aligned_empty((1 << 20,), np.float32)
    array[...] = 1.0
    entry = _smaps_entry(array.ctypes.data)
    if "THPeligible" not in entry:
        pytest.skip("this kernel's smaps has no THPeligible field")
    assert entry["THPeligible"] == "1"


def test_transparent_hugepages_reads_the_chosen_mode(tmp_path, monkeypatch):
    setting = tmp_path / "enabled"
    setting.write_text("always [madvise] never\n")
    monkeypatch.setattr(pages, "THP_SETTING", setting)
    assert pages.transparent_hugepages() == "madvise"
    setting.write_text("[never]\n")
    assert pages.transparent_hugepages() == "never" and not pages.advisable()
    monkeypatch.setattr(pages, "THP_SETTING", tmp_path / "missing")
    assert pages.transparent_hugepages() == "unavailable"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced by Linux")
def test_a_refused_mapping_is_a_memory_error():
    code = ("import resource, numpy\n"
            "from gemmbench.cases.workload import aligned_empty\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))\n"
            "try:\n    aligned_empty((1 << 30,), numpy.float32)\n"
            "except MemoryError as exc:\n    print('MemoryError', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MemoryError")


PLACED = """
name: placed
backends: [numpy, test-placements]
defaults: {warmup: 0.001, min_time: 0.0002, samples: 6, max_time: 5}
cases: [{name: large, m: 512, k: 256}, {name: small, m: 64, k: 32}, {name: two, m: 512, k: 256, placements: 2}]
"""


@pytest.mark.slow
def test_a_row_on_huge_pages_is_prepared_in_several_placements_each_verified(plugins, run_rows):
    if not pages.advisable():
        pytest.skip(f"transparent huge pages are {pages.transparent_hugepages()}: nothing lands on 2 MiB pages")
    rows = run_rows(PLACED)
    assert rows[("large", "numpy", "matmul")].placements == TimingSettings().placements > 1  # 512 KiB of weights
    assert rows[("small", "numpy", "matmul")].placements == 1  # 8 KiB: ordinary pages, one copy
    assert rows[("two", "numpy", "matmul")].placements == 2  # the suite's setting
    assert rows[("large", "test-placements", "fine")].status == "ok"
    wrong = rows[("large", "test-placements", "third-copy-wrong")]
    assert wrong.status == "wrong" and "(placement 3)" in wrong.message  # never timed
    assert wrong.samples_ns is None or len(wrong.samples_ns) == 0
