"""The statistics engine: numbers in, numbers out, no database.

Each number matches GrowthBook's engine for the same inputs:

- **Relative uplift** of a variant over control, ``mean_t / mean_c - 1``, with its
  variance by the **delta method**.
- **95 % interval and p-value** from **Welch's t-test** on that ratio, with
  Welch-Satterthwaite degrees of freedom (frequentist engine).
- **Chance to beat control**: the probability that the uplift is above zero under a
  normal posterior on the relative uplift with a flat prior (Bayesian engine).
- **Sample-ratio mismatch**: a chi-square goodness-of-fit test of the visitors per
  variant against the configured weights; flagged below p = 0.001.

Per-visitor values: for conversion rate a visitor is 1 or 0 (variance ``p(1-p)``); for
revenue per visitor the engine needs each variant's sum and sum of squares.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as dist

ALPHA = 0.05  # two-sided: 95 % intervals
SRM_THRESHOLD = 0.001  # GrowthBook's default: below it, the split is not what was configured


@dataclass(frozen=True)
class Moments:
    """One metric in one variant: visitors, mean per visitor and its per-visitor variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def proportion(cls, *, n: int, successes: int) -> "Moments":
        p = successes / n if n else 0.0
        return cls(n=n, mean=p, variance=p * (1 - p))

    @classmethod
    def sample(cls, *, n: int, total: float, total_squares: float) -> "Moments":
        if n < 2:
            return cls(n=n, mean=total / n if n else 0.0, variance=0.0)
        variance = max((total_squares - total * total / n) / (n - 1), 0.0)
        return cls(n=n, mean=total / n, variance=variance)


@dataclass(frozen=True)
class Comparison:
    """A variant against control on one metric. Lifts are relative (0.12 is +12 %)."""

    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    chance_to_beat_control: float
    standard_error: float
    degrees_of_freedom: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def compare(control: Moments, treatment: Moments, *, alpha: float = ALPHA) -> Comparison | None:
    """Relative uplift of treatment over control; None while it cannot be estimated."""
    if control.n < 2 or treatment.n < 2 or control.mean == 0:
        return None
    mc, mt = control.mean, treatment.mean
    lift = mt / mc - 1
    # Delta method: variance of mean_t / mean_c.
    variance = treatment.variance / (mc**2 * treatment.n) + control.variance * mt**2 / (mc**4 * control.n)
    if variance <= 0:
        return None
    se = math.sqrt(variance)
    va, vb = control.variance / control.n, treatment.variance / treatment.n
    dof = (va + vb) ** 2 / (va**2 / (control.n - 1) + vb**2 / (treatment.n - 1))
    t_stat = lift / se
    p_value = 2 * dist.t.sf(abs(t_stat), dof)
    half_width = dist.t.ppf(1 - alpha / 2, dof) * se
    return Comparison(
        lift=lift,
        ci_low=lift - half_width,
        ci_high=lift + half_width,
        p_value=float(p_value),
        chance_to_beat_control=float(dist.norm.cdf(t_stat)),
        standard_error=se,
        degrees_of_freedom=dof,
    )


@dataclass(frozen=True)
class SampleRatio:
    p_value: float
    expected: tuple[float, ...]

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_THRESHOLD


def sample_ratio(visitors: Sequence[int], weights: Sequence[float]) -> SampleRatio | None:
    """Chi-square test of observed visitors per variant against the weights."""
    total = sum(visitors)
    weight_sum = sum(weights)
    if total == 0 or len(visitors) < 2 or len(visitors) != len(weights) or weight_sum <= 0:
        return None
    expected = tuple(total * w / weight_sum for w in weights)
    if any(e == 0 for e in expected):
        return None
    chi2 = sum((o - e) ** 2 / e for o, e in zip(visitors, expected, strict=True))
    return SampleRatio(p_value=float(dist.chi2.sf(chi2, len(visitors) - 1)), expected=expected)


def sample_size_per_variant(*, baseline_rate: float, relative_mde: float, power: float = 0.8) -> int:
    """Visitors each variant needs to detect a relative change in a conversion rate.

    Two-sided test at ALPHA with the normal approximation, the textbook formula that
    sample-size calculators use.
    """
    if not 0 < baseline_rate < 1 or relative_mde <= 0 or not 0 < power < 1:
        raise ValueError("baseline_rate in (0, 1), relative_mde > 0 and power in (0, 1) are required")
    p1 = baseline_rate
    p2 = min(baseline_rate * (1 + relative_mde), 0.999999)
    z_alpha = dist.norm.ppf(1 - ALPHA / 2)
    z_power = dist.norm.ppf(power)
    p_bar = (p1 + p2) / 2
    numerator = (
        z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2
    return math.ceil(numerator / (p2 - p1) ** 2)
