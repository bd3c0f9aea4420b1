"""Roofline levels found in recorded bandwidth sweeps: plateaus and knees, named by sysfs sizes.

The sweeps are data, so these tests need no particular machine. Working set (bytes) -> GB/s.
"""

import pytest

from gemmbench.machine import roofline

K, M = 1 << 10, 1 << 20

# Intel Xeon (Sapphire Rapids class, KVM, 2 vCPUs; sysfs: 48 KiB L1d, 2 MiB L2, 480 MiB L3), recorded by
# `gemmbench roofline` on the development VM on 2026-11-29. The L3 share this tenant really gets ends
# between 64 and 128 MiB.
XEON_VM = [(16 * K, 330.6), (32 * K, 330.9), (64 * K, 177.4), (128 * K, 177.3), (256 * K, 178.1),
           (512 * K, 175.5), (1 * M, 154.0), (2 * M, 57.5), (4 * M, 27.7), (8 * M, 28.0), (16 * M, 26.4),
           (32 * M, 28.7), (64 * M, 28.2), (128 * M, 16.4), (256 * M, 16.1), (512 * M, 15.5)]
XEON_CACHES = {"L1": 48 * K, "L2": 2 * M, "L3": 480 * M}
# The same VM as issue 15 reports it (~234 GB/s to 32 KiB, 101-105 to 1 MiB, 22-26 from 2 to 64 MiB,
# 14 from 128 MiB up): values within those ranges, one per working set.
XEON_VM_ISSUE = [(16 * K, 234), (32 * K, 234), (64 * K, 105), (128 * K, 104), (256 * K, 103), (512 * K, 102),
                 (1 * M, 101), (2 * M, 26), (4 * M, 24), (8 * M, 23), (16 * M, 22), (32 * M, 23), (64 * M, 25),
                 (128 * M, 14), (256 * M, 14), (512 * M, 14)]
# Shaped like the AMD EPYC Zen 5 the baseline was measured on (48 KiB L1d, 1 MiB L2, 32 MiB L3):
# a synthetic sweep with a knee after each cache, not a recording.
EPYC_LIKE = [(16 * K, 480), (32 * K, 470), (64 * K, 250), (128 * K, 245), (256 * K, 240), (512 * K, 230),
             (1 * M, 150), (2 * M, 120), (4 * M, 118), (8 * M, 115), (16 * M, 110), (32 * M, 70), (64 * M, 38),
             (128 * M, 35), (256 * M, 34), (512 * M, 34)]
EPYC_CACHES = {"L1": 48 * K, "L2": 1 * M, "L3": 32 * M}


def summary(sweep, caches):
    found, notes = roofline.levels(sweep, caches)
    return {level.name: (level.first, level.last, round(level.gbps)) for level in found}, notes


def test_the_xeon_vm_sweep_has_four_levels_and_its_l3_reach_is_far_below_sysfs():
    found, notes = roofline.levels(XEON_VM, XEON_CACHES)
    assert {level.name: (level.first, level.last, round(level.gbps)) for level in found} == {
        "L1": (16 * K, 32 * K, 331), "L2": (64 * K, 1 * M, 177), "L3": (4 * M, 64 * M, 28),
        "memory": (128 * M, 512 * M, 16)}  # 2 MiB, between L2 and L3, is a knee, not a level
    reach = {level.name: level.reach for level in found}
    assert 32 * K < reach["L1"] <= 48 * K and reach["L2"] == 2 * M  # never more than sysfs says
    assert 64 * M < reach["L3"] < 128 * M  # what the sweep showed, not sysfs' 480 MiB
    assert [level.cache for level in found] == [48 * K, 2 * M, 480 * M, None] and notes == []


def test_the_issue_figures_give_the_same_levels():
    assert summary(XEON_VM_ISSUE, XEON_CACHES) == ({
        "L1": (16 * K, 32 * K, 234), "L2": (64 * K, 1 * M, 103), "L3": (2 * M, 64 * M, 24),
        "memory": (128 * M, 512 * M, 14)}, [])


def test_an_epyc_like_sweep_names_its_knees_after_the_nearest_caches():
    found, notes = roofline.levels(EPYC_LIKE, EPYC_CACHES)
    assert [(level.name, round(level.gbps)) for level in found] == [("L1", 475), ("L2", 242), ("L3", 118),
                                                                     ("memory", 34)]
    assert {level.name: level.reach for level in found}["L3"] == 32 * M and notes == []


