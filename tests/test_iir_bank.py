"""The iir_bank op on its own: designs, reference, block form, case fields, counts, tolerance."""

import math

import numpy as np
import pytest
from scipy import signal as sps

from gemmbench.backends.iir import blockform
from gemmbench.cases.fields import FieldReader, Problems
from gemmbench.op import Case
from gemmbench.ops import iir_design as design
from gemmbench.ops import iir_reference as reference
from gemmbench.ops.iir_bank import IirBank, IirBankSpec, make, rounding_error, tolerance

OP = IirBank()


def read(**values):
    problems = Problems("s.yaml")
    reader = FieldReader("c", values, problems)
    spec = OP.spec(reader)
    return spec, problems.lines + [f"{f}: {m}" for f, m in (OP.validate(spec, "float32") if reader.ok else [])]


@pytest.mark.parametrize("kind", design.DESIGNS)
@pytest.mark.parametrize("radius", [None, 0.9, 0.999, 0.9999])
@pytest.mark.parametrize("sections", [1, 3])
def test_designs_are_stable_band_passes_with_unit_peak_gain(kind, radius, sections):
    bank = design.BankDesign(filters=40, sections=sections, design=kind, pole_radius=radius)
    coeffs = design.coefficients(bank)
    for dtype in ("float64", "float32"):
        given = coeffs.astype(dtype).astype(np.float64)
        poles = np.abs(np.concatenate([np.roots([1, c[3], c[4]]) for c in given.reshape(-1, 5)]))
        assert poles.max() < 1.0
    w0 = 2 * np.pi * design.centres(bank) / bank.sample_rate
    one = coeffs[:, 0]
    gain = np.abs([sps.freqz(c[:3], [1, c[3], c[4]], worN=[w])[1][0] for c, w in zip(one, w0)])
    # the RBJ band-pass peaks at its centre with gain 1; the pole-radius design is normalised there
    assert np.allclose(gain, 1.0, rtol=1e-9)
    centres = design.centres(bank)
    assert centres[0] == pytest.approx(bank.fmin) and centres[-1] == pytest.approx(bank.fmax)
    assert np.all(np.diff(centres) > 0)


def test_pole_radius_design_puts_every_pole_at_that_radius():
    coeffs = design.coefficients(design.BankDesign(filters=8, pole_radius=0.995))
    assert np.allclose(design.pole_radii(coeffs), 0.995)


def test_reference_matches_a_plain_recurrence_and_continues_from_its_state():
    coeffs = design.coefficients(design.BankDesign(filters=3, sections=2))
    sos = design.to_sos(coeffs)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 50))
    y = np.zeros((2, 3, 50))
    for f in range(3):
        for b in range(2):
            sig = x[b]
            for c in coeffs[f]:
                sig = sps.lfilter(c[:3], [1, c[3], c[4]], sig)
            y[b, f] = sig
    first = reference.filter_bank(sos, x[:, :20], "full", 1)
    second = reference.filter_bank(sos, x[:, 20:], "full", 1, first.state)
    assert np.allclose(np.concatenate([first.out, second.out], axis=-1), y, rtol=1e-12, atol=1e-14)
    energy = reference.filter_bank(sos, x, "energy", 10).out
    assert np.allclose(energy, (y.reshape(2, 3, 5, 10) ** 2).sum(-1))


@pytest.mark.parametrize("sections", [1, 2, 3])
@pytest.mark.parametrize("length", [1, 16, 128])
def test_block_form_in_float64_is_the_recurrence(sections, length):
    coeffs = design.coefficients(design.BankDesign(filters=2, sections=sections, pole_radius=0.999))
    x = np.random.default_rng(2).uniform(-1, 1, 3 * length)
    for c, sos in zip(coeffs, design.to_sos(coeffs)):
        form = blockform.block_form(blockform.cascade(c), length)
        for k in range(sections):  # each section's block of A^L: r^L times a rotation
            block = form.power[2 * k:2 * k + 2, 2 * k:2 * k + 2]
            assert np.linalg.norm(block, 2) == pytest.approx(0.999 ** length, rel=1e-9)
        state, out = np.zeros(2 * sections), []
        for block in x.reshape(3, length):
            out.append(form.toeplitz @ block + form.observe @ state)
            state = form.power @ state + form.control @ block
        assert np.allclose(np.concatenate(out), sps.sosfilt(sos, x), rtol=1e-9, atol=1e-12)


