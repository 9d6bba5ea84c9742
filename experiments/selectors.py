"""Reads about experiments: results with statistics and a verdict, and what the pages list."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from django.db import connection
from django.db.models import Count, Min
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.db import large_read
from experiments import stats
from experiments.models import Conversion, Experiment, Exposure, ResultsSnapshot, Variant
from pricing.models import Product
from pricing.money import format_amount
from tenants.models import Tenant

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


# One pass over the phase's conversions in visitor order, summed per visitor and then per
# variant: the converting visitors, their revenue and its per-visitor squares (revenue is
# summed per visitor first, so revenue per visitor has a per-visitor variance), and the
# conversions of visitors never exposed in the phase. A conversion carries its visitor's
# exposure (Conversion.variant, exposed_at, copied when it is stored if the exposure was
# stored first), so the exposures are not read: before, a hash join over every exposure of
# the phase took 5 of the 6.6 s for 10M visitors (bench/scale.py). Those that carry none (a
# stranger's; one whose exposure came later) are looked up through the exposures' unique
# index; a visitor's conversions all share one exposure, hence MAX. On PostgreSQL the
# conversions are read from their index alone (migration experiments 0007). The tenant is
# pinned like every scoped query.
#
# The per-variant sums are one row of filtered aggregates, one set per variant, rather
# than a GROUP BY: PostgreSQL sorted the per-visitor rows to group them (n log n, spilling
# to disk from ~100,000 converting visitors), 10 % of the statement at 10M visitors.
_LOOKUP = f"""SELECT e.{{column}} FROM {Exposure._meta.db_table} AS e
WHERE e.tenant_id = c.tenant_id AND e.experiment_id = c.experiment_id
  AND e.phase = c.phase AND e.visitor_id = c.visitor_id"""  # noqa: S608


def _per_visitor_sql(where: str, keys: str = "") -> str:
    """Per converting or unexposed visitor of the conversions matching ``where`` (on ``c``,
    with the tenant pinned): ``keys`` (e.g. ``"experiment_id, phase, "``), the variant of
    their exposure, what they ``spent`` at or after it (NULL if nothing), when they were
    exposed, and how many of their conversions had no exposure (``unexposed``)."""
    return f"""
    SELECT {keys}MAX(variant_id) AS variant_id,
           SUM(CASE WHEN occurred_at >= exposed_at THEN revenue END) AS spent,
           MAX(exposed_at) AS exposed_at,
           SUM(CASE WHEN variant_id IS NULL THEN 1 ELSE 0 END) AS unexposed
    FROM (
        SELECT c.experiment_id, c.phase, c.visitor_id, c.occurred_at, c.revenue,
               CASE WHEN c.variant_id IS NULL THEN ({_LOOKUP.format(column="variant_id")})
                    ELSE c.variant_id END AS variant_id,
               CASE WHEN c.variant_id IS NULL THEN ({_LOOKUP.format(column="exposed_at")})
                    ELSE c.exposed_at END AS exposed_at
        FROM {Conversion._meta.db_table} AS c
        WHERE c.tenant_id = %(tenant)s AND {where}
    ) AS conversions
    GROUP BY {keys}visitor_id
"""  # noqa: S608


_ONE_PHASE = "c.experiment_id = %(experiment)s AND c.phase = %(phase)s"  # for the daily series


def _variant_totals(variant: Variant, visitors: int, sums: Sequence[Any] | None) -> VariantTotals:
    """A variant's totals from its visitors and its (converters, revenue, squares) sums."""
    converters, revenue, squares = sums or (0, None, None)
    return VariantTotals(
        variant=variant,
        visitors=visitors,
        converters=converters,
        # str: SQLite sums money as floats, whose exact binary values are not the amounts.
        revenue=Decimal(str(revenue or 0)),
        revenue_squares=Decimal(str(squares or 0)),
    )


