"""The engine against GrowthBook's reference numbers (to 4 decimals) and known behaviour."""

import random

import pytest

from experiments.stats import Moments, compare, sample_ratio, sample_size_per_variant


def conversion(n: int, conversions: int) -> Moments:
    return Moments.proportion(n=n, successes=conversions)


def test_reference_conversion_rate_numbers():
    result = compare(conversion(10_000, 500), conversion(10_000, 560))
    assert round(result.lift * 100, 2) == 12.00
    assert round(result.ci_low * 100, 4) == -1.1456
    assert round(result.ci_high * 100, 4) == 25.1456
    assert round(result.p_value, 4) == 0.0736
    assert round(result.chance_to_beat_control, 4) == 0.9632
    assert not result.significant


def test_reference_sample_ratio_mismatch():
    srm = sample_ratio([10_000, 10_300], [0.5, 0.5])
    assert round(srm.p_value, 4) == 0.0352
    assert not srm.mismatch  # 0.0352 is not below the 0.001 threshold
    assert sample_ratio([10_000, 11_000], [0.5, 0.5]).mismatch


def test_no_difference_is_a_coin_flip():
    result = compare(conversion(5_000, 250), conversion(5_000, 250))
    assert result.lift == 0
    assert result.p_value == pytest.approx(1.0)
    assert result.chance_to_beat_control == pytest.approx(0.5)


def test_a_large_real_effect_is_significant():
    result = compare(conversion(20_000, 1_000), conversion(20_000, 1_300))
    assert result.significant
    assert result.ci_low > 0
    assert result.chance_to_beat_control > 0.999


def test_revenue_per_visitor_uses_sums_of_squares():
    rng = random.Random(7)
    control = [rng.choice([0, 0, 0, 20, 40]) for _ in range(4_000)]
    treatment = [rng.choice([0, 0, 0, 22, 44]) for _ in range(4_000)]

    def moments(values):
        return Moments.sample(n=len(values), total=sum(values), total_squares=sum(v * v for v in values))

    result = compare(moments(control), moments(treatment))
    mean_c, mean_t = sum(control) / 4_000, sum(treatment) / 4_000
    assert result.lift == pytest.approx(mean_t / mean_c - 1)
    assert result.ci_low < result.lift < result.ci_high
    assert 0 < result.p_value < 1


def test_nothing_to_compare_yields_none():
    assert compare(conversion(0, 0), conversion(10, 1)) is None
    assert compare(conversion(100, 0), conversion(100, 3)) is None  # control rate of zero
    assert sample_ratio([0, 0], [0.5, 0.5]) is None


def test_sample_size_matches_the_textbook_figure():
    # 5 % baseline, +10 % relative (5 % → 5.5 %), 80 % power, two-sided 5 %: ≈ 31,200 each.
    needed = sample_size_per_variant(baseline_rate=0.05, relative_mde=0.10)
    assert 31_000 <= needed <= 31_300
    assert sample_size_per_variant(baseline_rate=0.05, relative_mde=0.20) < needed / 3
    with pytest.raises(ValueError):
        sample_size_per_variant(baseline_rate=0, relative_mde=0.1)