def test_coupled_form_powers_stay_bounded_by_the_pole_radius():
    section = blockform.section(design.coefficients(design.BankDesign(filters=1, pole_radius=0.9999))[0, 0])
    power = np.linalg.matrix_power(section.a, 128)
    assert np.linalg.norm(power, 2) == pytest.approx(0.9999 ** 128, rel=1e-9)


def test_spec_defaults_follow_the_seed():
    spec, problems = read()
    assert problems == []
    assert (spec.b, spec.t, spec.f, spec.s, spec.sample_rate) == (32, 16000, 128, 1, 16000.0)
    assert spec.out_shape == (32, 128, 16000)


@pytest.mark.parametrize("values, expected", [
    ({"pole_radius": 1.0}, "field 'pole_radius': must be between 0.9 and 0.9999 (poles inside the unit circle)"),
    ({"pole_radius": 1.5}, "field 'pole_radius': must be between 0.9"),
    ({"f": 0}, "field 'f': must be a positive integer, got 0"),
    ({"output": "energy", "t": 1000, "frame": 160}, "frame: must divide t = 1000"),
    ({"design": "bark"}, "field 'design': must be one of mel, log"),
    ({"fmax": 9000}, "fmax: must lie above fmin = 50 and below sample_rate / 2 = 8000"),
    ({"q": 0.4}, "q: must exceed 0.5"),
])
def test_bad_fields_are_one_line_each(values, expected):
    _, problems = read(**values)
    assert len(problems) == 1 and expected in problems[0], problems


def test_counts_state_nine_flops_per_section_sample():
    full = Case("c", "iir_bank", IirBankSpec(b=2, t=100, f=3, s=2, output="full"))
    energy = Case("c", "iir_bank", IirBankSpec(b=2, t=100, f=3, s=2, output="energy", frame=10))
    assert OP.counts(full).flops == 9 * 2 * 2 * 3 * 100
    assert OP.counts(energy).flops == 9 * 2 * 2 * 3 * 100 + 2 * 2 * 3 * 100
    assert OP.counts(full).bytes == 4 * (2 * 100 + 2 * 3 * 100 + 3 * 2 * 5)


def test_seed_case_memory_counts_its_262_mb_output():
    spec = IirBankSpec()
    assert 4 * math.prod(spec.out_shape) == 262_144_000
    assert OP.memory_bytes(spec, "float32") > 4 * 262_144_000


def test_rounding_error_is_reported_and_grows_with_the_pole_radius():
    def err(radius):
        return rounding_error(Case("c", "iir_bank", IirBankSpec(b=2, t=4000, f=8, pole_radius=radius)))

    assert 0 < err(0.9) < err(0.999) < err(0.9999)
    assert rounding_error(Case("c", "iir_bank", IirBankSpec(b=1, t=100, f=2), dtype="float64")) == 0.0


def test_tolerance_is_fixed_to_radius_0999_then_grows_with_the_memory():
    assert tolerance(0.99, "float32") == tolerance(0.999, "float32") == 1e-4
    assert tolerance(0.9999, "float32") == pytest.approx(1e-3)


def test_workload_reference_is_of_the_given_coefficients():
    case = Case("c", "iir_bank", IirBankSpec(b=2, t=300, f=5, s=2, pole_radius=0.999, output="energy", frame=30))
    w = make(case)
    assert w.coeffs.dtype == np.float32 and w.x.dtype == np.float32
    again = reference.filter_bank(design.to_sos(w.coeffs.astype(np.float64)), w.x, "energy", 30)
    assert np.array_equal(again.out, w.reference)
    assert w.second_reference.shape == w.reference.shape
    assert not np.allclose(w.second_reference, w.reference)  # the second call starts from a state
