import pytest

from gemmbench.measure import timing
from gemmbench.measure.timing import TimingSettings


class FakeClock:
    """A clock that advances only when the fake kernel 'runs' (cost ns per call)."""

    def __init__(self, cost_ns: int):
        self.now = 0
        self.cost = cost_ns
        self.calls = 0

    def __call__(self) -> int:
        return self.now

    def kernel(self) -> None:
        self.calls += 1
        self.now += self.cost


def test_calibration_reaches_the_target_with_a_fake_clock():
    clock = FakeClock(cost_ns=700)
    loop = timing.python_loop(clock.kernel, clock)
    loops = timing.calibrate(loop, target_ns=1_000_000)
    assert loops * 700 >= 1_000_000
    assert loops * 700 < 3_000_000  # not wildly over: the loop grows by the shortfall


def test_measure_respects_resolution_factor_and_min_time():
    clock = FakeClock(cost_ns=10)
    settings = TimingSettings(warmup=0.0001, min_time=1e-6, samples=5, max_time=10)
    m = timing.measure_loop(timing.python_loop(clock.kernel, clock), settings, resolution_ns=50, clock=clock)
    assert m.loops * 10 >= 1000 * 50  # 1000 ticks of a 50 ns clock beat the 1 us min_time
    assert len(m.samples_ns) == 5 and all(s == pytest.approx(10) for s in m.samples_ns)


def test_min_time_dominates_when_larger():
    clock = FakeClock(cost_ns=1000)
    settings = TimingSettings(warmup=0, min_time=0.005, samples=3, max_time=10)
    m = timing.measure_loop(timing.python_loop(clock.kernel, clock), settings, resolution_ns=1, clock=clock)
    assert m.loops * 1000 >= 5_000_000


def test_warmup_calls_are_made_and_discarded():
    clock = FakeClock(cost_ns=1000)
    settings = TimingSettings(warmup=0.01, min_time=1e-6, samples=2, max_time=10)
    m = timing.measure_loop(timing.python_loop(clock.kernel, clock), settings, resolution_ns=1, clock=clock)
    timed_calls = m.loops * 2
    assert clock.calls - timed_calls >= 10_000_000 // 1000  # 10 ms of warm-up calls
    assert len(m.samples_ns) == 2


def test_time_bound_stops_sampling_early_but_keeps_a_minimum():
    clock = FakeClock(cost_ns=1_000_000)  # 1 ms per call
    settings = TimingSettings(warmup=0, min_time=0.001, samples=1000, max_time=0.002)
    m = timing.measure_loop(timing.python_loop(clock.kernel, clock), settings, resolution_ns=1, clock=clock)
    assert len(m.samples_ns) == timing.MIN_SAMPLES


def test_native_style_loop_uses_reported_ns():
    settings = TimingSettings(warmup=0, min_time=1e-6, samples=4, max_time=10)
    m = timing.measure_loop(lambda loops: loops * 3, settings, resolution_ns=1)
    assert m.samples_ns == (3.0, 3.0, 3.0, 3.0) and m.loops * 3 >= 1000


def test_statistics():
    stats = timing.statistics([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats.median == 3.0 and stats.min == 1.0 and stats.mean == 22.0
    assert stats.iqr == pytest.approx(2.0)
    assert stats.cv == pytest.approx(stats.std / 22.0)


def test_real_timer_resolution_is_positive_and_small():
    assert 0 < timing.timer_resolution_ns() < 1e6
