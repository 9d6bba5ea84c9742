"""Reads about experiments: results with statistics and a verdict."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from experiments import stats
from experiments.models import Conversion, Experiment, Exposure, Variant
from pricing.money import format_amount

# Below this many visitors per variant the engine's normal approximations are shaky;
# the verdict says "collecting data" instead of reading tea leaves.
MIN_VISITORS_FOR_VERDICT = 100
METRICS = (Experiment.Metric.CONVERSION_RATE, Experiment.Metric.REVENUE_PER_VISITOR)


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


def variant_totals(experiment: Experiment, phase: int) -> list[VariantTotals]:
    """Visitors, converting visitors and revenue per variant in one phase.

    A conversion counts for the variant its visitor was exposed to in the phase, if it came
    at or after the exposure; revenue is summed per visitor first, so revenue per visitor
    has a per-visitor variance.
    """
    tenant_id = experiment.tenant_id
    money = DecimalField(max_digits=24, decimal_places=4)
    per_visitor = (
        Conversion.objects.for_tenant(tenant_id)
        .filter(
            experiment=experiment,
            phase=phase,
            visitor_id=OuterRef("visitor_id"),
            # A purchase before the visitor saw the test price was not caused by it.
            occurred_at__gte=OuterRef("exposed_at"),
        )
        .values("visitor_id")
        .annotate(total=Sum("revenue"))
        .values("total")
    )
    rows = (
        Exposure.objects.for_tenant(tenant_id)
        .filter(experiment=experiment, phase=phase)
        .annotate(spent=Subquery(per_visitor, output_field=money))
        .values("variant_id")
        .annotate(
            visitors=Count("id"),
            converters=Count("id", filter=Q(spent__isnull=False)),
            revenue=Coalesce(Sum("spent"), Decimal(0), output_field=money),
            revenue_squares=Coalesce(Sum(F("spent") * F("spent")), Decimal(0), output_field=money),
        )
    )
    by_variant = {row["variant_id"]: row for row in rows}
    totals = []
    for variant in (
        Variant.objects.for_tenant(tenant_id).filter(experiment=experiment, active=True).order_by("position")
    ):
        row = by_variant.get(variant.pk, {})
        totals.append(
            VariantTotals(
                variant=variant,
                visitors=row.get("visitors", 0),
                converters=row.get("converters", 0),
                revenue=row.get("revenue") or Decimal(0),
                revenue_squares=row.get("revenue_squares") or Decimal(0),
            )
        )
    return totals


def unattributed_conversions(experiment: Experiment, phase: int) -> int:
    """Conversions of visitors never exposed in the phase: counted apart, not in results."""
    exposed = Exposure.objects.for_tenant(experiment.tenant_id).filter(
        experiment=experiment, phase=phase, visitor_id=OuterRef("visitor_id")
    )
    return (
        Conversion.objects.for_tenant(experiment.tenant_id)
        .filter(experiment=experiment, phase=phase)
        .exclude(Exists(exposed))
        .count()
    )


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
    totals = variant_totals(experiment, phase)
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
        "unattributed_conversions": unattributed_conversions(experiment, phase),
        "progress": {
            "target_sample_size": target,
            "fewest_visitors": fewest,
            "share": min(fewest / target, 1.0) if target else None,
        },
        "verdict": _verdict(experiment, totals, comparisons, srm),
    }
