"""Reads about plans and limits."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Sum

from billing import metering
from billing.models import DEFAULT_PLAN, BillingAccount, Plan, UsageDaily
from tenants.models import Tenant


@dataclass(frozen=True)
class Limits:
    """What a tenant may use: None means no limit (an Enterprise plan staff left open)."""

    plan: str
    monthly_units: int | None
    requests_per_minute: int | None
    overage: bool
    overridden: bool


def limits_effective(*, tenant: Tenant) -> Limits:
    """The tenant's limits: its plan's, with staff overrides taking precedence."""
    account = BillingAccount.objects.for_tenant(tenant).select_related("plan").first()
    if account is None:
        # Every tenant gets an account when created (and by migration before that); a
        # tenant without one is read as on the default plan, without writing here.
        plan = Plan.objects.get(code=DEFAULT_PLAN)
        return Limits(plan.code, plan.monthly_units, plan.requests_per_minute, plan.overage, overridden=False)
    plan = account.plan
    units = account.monthly_units_override
    rpm = account.requests_per_minute_override
    return Limits(
        plan=plan.code,
        monthly_units=units if units is not None else plan.monthly_units,
        requests_per_minute=rpm if rpm is not None else plan.requests_per_minute,
        overage=plan.overage,
        overridden=account.has_override,
    )


@dataclass(frozen=True)
class Usage:
    period_start: date
    period_end: date  # exclusive
    by_kind: dict[str, int]
    limits: Limits

    @property
    def used(self) -> int:
        return sum(self.by_kind.values())


def usage_this_period(*, tenant: Tenant) -> Usage:
    """This calendar month's (UTC) metered units by kind, flushed and not yet flushed."""
    today = datetime.now(UTC).date()
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    rows = (
        UsageDaily.objects.for_tenant(tenant)
        .filter(day__gte=start, day__lt=end)
        .values("kind")
        .annotate(total=Sum("units"))
    )
    by_kind = {kind.value: 0 for kind in UsageDaily.Kind}
    for row in rows:
        by_kind[row["kind"]] += row["total"]
    for kind, units in metering.pending(tenant_id=tenant.pk, day=today.isoformat()).items():
        by_kind[kind] = by_kind.get(kind, 0) + units
    return Usage(period_start=start, period_end=end, by_kind=by_kind, limits=limits_effective(tenant=tenant))


# The meter turns to a warning where the owners' first quota email goes (billing.quotas).
USAGE_WARN_PERCENT = 80


@dataclass(frozen=True)
class UsageMeter:
    """This month's units against the plan, as the dashboard and billing page show them."""

    plan_name: str
    used: int
    quotes: int
    events: int
    limit: int | None
    requests_per_minute: int | None
    overage: bool
    overridden: bool
    period_start: date
    period_end: date  # exclusive

    @property
    def percent(self) -> int | None:
        """Share of the units used, in whole percent; over 100 once past the limit."""
        if not self.limit:
            return None
        return 100 * self.used // self.limit

    @property
    def width(self) -> int:
        """The meter bar's width in percent (0 to 100)."""
        return min(self.percent or 0, 100)

    @property
    def state(self) -> str:
        """``ok``, ``warn`` (from USAGE_WARN_PERCENT) or ``over`` (the limit reached)."""
        if self.percent is None or self.percent < USAGE_WARN_PERCENT:
            return "ok"
        return "over" if self.percent >= 100 else "warn"

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def last_day(self) -> date:
        return self.period_end - timedelta(days=1)

    @property
    def at_limit(self) -> str:
        """What happens when this plan's units run out, in a sentence."""
        if self.limit is None:
            return "Your plan has no monthly limit on units."
        if self.overage:
            return (
                "Past the limit everything keeps running; units beyond it are billed as overage "
                "at the end of the month."
            )
        return (
            "At the limit, quotes keep answering with base prices (experiments are skipped) and "
            "events are refused until the month ends."
        )


def usage_meter(*, tenant: Tenant) -> UsageMeter:
    """This month's usage against the tenant's plan, ready for a ``.meter``."""
    usage = usage_this_period(tenant=tenant)
    limits = usage.limits
    name = Plan.objects.filter(code=limits.plan).values_list("name", flat=True).first() or limits.plan
    return UsageMeter(
        plan_name=name,
        used=usage.used,
        quotes=usage.by_kind.get(UsageDaily.Kind.QUOTE, 0),
        events=usage.by_kind.get(UsageDaily.Kind.EVENT, 0),
        limit=limits.monthly_units,
        requests_per_minute=limits.requests_per_minute,
        overage=limits.overage,
        overridden=limits.overridden,
        period_start=usage.period_start,
        period_end=usage.period_end,
    )


def plans_offered() -> list[Plan]:
    """The public plans, cheapest first, for comparing on the billing page."""
    return list(Plan.objects.filter(public=True).order_by("position", "monthly_price"))
