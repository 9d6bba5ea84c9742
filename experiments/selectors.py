"""Reads about experiments: results with statistics and a verdict."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from experiments import stats
from experiments.models import Experiment, Exposure, ResultsSnapshot, Variant
from pricing.money import format_amount

# Below this many visitors per variant the engine's normal approximations are shaky;
# the verdict says "collecting data" instead of reading tea leaves.
MIN_VISITORS_FOR_VERDICT = 100
METRICS = (Experiment.Metric.CONVERSION_RATE, Experiment.Metric.REVENUE_PER_VISITOR)
# The oldest snapshot of a large phase's results the API serves (the beat task refreshes
# them every minute; a request finding an older one computes afresh).
RESULTS_MAX_AGE = timedelta(minutes=2)


@dataclass(frozen=True)
class VariantTotals:
    variant: Variant
    visitors: int
    converters: int
    revenue: Decimal
    revenue_squares: Decimal

    def moments(self, metric: str) -> stats.Moments:
        if metric == Experiment.Metric.CONVERSION_RATE:
            return stats.Moments.proportion(n=self.visitors, successes=self.converters)
        return stats.Moments.sample(
            n=self.visitors, total=float(self.revenue), total_squares=float(self.revenue_squares)
        )


# One pass over the phase's conversions, each joined to its visitor's exposure through the
# unique index, grouped per visitor and then per variant: the converting visitors, their
# revenue and its per-visitor squares (revenue is summed per visitor first, so revenue per
# visitor has a per-visitor variance), and, under a NULL variant, the conversions of
# visitors never exposed in the phase. The tenant is pinned like every scoped query.
_CONVERSIONS_SQL = """
SELECT variant_id, COUNT(spent), SUM(spent), SUM(spent * spent), SUM(unexposed)
FROM (
    SELECT e.variant_id,
           SUM(CASE WHEN c.occurred_at >= e.exposed_at THEN c.revenue END) AS spent,
           SUM(CASE WHEN e.id IS NULL THEN 1 ELSE 0 END) AS unexposed
    FROM experiments_conversion c
    LEFT JOIN experiments_exposure e
      ON e.tenant_id = c.tenant_id AND e.experiment_id = c.experiment_id
     AND e.phase = c.phase AND e.visitor_id = c.visitor_id
    WHERE c.tenant_id = %s AND c.experiment_id = %s AND c.phase = %s
    GROUP BY e.variant_id, c.visitor_id
) AS per_visitor
GROUP BY variant_id
"""


def _phase_totals(experiment: Experiment, phase: int) -> tuple[list[VariantTotals], int]:
    tenant_id = experiment.tenant_id
    visitors = dict(
        Exposure.objects.for_tenant(tenant_id)
        .filter(experiment=experiment, phase=phase)
        .values("variant_id")
        .annotate(n=Count("id"))
        .values_list("variant_id", "n")
    )
    with connection.cursor() as cursor:
        cursor.execute(_CONVERSIONS_SQL, [tenant_id, experiment.pk, phase])
        converting = {row[0]: row[1:] for row in cursor.fetchall()}
    unattributed = int(converting.pop(None, (0, None, None, 0))[3] or 0)
    totals = []
    for variant in (
        Variant.objects.for_tenant(tenant_id).filter(experiment=experiment, active=True).order_by("position")
    ):
        converters, revenue, squares, _ = converting.get(variant.pk, (0, None, None, 0))
        totals.append(
            VariantTotals(
                variant=variant,
                visitors=visitors.get(variant.pk, 0),
                converters=converters,
                revenue=Decimal(revenue or 0),
                revenue_squares=Decimal(squares or 0),
            )
        )
    return totals, unattributed


def variant_totals(experiment: Experiment, phase: int) -> list[VariantTotals]:
    """Visitors, converting visitors and revenue per variant in one phase.

    A conversion counts for the variant its visitor was exposed to in the phase, if it came
    at or after the exposure. Two aggregate queries: visitors per variant, and one pass over
    the conversions (the previous ORM query ran a correlated subquery per exposure: 16 s
    for a million visitors, bench/scale.py).
    """
    return _phase_totals(experiment, phase)[0]


def unattributed_conversions(experiment: Experiment, phase: int) -> int:
    """Conversions of visitors never exposed in the phase: counted apart, not in results."""
    return _phase_totals(experiment, phase)[1]


def _pct(value: float) -> str:
    return f"{value * 100:+.1f} %"


def _verdict(
    experiment: Experiment, totals: list[VariantTotals], comparisons: dict, srm: stats.SampleRatio | None
) -> str:
    metric = experiment.get_primary_metric_display().lower()
    fewest = min((t.visitors for t in totals), default=0)
    if srm is not None and srm.mismatch:
        return (
            f"Sample ratio mismatch (p = {srm.p_value:.4f}): visitors are not split as configured, so "
            "these results cannot be trusted. Check that every visitor is quoted and tracked the same way."
        )
    if fewest < MIN_VISITORS_FOR_VERDICT:
        return f"Collecting data: {sum(t.visitors for t in totals)} visitors so far."
    primary = comparisons[experiment.primary_metric]
    winners = [c for c in primary if c["significant"] and c["lift"] > 0]
    losers = [c for c in primary if c["significant"] and c["lift"] < 0]
    if winners:
        best = max(winners, key=lambda c: c["lift"])
        return (
            f"{best['variant']} beats control on {metric} by {_pct(best['lift'])} "
            f"(95 % interval {_pct(best['ci'][0])} to {_pct(best['ci'][1])}, p = {best['p_value']:.4f}); "
            f"chance to beat control {best['chance_to_beat_control'] * 100:.1f} %."
        )
    if losers and len(losers) == len(primary):
        return f"Every variant does worse than control on {metric}: keep the control price."
    target = experiment.target_sample_size
    more = f" {max(target - fewest, 0)} more visitors per variant to reach the target." if target else ""
    return f"No significant difference in {metric} yet.{more}"


def experiment_results(experiment: Experiment) -> dict[str, Any]:
    """Everything the results page and API show for the current phase."""
    phase = experiment.phase
    totals, unattributed = _phase_totals(experiment, phase)
    currency = experiment.product.currency
    control = next((t for t in totals if t.variant.is_control), None)
    comparisons: dict[str, list[dict[str, Any]]] = {metric: [] for metric in METRICS}
    for metric in METRICS:
        for t in totals:
            if control is None or t is control:
                continue
            result = stats.compare(control.moments(metric), t.moments(metric))
            comparisons[metric].append(
                {
                    "variant": t.variant.key,
                    "lift": result.lift if result else None,
                    "ci": [result.ci_low, result.ci_high] if result else None,
                    "p_value": result.p_value if result else None,
                    "chance_to_beat_control": result.chance_to_beat_control if result else None,
                    "significant": bool(result and result.significant),
                }
            )
    srm = stats.sample_ratio([t.visitors for t in totals], [float(t.variant.weight) for t in totals])
    fewest = min((t.visitors for t in totals), default=0)
    target = experiment.target_sample_size
    return {
        "experiment": experiment.key,
        "status": experiment.status,
        "phase": phase,
        "primary_metric": experiment.primary_metric,
        "currency": currency,
        "variants": [
            {
                "key": t.variant.key,
                "name": t.variant.name,
                "is_control": t.variant.is_control,
                "price": format_amount(t.variant.price, currency),
                "weight": float(t.variant.weight),
                "visitors": t.visitors,
                "conversions": t.converters,
                "conversion_rate": t.converters / t.visitors if t.visitors else None,
                "revenue": format_amount(t.revenue, currency),
                "revenue_per_visitor": float(t.revenue) / t.visitors if t.visitors else None,
            }
            for t in totals
        ],
        "comparisons": comparisons,
        "srm": {"p_value": srm.p_value, "mismatch": srm.mismatch} if srm else None,
        "unattributed_conversions": unattributed,
        "progress": {
            "target_sample_size": target,
            "fewest_visitors": fewest,
            "share": min(fewest / target, 1.0) if target else None,
        },
        "verdict": _verdict(experiment, totals, comparisons, srm),
        "computed_at": timezone.now().isoformat().replace("+00:00", "Z"),
    }


def parse_computed_at(results: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(results["computed_at"].replace("Z", "+00:00"))


def results_snapshot(experiment: Experiment) -> dict[str, Any] | None:
    """The current phase's stored results if they are fresh enough to serve, else None."""
    results = (
        ResultsSnapshot.objects.for_tenant(experiment.tenant_id)
        .filter(
            experiment=experiment, phase=experiment.phase, computed_at__gte=timezone.now() - RESULTS_MAX_AGE
        )
        .values_list("results", flat=True)
        .first()
    )
    if results is not None:
        results["status"] = experiment.status  # it may have been paused since
    return results
