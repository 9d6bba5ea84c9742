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


def variant_totals_of_many(
    experiments: list[Experiment], *, tenant_id: int
) -> dict[int, list[VariantTotals]]:
    """``variant_totals`` of several experiments in their current phases, in two queries.

    The same counting rules as ``variant_totals`` (a conversion counts for its visitor's
    exposure in the phase, if it came at or after it), grouped by experiment as well.
    """
    if not experiments:
        return {}
    ids = [e.pk for e in experiments]
    money = DecimalField(max_digits=24, decimal_places=4)
    per_visitor = (
        Conversion.objects.for_tenant(tenant_id)
        .filter(
            experiment_id=OuterRef("experiment_id"),
            phase=OuterRef("phase"),
            visitor_id=OuterRef("visitor_id"),
            occurred_at__gte=OuterRef("exposed_at"),
        )
        .values("visitor_id")
        .annotate(total=Sum("revenue"))
        .values("total")
    )
    rows = (
        Exposure.objects.for_tenant(tenant_id)
        .filter(experiment_id__in=ids, phase=F("experiment__phase"))
        .annotate(spent=Subquery(per_visitor, output_field=money))
        .values("experiment_id", "variant_id")
        .annotate(
            visitors=Count("id"),
            converters=Count("id", filter=Q(spent__isnull=False)),
            revenue=Coalesce(Sum("spent"), Decimal(0), output_field=money),
            revenue_squares=Coalesce(Sum(F("spent") * F("spent")), Decimal(0), output_field=money),
        )
    )
    by_variant = {(row["experiment_id"], row["variant_id"]): row for row in rows}
    totals: dict[int, list[VariantTotals]] = {pk: [] for pk in ids}
    variants = (
        Variant.objects.for_tenant(tenant_id)
        .filter(experiment_id__in=ids, active=True)
        .order_by("experiment_id", "position", "id")
    )
    for variant in variants:
        row = by_variant.get((variant.experiment_id, variant.pk), {})
        totals[variant.experiment_id].append(
            VariantTotals(
                variant=variant,
                visitors=row.get("visitors", 0),
                converters=row.get("converters", 0),
                revenue=row.get("revenue") or Decimal(0),
                revenue_squares=row.get("revenue_squares") or Decimal(0),
            )
        )
    return totals


@dataclass(frozen=True)
class RunningSummary:
    """A running experiment at a glance: who leads on the primary metric, and how surely."""

    experiment: Experiment
    totals: list[VariantTotals]
    # The variant with the best primary metric so far (None before any visitor).
    leader: VariantTotals | None
    # The variant compared with control: the leader, or the best challenger while control leads.
    challenger: VariantTotals | None
    comparison: stats.Comparison | None
    srm_mismatch: bool

    @property
    def visitors(self) -> int:
        return sum(t.visitors for t in self.totals)

    @property
    def fewest(self) -> int:
        return min((t.visitors for t in self.totals), default=0)

    @property
    def progress(self) -> int | None:
        """Percent of the target sample size reached by the smallest variant."""
        target = self.experiment.target_sample_size
        return min(100 * self.fewest // target, 100) if target else None

    @property
    def control_leads(self) -> bool:
        return self.leader is not None and self.leader.variant.is_control

    @property
    def early(self) -> bool:
        """Too few visitors for the numbers to mean much (the verdict's own threshold)."""
        return self.fewest < MIN_VISITORS_FOR_VERDICT

    @property
    def uplift(self) -> str | None:
        """The challenger's relative uplift over control on the primary metric, e.g. "+12.3 %"."""
        return _pct(self.comparison.lift) if self.comparison else None

    @property
    def chance_to_beat_control(self) -> str | None:
        """The challenger's chance to beat control, e.g. "97.1 %"."""
        return f"{self.comparison.chance_to_beat_control * 100:.1f} %" if self.comparison else None


def _summary(experiment: Experiment, totals: list[VariantTotals]) -> RunningSummary:
    metric = experiment.primary_metric
    seen = [t for t in totals if t.visitors]
    leader = max(seen, key=lambda t: t.moments(metric).mean, default=None)
    control = next((t for t in totals if t.variant.is_control), None)
    challengers = [t for t in seen if t is not control]
    if leader is not None and leader is not control:
        challenger = leader
    else:
        challenger = max(challengers, key=lambda t: t.moments(metric).mean, default=None)
    comparison = None
    if control is not None and challenger is not None:
        comparison = stats.compare(control.moments(metric), challenger.moments(metric))
    srm = stats.sample_ratio([t.visitors for t in totals], [float(t.variant.weight) for t in totals])
    return RunningSummary(
        experiment=experiment,
        totals=totals,
        leader=leader,
        challenger=challenger,
        comparison=comparison,
        srm_mismatch=bool(srm and srm.mismatch),
    )


def experiments_running(*, tenant_id: int) -> list[Experiment]:
    """The tenant's running experiments with their products, newest first (at most one a product)."""
    return list(
        Experiment.objects.for_tenant(tenant_id)
        .filter(status=Experiment.Status.RUNNING)
        .select_related("product")
        .order_by("-started_at", "-id")
    )


def running_summaries(experiments: list[Experiment], *, tenant_id: int) -> list[RunningSummary]:
    """Each experiment's leader on its primary metric, in two queries however many there are."""
    totals = variant_totals_of_many(experiments, tenant_id=tenant_id)
    return [_summary(e, totals[e.pk]) for e in experiments]


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
