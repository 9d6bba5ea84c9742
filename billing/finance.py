"""Reads for the finance side of the admin: MRR, tenants by plan, usage across tenants.

Finance looks across every tenant, so each query here says so with ``.unscoped()``.
Amounts are in the currency's smallest unit, as Stripe sends them; ``money`` formats them.
"""

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet, Sum

from billing.models import DEFAULT_PLAN, BillingAccount, Plan, Subscription, UsageDaily, UsageMonthly
from tenants.models import Tenant

# Statuses whose subscriptions count towards MRR. Past due still counts: Stripe is retrying
# the payment and the tenant keeps its tier through the grace period. Trialing does not: no
# money is due until the trial converts (Stripe's own MRR leaves trials out too).
MRR_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)

# Months in one billing interval. Weeks and days use the average month of a 365-day year,
# so a weekly price counts 52/12 times a month and a daily one 365/12 times.
_MONTHS_PER_INTERVAL = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}

# Stripe's amounts use its own list of decimal places, not ISO 4217's: the two differ
# (ISK is zero-decimal in ISO but Stripe counts it in hundredths). Everything else has two.
# https://docs.stripe.com/currencies#zero-decimal
_STRIPE_ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
})  # fmt: skip
_STRIPE_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

DASHBOARD_URL = "https://dashboard.stripe.com"


def decimal_places(currency: str) -> int:
    """Digits after the point in Stripe's amounts for this currency."""
    code = currency.lower()
    if code in _STRIPE_ZERO_DECIMAL:
        return 0
    if code in _STRIPE_THREE_DECIMAL:
        return 3
    return 2


def money(amount: int | Decimal, currency: str) -> str:
    """An amount in the currency's smallest unit as finance reads it: ``1,234.50 USD``."""
    places = decimal_places(currency)
    units = Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(-places)
    return f"{units:,.{places}f} {currency.upper()}"


def stripe_dashboard_url(kind: str, stripe_id: str, *, livemode: bool) -> str:
    """The object's page in Stripe's dashboard (``kind``: "subscriptions", "events", ...)."""
    mode = "" if livemode else "/test"
    return f"{DASHBOARD_URL}{mode}/{kind}/{stripe_id}"


def monthly_amount(*, unit_amount: int, quantity: int, interval: str, interval_count: int) -> Decimal:
    """What a price bills a month, in the smallest unit, unrounded (a yearly 290.00 is 2416.66...)."""
    months = _MONTHS_PER_INTERVAL[interval] * max(interval_count, 1)
    return Decimal(unit_amount) * quantity / months


def subscription_mrr(subscription: Subscription) -> Decimal | None:
    """The subscription's contribution to MRR in the smallest unit; None if its status
    does not count (trialing, canceled, incomplete, unpaid, paused)."""
    if subscription.status not in MRR_STATUSES:
        return None
    return monthly_amount(
        unit_amount=subscription.unit_amount,
        quantity=subscription.quantity,
        interval=subscription.interval,
        interval_count=subscription.interval_count,
    )


@dataclass(frozen=True)
class CurrencyAmount:
    """A sum in one currency (currencies are never added together)."""

    currency: str
    amount: Decimal
    subscriptions: int

    @property
    def display(self) -> str:
        return money(self.amount, self.currency)


@dataclass(frozen=True)
class PlanLine:
    """One plan's row on the summary: who is on it, who pays, and what they used."""

    code: str
    name: str
    tenants: int
    paying_tenants: int
    quote_units: int
    event_units: int

    @property
    def units(self) -> int:
        return self.quote_units + self.event_units


@dataclass(frozen=True)
class FinanceSummary:
    month_start: date
    month_end: date  # exclusive
    mrr: list[CurrencyAmount]
    plans: list[PlanLine]
    other_paying_tenants: int  # paying on a Stripe price that is none of our plans
    past_due: int
    trialing: int
    canceling: int  # counted in MRR, but set to end with the current period
    churned: int  # subscriptions that ended this month
    churned_mrr: list[CurrencyAmount]  # what they billed a month when they ended


def month_bounds(today: date) -> tuple[date, date]:
    """The calendar month holding ``today``: its first day and the next month's first day."""
    start = today.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def _by_currency(rows: Iterable[tuple[str, int, int, str, int]]) -> list[CurrencyAmount]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    for currency, unit_amount, quantity, interval, interval_count in rows:
        totals[currency] += monthly_amount(
            unit_amount=unit_amount, quantity=quantity, interval=interval, interval_count=interval_count
        )
        counts[currency] += 1
    return [CurrencyAmount(c, totals[c], counts[c]) for c in sorted(totals)]


_PRICE_FIELDS = ("currency", "unit_amount", "quantity", "interval", "interval_count")


def mrr_by_currency() -> list[CurrencyAmount]:
    """MRR of every tenant, one line per currency, from active and past-due subscriptions."""
    rows = Subscription.objects.unscoped().filter(status__in=MRR_STATUSES).values_list(*_PRICE_FIELDS)
    return _by_currency(rows.iterator())