def _in(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``= %(name0)s`` or ``IN (%(name0)s, …)`` and its parameters, for both databases (one
    value makes an equality, which keeps PostgreSQL's index scan in key order)."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    keys = [f"%({key})s" for key in params]
    return (f"= {keys[0]}" if len(keys) == 1 else f"IN ({', '.join(keys)})"), params


def _variant_params(pairs: Sequence[tuple[int, int]]) -> dict[str, int]:
    """``variant0``, ``phase0``… for (variant id, phase) pairs, as the statements below name them."""
    params = {}
    for i, (variant_id, phase) in enumerate(pairs):
        params |= {f"variant{i}": variant_id, f"phase{i}": phase}
    return params


def _count_visitors(cursor: Any, tenant_id: int, pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Exposures of each variant in its phase, for (variant id, phase) pairs, in one
    statement: a count per variant, each over its own range of the (tenant, variant, phase)
    index alone. (One grouped count over the phase, or over a list of variants, had
    PostgreSQL scan the whole table when they fill most of it.)"""
    if not pairs:
        return []
    sql = " UNION ALL ".join(
        f"SELECT {i}, COUNT(*) FROM {Exposure._meta.db_table} WHERE tenant_id = %(tenant)s"  # noqa: S608
        f" AND variant_id = %(variant{i})s AND phase = %(phase{i})s"
        for i in range(len(pairs))
    )
    cursor.execute(sql, {"tenant": tenant_id} | _variant_params(pairs))
    counts = dict(cursor.fetchall())
    return [counts.get(i, 0) for i in range(len(pairs))]


def _conversions_sql(variants: int, experiments: int, where: str) -> str:
    """Converting visitors, revenue and its squares of each variant (``_variant_params``) in
    that order, then the conversions of visitors never exposed in each
    experiment's phase (``experiment0``, ``experiment_phase0``…)."""
    columns = []
    for i in range(variants):
        only = f"FILTER (WHERE variant_id = %(variant{i})s AND phase = %(phase{i})s)"
        columns += [f"COUNT(spent) {only}", f"SUM(spent) {only}", f"SUM(spent * spent) {only}"]
    columns += [
        f"SUM(unexposed) FILTER (WHERE variant_id IS NULL AND experiment_id = %(experiment{i})s"
        f" AND phase = %(experiment_phase{i})s)"
        for i in range(experiments)
    ]
    per_visitor = _per_visitor_sql(where, keys="experiment_id, phase, ")
    return f"SELECT {', '.join(columns)} FROM ({per_visitor}) AS per_visitor"  # noqa: S608


def _phases_totals(
    phases: Sequence[tuple[Experiment, int]], *, tenant_id: int
) -> dict[int, tuple[list[VariantTotals], int]]:
    """Per experiment, in the phase given: its active variants' totals and the conversions
    of visitors never exposed. Four statements for any number of experiments."""
    phase_of = {experiment.pk: phase for experiment, phase in phases}
    if not phase_of:
        return {}
    variants = list(
        Variant.objects.for_tenant(tenant_id)
        .filter(experiment_id__in=phase_of, active=True)
        .order_by("experiment_id", "position", "id")
    )
    pairs = [(variant.pk, phase_of[variant.experiment_id]) for variant in variants]
    in_experiments, params = _in("in_experiment", list(phase_of))
    in_phases, more = _in("in_phase", sorted(set(phase_of.values())))
    params |= more | _variant_params(pairs) | {"tenant": tenant_id}
    for i, (experiment_id, phase) in enumerate(phase_of.items()):
        params |= {f"experiment{i}": experiment_id, f"experiment_phase{i}": phase}
    where = f"c.experiment_id {in_experiments} AND c.phase {in_phases}"
    with large_read() as cursor:
        visitors = _count_visitors(cursor, tenant_id, pairs)
        cursor.execute(_conversions_sql(len(variants), len(phase_of), where), params)
        row = cursor.fetchone()
    totals: dict[int, tuple[list[VariantTotals], int]] = {}
    for i, experiment_id in enumerate(phase_of):
        totals[experiment_id] = ([], int(row[3 * len(variants) + i] or 0))
    for i, variant in enumerate(variants):
        sums = row[3 * i : 3 * i + 3]
        totals[variant.experiment_id][0].append(_variant_totals(variant, visitors[i], sums))
    return totals


def _phase_totals(experiment: Experiment, phase: int) -> tuple[list[VariantTotals], int]:
    return _phases_totals([(experiment, phase)], tenant_id=experiment.tenant_id)[experiment.pk]


def variant_totals(experiment: Experiment, phase: int) -> list[VariantTotals]:
    """Visitors, converting visitors and revenue per variant in one phase.

    A conversion counts for the variant its visitor was exposed to in the phase, if it came
    at or after the exposure. A count of visitors per variant, from an index, and one pass
    over the conversions (an earlier ORM query ran a correlated subquery per exposure: 16 s
    for a million visitors, bench/scale.py).
    """
    return _phase_totals(experiment, phase)[0]


def unattributed_conversions(experiment: Experiment, phase: int) -> int:
    """Conversions of visitors never exposed in the phase: counted apart, not in results."""
    return _phase_totals(experiment, phase)[1]


def variant_totals_of_many(
    experiments: list[Experiment], *, tenant_id: int
) -> dict[int, list[VariantTotals]]:
    """``variant_totals`` of several experiments in their current phases, in four statements.

    The same rules and reads as ``variant_totals``, for all of them at once. (Before, an ORM
    query looked up each exposure's conversions: 5.8 s for one experiment with a million
    visitors, on the dashboard and the experiments page.)
    """
    totals = _phases_totals([(e, e.phase) for e in experiments], tenant_id=tenant_id)
    return {pk: variant_totals for pk, (variant_totals, _) in totals.items()}


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


def _best_significant(comparisons: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The comparison with the largest significant uplift over control, if any."""
    winners = [c for c in comparisons if c["significant"] and c["lift"] > 0]
    return max(winners, key=lambda c: c["lift"], default=None)


# The per-variant intervals drawn on the results charts: 95 %, like the uplift intervals.
_Z = NormalDist().inv_cdf(1 - stats.ALPHA / 2)


def _mean_interval(moments: stats.Moments) -> list[float] | None:
    """Normal-approximation interval of a variant's mean per visitor (floored at 0: no metric is negative)."""
    if moments.n < 2:
        return None
    half = _Z * math.sqrt(moments.variance / moments.n)
    return [max(moments.mean - half, 0.0), moments.mean + half]


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
    best = _best_significant(primary)
    losers = [c for c in primary if c["significant"] and c["lift"] < 0]
    if best is not None:
        return (
            f"{best['variant']} beats control on {metric} by {_pct(best['lift'])} "
            f"(95 % interval {_pct(best['ci'][0])} to {_pct(best['ci'][1])}, p = {best['p_value']:.4f}); "
            f"chance to beat control {best['chance_to_beat_control'] * 100:.1f} %."
        )
    if losers and len(losers) == len(primary):
        return f"Every variant does worse than control on {metric}: keep the control price."
    target = experiment.target_sample_size
    more = f" {max(target - fewest, 0):,} more visitors per variant to reach the target." if target else ""
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
                "conversion_rate_ci": _mean_interval(t.moments(Experiment.Metric.CONVERSION_RATE)),
                "revenue": format_amount(t.revenue, currency),
                "revenue_per_visitor": float(t.revenue) / t.visitors if t.visitors else None,
                "revenue_per_visitor_ci": _mean_interval(t.moments(Experiment.Metric.REVENUE_PER_VISITOR)),
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


def series_snapshot(experiment: Experiment) -> dict[str, Any] | None:
    """The current phase's stored daily chart if it is fresh enough to serve, else None."""
    return (
        ResultsSnapshot.objects.for_tenant(experiment.tenant_id)
        .filter(
            experiment=experiment,
            phase=experiment.phase,
            computed_at__gte=timezone.now() - RESULTS_MAX_AGE,
            series__isnull=False,
        )
        .values_list("series", flat=True)
        .first()
    )


def suggested_winner(results: dict[str, Any]) -> str | None:
    """The variant a person would most likely pick as winner: the verdict's, when it names one."""
    srm = results["srm"]
    fewest = min((v["visitors"] for v in results["variants"]), default=0)
    if (srm and srm["mismatch"]) or fewest < MIN_VISITORS_FOR_VERDICT:
        return None
    best = _best_significant(results["comparisons"][results["primary_metric"]])
    return best["variant"] if best else None


def experiment_daily_series(experiment: Experiment) -> dict[str, Any]:
    """Cumulative visitors and conversion rate per variant, by day of first exposure (current phase).

    A visitor counts on the day they first saw the experiment, converted or not by now,
    as GrowthBook's cumulative charts do. Two reads: the phase's exposures counted by
    variant and day, and the converting visitors from one pass over the conversions, by
    the day of their exposure (the same rules as the results). Before, an ORM query looked
    up each exposure's conversions: 1.8 s for a million visitors.
    """
    tenant_id = experiment.tenant_id
    exposed = Exposure.objects.for_tenant(tenant_id).filter(experiment=experiment, phase=experiment.phase)
    by_day = exposed.annotate(day=TruncDate("exposed_at")).values("variant_id", "day").annotate(n=Count("*"))
    # The day as TruncDate makes it (in the current time zone), its parameters named.
    day_sql, day_params = connection.ops.datetime_cast_date_sql(
        "exposed_at", (), timezone.get_current_timezone_name()
    )
    params = {"tenant": tenant_id, "experiment": experiment.pk, "phase": experiment.phase}
    for i, value in enumerate(day_params):
        day_sql = day_sql.replace("%s", f"%(day{i})s", 1)
        params[f"day{i}"] = value
    sql = f"""SELECT variant_id, {day_sql}, COUNT(spent)
    FROM ({_per_visitor_sql(_ONE_PHASE)}) AS per_visitor WHERE variant_id IS NOT NULL
    GROUP BY 1, 2"""  # noqa: S608
    cells: dict[tuple[int, date], dict[str, int]] = {}
    with large_read() as cursor:
        for row in by_day:
            cells[row["variant_id"], row["day"]] = {"visitors": row["n"], "converters": 0}
        cursor.execute(sql, params)
        for variant_id, day, converters in cursor.fetchall():
            day = day if isinstance(day, date) else date.fromisoformat(day)  # SQLite: text
            cells.setdefault((variant_id, day), {"visitors": 0})["converters"] = converters
    days = sorted({day for _, day in cells})
    series = []
    for variant in (
        Variant.objects.for_tenant(tenant_id).filter(experiment=experiment, active=True).order_by("position")
    ):
        visitors = converters = 0
        cumulative_visitors, cumulative_rate = [], []
        for day in days:
            cell = cells.get((variant.pk, day), {})
            visitors += cell.get("visitors", 0)
            converters += cell.get("converters", 0)
            cumulative_visitors.append(visitors)
            cumulative_rate.append(converters / visitors if visitors else None)
        series.append(
            {
                "key": variant.key,
                "is_control": variant.is_control,
                "visitors": cumulative_visitors,
                "conversion_rate": cumulative_rate,
            }
        )
    return {"days": [day.isoformat() for day in days], "variants": series}


def experiment_status_counts(tenant: Tenant) -> dict[str, int]:
    """How many of the tenant's experiments are in each status (every status present, 0 or more)."""
    counts = dict.fromkeys(Experiment.Status.values, 0)
    rows = (
        Experiment.objects.for_tenant(tenant)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts.update(rows)
    return counts


def experiments_visitors(tenant: Tenant, experiment_ids: Sequence[int]) -> dict[int, int]:
    """Visitors so far (first exposures in the current phase) of each experiment, in two queries.

    The sum of its variants' counts, retired ones included, each from the small (tenant,
    variant, phase) index: counting through the unique index took 685 ms for ten million
    visitors on the experiments page (bench data).
    """
    variants = list(
        Variant.objects.for_tenant(tenant)
        .filter(experiment_id__in=experiment_ids)
        .values_list("pk", "experiment_id", "experiment__phase")
    )
    with large_read() as cursor:
        counts = _count_visitors(cursor, tenant.pk, [(pk, phase) for pk, _, phase in variants])
    visitors: dict[int, int] = {}
    for (_, experiment_id, _), count in zip(variants, counts, strict=True):
        if count:
            visitors[experiment_id] = visitors.get(experiment_id, 0) + count
    return visitors


@dataclass(frozen=True)
class Leader:
    """The variant ahead on an experiment's primary metric, and by how much over control."""

    variant: str
    is_control: bool
    lift: float | None
    chance_to_beat_control: float | None


def experiments_leaders(tenant: Tenant, experiments: Sequence[Experiment]) -> dict[int, Leader | None]:
    """The current leader of each experiment on its primary metric; None while collecting data.

    Two queries for any number of experiments: the list page shows one per running test.
    """
    totals = variant_totals_of_many(list(experiments), tenant_id=tenant.pk)
    return {e.pk: _leader(totals[e.pk], e.primary_metric) for e in experiments}


def _leader(totals: list[VariantTotals], metric: str) -> Leader | None:
    control = next((t for t in totals if t.variant.is_control), None)
    if control is None or min((t.visitors for t in totals), default=0) < MIN_VISITORS_FOR_VERDICT:
        return None
    best: tuple[VariantTotals, stats.Comparison] | None = None
    for t in totals:
        if t is control:
            continue
        result = stats.compare(control.moments(metric), t.moments(metric))
        if result is not None and (best is None or result.lift > best[1].lift):
            best = (t, result)
    if best is None:
        return None
    if best[1].lift <= 0:
        return Leader(variant=control.variant.key, is_control=True, lift=None, chance_to_beat_control=None)
    variant, result = best
    return Leader(
        variant=variant.variant.key,
        is_control=False,
        lift=result.lift,
        chance_to_beat_control=result.chance_to_beat_control,
    )


# The calculator's "current traffic": two weeks smooths out weekdays and weekends.
TRAFFIC_WINDOW_DAYS = 14


@dataclass(frozen=True)
class Traffic:
    """Distinct visitors who saw an experiment price of a product over recent days."""

    visitors: int
    days: int

    @property
    def per_day(self) -> float:
        return self.visitors / self.days if self.days else 0.0


def product_traffic(product: Product, *, now: datetime | None = None) -> Traffic:
    """A product's recent daily visitors, from its experiments' exposures over the last 14 days.

    Quotes are not stored per product, so exposures are the measure; the days counted start
    at the first exposure in the window, so a test begun three days ago is not diluted over 14.
    """
    now = now or timezone.now()
    window = timedelta(days=TRAFFIC_WINDOW_DAYS)
    row = (
        Exposure.objects.for_tenant(product.tenant_id)
        .filter(experiment__product=product, exposed_at__gte=now - window)
        .aggregate(visitors=Count("visitor_id", distinct=True), first=Min("exposed_at"))
    )
    if not row["visitors"]:
        return Traffic(visitors=0, days=0)
    days = min(max(math.ceil((now - row["first"]) / timedelta(days=1)), 1), TRAFFIC_WINDOW_DAYS)
    return Traffic(visitors=row["visitors"], days=days)


@dataclass(frozen=True)
class SampleSizeEstimate:
    """Visitors a test needs, and how long the product's traffic takes to bring them."""

    per_variant: int
    variants: int
    daily_visitors: float | None
    traffic: Traffic | None  # measured traffic, when a product was given

    @property
    def total(self) -> int:
        return self.per_variant * self.variants

    @property
    def days(self) -> int | None:
        if not self.daily_visitors:
            return None
        return math.ceil(self.total / self.daily_visitors)


def sample_size_estimate(
    *,
    baseline_rate: float,
    relative_mde: float,
    power: float,
    variants: int,
    product: Product | None = None,
    daily_visitors: float | None = None,
) -> SampleSizeEstimate:
    """Visitors per variant (stats.sample_size_per_variant) and days at the given or measured traffic."""
    per_variant = stats.sample_size_per_variant(
        baseline_rate=baseline_rate, relative_mde=relative_mde, power=power
    )
    traffic = product_traffic(product) if product is not None else None
    if daily_visitors is None and traffic is not None and traffic.visitors:
        daily_visitors = traffic.per_day
    return SampleSizeEstimate(
        per_variant=per_variant, variants=variants, daily_visitors=daily_visitors, traffic=traffic
    )
