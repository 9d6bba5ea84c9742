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