def finance_summary(*, today: date | None = None) -> FinanceSummary:
    """MRR, tenants and paying tenants by plan, this month's usage by plan, and the month's churn."""
    today = today or datetime.now(UTC).date()
    start, end = month_bounds(today)
    subscriptions = Subscription.objects.unscoped()
    status_counts = dict(
        subscriptions.filter(status__in=[Subscription.Status.PAST_DUE, Subscription.Status.TRIALING])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    churned = subscriptions.filter(
        ended_at__gte=datetime.combine(start, time.min, UTC),
        ended_at__lt=datetime.combine(end, time.min, UTC),
    )

    plans = list(Plan.objects.all())
    default_plan_id = next((p.pk for p in plans if p.code == DEFAULT_PLAN), None)
    accounts = dict(BillingAccount.objects.unscoped().values_list("plan").annotate(n=Count("id")).order_by())
    # A tenant without an account is read as on the default plan (billing.selectors does the same).
    without_account = Tenant.objects.filter(billing__isnull=True).count()
    if without_account and default_plan_id is not None:
        accounts[default_plan_id] = accounts.get(default_plan_id, 0) + without_account
    paying = dict(
        subscriptions.filter(status__in=MRR_STATUSES)
        .values_list("plan")
        .annotate(n=Count("tenant", distinct=True))
        .order_by()
    )
    usage: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        UsageDaily.objects.unscoped()
        .filter(day__gte=start, day__lt=end)
        .values_list("tenant__billing__plan", "kind")
        .annotate(units=Sum("units"))
        .order_by()
    )
    for plan_id, kind, units in rows:
        usage[plan_id if plan_id is not None else default_plan_id][kind] += units or 0

    return FinanceSummary(
        month_start=start,
        month_end=end,
        mrr=mrr_by_currency(),
        plans=[
            PlanLine(
                code=plan.code,
                name=plan.name,
                tenants=accounts.get(plan.pk, 0),
                paying_tenants=paying.get(plan.pk, 0),
                quote_units=usage[plan.pk][UsageDaily.Kind.QUOTE],
                event_units=usage[plan.pk][UsageDaily.Kind.EVENT],
            )
            for plan in plans
        ],
        other_paying_tenants=paying.get(None, 0),
        past_due=status_counts.get(Subscription.Status.PAST_DUE, 0),
        trialing=status_counts.get(Subscription.Status.TRIALING, 0),
        canceling=subscriptions.filter(status__in=MRR_STATUSES, cancel_at_period_end=True).count(),
        churned=churned.count(),
        churned_mrr=_by_currency(churned.values_list(*_PRICE_FIELDS)),
    )


# --- Usage export ----------------------------------------------------------------------

USAGE_CSV_HEADER = [
    "tenant_id", "tenant_name", "tenant_slug", "plan", "month",
    "quote_units", "event_units", "total_units", "monthly_limit",
]  # fmt: skip


@dataclass(frozen=True)
class UsageLine:
    tenant_id: int
    tenant_name: str
    tenant_slug: str
    plan: str
    month: date
    quote_units: int
    event_units: int
    monthly_limit: int | None  # None: no limit

    @property
    def total_units(self) -> int:
        return self.quote_units + self.event_units


def usage_by_tenant_month(*, queryset: QuerySet[UsageMonthly] | None = None) -> Iterator[UsageLine]:
    """One line per tenant and month, by month then tenant name, from the monthly rollup.

    ``queryset`` narrows the rows (the admin passes its filtered changelist). Plan and limit
    are the tenant's current ones: plans are not kept per month.
    """
    base = queryset if queryset is not None else UsageMonthly.objects.unscoped()
    default_plan = Plan.objects.filter(code=DEFAULT_PLAN).first()
    rows = (
        base.order_by()
        .values(
            "tenant_id",
            "tenant__name",
            "tenant__slug",
            "month",
            "tenant__billing__plan__code",
            "tenant__billing__plan__monthly_units",
            "tenant__billing__monthly_units_override",
        )
        .annotate(
            quote=Sum("units", filter=Q(kind=UsageDaily.Kind.QUOTE), default=0),
            event=Sum("units", filter=Q(kind=UsageDaily.Kind.EVENT), default=0),
        )
        .order_by("month", "tenant__name", "tenant_id")
    )
    for row in rows.iterator(chunk_size=2000):
        plan = row["tenant__billing__plan__code"]
        if plan is None:  # no account yet: read as on the default plan
            plan = default_plan.code if default_plan else ""
            limit = default_plan.monthly_units if default_plan else None
        else:
            override = row["tenant__billing__monthly_units_override"]
            limit = override if override is not None else row["tenant__billing__plan__monthly_units"]
        yield UsageLine(
            tenant_id=row["tenant_id"],
            tenant_name=row["tenant__name"],
            tenant_slug=row["tenant__slug"],
            plan=plan,
            month=row["month"],
            quote_units=row["quote"],
            event_units=row["event"],
            monthly_limit=limit,
        )


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; tenants name themselves, so
    # their text is defused with a leading apostrophe (OWASP's advice for CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def usage_csv_lines(lines: Iterable[UsageLine]) -> Iterator[str]:
    """The usage export as CSV text, a line at a time (header first)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(USAGE_CSV_HEADER)
    for line in lines:
        yield writer.writerow(
            [
                line.tenant_id,
                _cell(line.tenant_name),
                _cell(line.tenant_slug),
                line.plan,
                line.month.strftime("%Y-%m"),
                line.quote_units,
                line.event_units,
                line.total_units,
                "" if line.monthly_limit is None else line.monthly_limit,
            ]
        )