def test_memory_is_measured_only_past_the_last_plateau():
    short, notes = summary([p for p in EPYC_LIKE if p[0] <= 64 * M], EPYC_CACHES)
    assert list(short) == ["L1", "L2", "L3"]  # 64 MiB alone, past the knee, is not a plateau yet
    assert notes == ["memory: not measured (the sweep, up to 64 MiB, found no plateau beyond L3's); beyond L3 "
                     "the bound uses L3's 118 GB/s, an optimistic roof"]
    longer, notes = summary([p for p in EPYC_LIKE if p[0] <= 128 * M], EPYC_CACHES)
    assert longer["memory"] == (64 * M, 128 * M, 36) and notes == []
    vm, notes = summary([p for p in XEON_VM if p[0] <= 64 * M], XEON_CACHES)
    assert "memory" not in vm and vm["L3"] == (4 * M, 64 * M, 28) and notes[0].startswith("memory: not measured")


def test_levels_the_sweep_never_reached_are_not_measured():
    found, notes = summary(XEON_VM[:4], XEON_CACHES)
    assert list(found) == ["L1", "L2"]
    assert notes[0] == "L3: not measured (the sweep stopped at 128 KiB)"


def test_a_lone_outlier_is_not_a_level():
    for index in (8, 9):  # another tenant's burst in the middle of L3
        noisy = list(EPYC_LIKE)
        noisy[index] = (noisy[index][0], noisy[index][1] / 2)
        assert list(summary(noisy, EPYC_CACHES)[0]) == ["L1", "L2", "L3", "memory"], index
    assert list(summary(XEON_VM[:4] + [(256 * K, 90.0)] + XEON_VM[5:], XEON_CACHES)[0]) == ["L1", "L2", "L3",
                                                                                             "memory"]


def test_levels_sysfs_does_not_name_still_count():
    found, _ = summary(XEON_VM_ISSUE, {"L1": 48 * K, "L2": 2 * M})  # an OS that reports no L3
    assert list(found) == ["L1", "L2", "L3", "memory"] and found["L3"][2] == 24
    found, notes = summary(XEON_VM_ISSUE, {})  # no sysfs at all: plateaus in order, the last one memory
    assert list(found) == ["L1", "L2", "L3", "memory"] and notes == []


def test_two_caches_read_at_one_bandwidth_are_said_to_be_one_level():
    merged = [(size, gbps if size < 64 * K else (160.0 if size <= 16 * M else 34.0)) for size, gbps in EPYC_LIKE]
    found, notes = summary(merged, EPYC_CACHES)
    assert list(found) == ["L1", "L3", "memory"]  # its knee is at L3's size: the L2 is not told apart
    assert notes == ["L2: not measured (no plateau of its own in the sweep: not told apart from its neighbours)"]


def test_the_bound_uses_each_level_s_measured_reach_and_falls_back_past_the_last():
    found, notes = roofline.levels(XEON_VM, XEON_CACHES)
    roof = roofline.Roof("test", "2026-01-01T00:00:00+00:00", 0, {"scalar": 1.0}, {"scalar": 1.0}, XEON_VM,
                         XEON_CACHES, {level.name: level.gbps for level in found}, tuple(found), tuple(notes))
    assert roofline.level_of(200 * M, roof) == "memory"  # sysfs' 480 MiB L3 would have said L3
    assert 16.1 < roofline.attainable_bandwidth(400 * M, roof) < 18.0  # L3 holds its ~90 MiB, memory the rest
    by_sysfs = roofline.Roof(**{**roof.__dict__, "levels": ()})  # a roof cached before: sysfs sizes
    assert roofline.attainable_bandwidth(400 * M, by_sysfs) == pytest.approx(28.0, rel=0.01)
    short, notes = roofline.levels(XEON_VM[:13], XEON_CACHES)
    capped = roofline.Roof(**{**roof.__dict__, "levels": tuple(short), "notes": tuple(notes),
                              "bandwidth": {level.name: level.gbps for level in short}})
    assert roofline.level_of(600 * M, capped) == "memory"
    assert roofline.attainable_bandwidth(600 * M, capped) == pytest.approx(28.0, rel=0.1)  # L3's, said in notes
    assert roofline.Roof.from_json(capped.to_json()) == capped
