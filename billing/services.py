"""Writes for billing accounts."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.actors import Actor, actor_for
from audit.services import audit_record
from billing import finance, metering, notices, quotas, selectors
from billing.models import DEFAULT_PLAN, BillingAccount, Invoice, Notice, Plan, UsageDaily, UsageMonthly
from config.db import large_read
from tenants.models import Tenant


def account_ensure(*, tenant: Tenant) -> BillingAccount:
    """The tenant's billing account, opened on the Free plan if it has none."""
    account = BillingAccount.objects.for_tenant(tenant).first()
    if account is not None:
        return account
    with transaction.atomic():
        account, _ = BillingAccount.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, defaults={"plan": Plan.objects.get(code=DEFAULT_PLAN)}
        )
    return account


@transaction.atomic
def account_plan_set(*, tenant: Tenant, plan_code: str, by: Actor | None = None) -> BillingAccount:
    """Put a tenant on a plan by staff decision (the demo, an Enterprise deal); limits apply at once."""
    account = account_ensure(tenant=tenant)
    before = account.plan.code
    account.plan = Plan.objects.get(code=plan_code)
    account.save(update_fields=["plan"])  # billing.signals replaces the cached limits
    if before != plan_code:
        audit_record(
            tenant=tenant,
            actor=actor_for(by=by),
            action="plan.changed",
            target=("billingaccount", account.pk, tenant.name),
            before={"plan": before},
            after={"plan": plan_code},
        )
    return account


def quota_alerts_send(*, tenant: Tenant) -> list[str]:
    """Email the owners about the highest quota threshold reached this month, once.

    Usage only grows within a month, so once 100 % is reached the 80 % email would be
    news from the past: it is not sent. Returns the kinds sent now.
    """
    usage = selectors.usage_this_period(tenant=tenant)
    limit = usage.limits.monthly_units
    if not limit:
        return []
    reached = [p for p in quotas.THRESHOLDS if usage.used >= quotas.threshold_units(limit, p)]
    if not reached:
        return []
    kind = quotas.THRESHOLDS[max(reached)]
    context = {"used": f"{usage.used:,}", "limit": f"{limit:,}", "overage": usage.limits.overage}
    ref = usage.period_start.strftime("%Y-%m")
    return [kind] if notices.notify_once(tenant=tenant, kind=kind, ref=ref, context=context) else []


def _months_to_roll_up(today: date) -> list[date]:
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return [last_month, this_month]


# One statement for all the months: the totals are summed and upserted inside the database,
# so no row of a large month travels to Python (8.9 s for 10M daily rows through
# bulk_create, bench/scale.py), and a monthly row whose units did not change is not written
# again (a recount of a quiet month writes nothing: no dead rows, no WAL). Every tenant's
# rows: a cross-tenant job. Table names come from the models; every value is a parameter.
#
# On PostgreSQL the daily rows are read tenant by tenant, each tenant's months as one range
# of the unique index (tenant_id, day, kind), which carries the units there (migration
# billing 0007): the rollup reads the months it recounts and nothing older, from the index
# alone, so its cost follows the rows it needs, not the whole history (a full scan read 250
# days to recount 60: 2.8 s against 1.5 s for 10M rows, bench/scale.py). The aggregate
# inside the LATERAL subquery keeps the planner from flattening it into one hash join over
# the whole table.
# SQLite (the embedded mode) has no LATERAL; its tables are small, and it scans.
_ROLLUP_UPSERT = f"""
ON CONFLICT (tenant_id, month, kind) DO UPDATE
SET units = excluded.units, rolled_up_at = excluded.rolled_up_at
WHERE {UsageMonthly._meta.db_table}.units <> excluded.units
"""
_ROLLUP_POSTGRESQL = f"""
INSERT INTO {UsageMonthly._meta.db_table} (tenant_id, month, kind, units, rolled_up_at)
SELECT tenant.id, daily.month, daily.kind, daily.units, %(now)s
FROM {Tenant._meta.db_table} AS tenant
CROSS JOIN LATERAL (
    SELECT CASE {{cases}} END AS month, kind, SUM(units) AS units
    FROM {UsageDaily._meta.db_table}
    WHERE tenant_id = tenant.id AND day >= %(first)s AND day < %(last)s AND ({{ranges}})
    GROUP BY 1, 2
) AS daily
{_ROLLUP_UPSERT}"""  # noqa: S608
_ROLLUP_SQLITE = f"""
INSERT INTO {UsageMonthly._meta.db_table} (tenant_id, month, kind, units, rolled_up_at)
SELECT tenant_id, month, kind, SUM(units), %(now)s
FROM (
    SELECT tenant_id, kind, units, CASE {{cases}} END AS month
    FROM {UsageDaily._meta.db_table}
    WHERE day >= %(first)s AND day < %(last)s AND ({{ranges}})
) AS daily
GROUP BY tenant_id, month, kind
{_ROLLUP_UPSERT}"""  # noqa: S608


def usage_rollup(*, months: list[date] | None = None) -> int:
    """Recount ``UsageMonthly`` from ``UsageDaily`` for last month and this one.

    A recount, not an increment: running it twice, or after a late flush, ends in the same
    rows. Counters are flushed first so that the rollup sees every unit counted so far.
    Returns how many (tenant, month, kind) rows were written (new or changed); a row's
    ``rolled_up_at`` is when its units last changed. Old flush batch records go too
    (hourly is often enough for them).
    """
    metering.flush()
    metering.flush_records_prune()
    months = sorted(set(months or _months_to_roll_up(datetime.now(UTC).date())))
    bounds = [finance.month_bounds(month) for month in months]
    params: dict[str, Any] = {"now": timezone.now(), "first": bounds[0][0], "last": bounds[-1][1]}
    cases, ranges = [], []
    for i, (start, end) in enumerate(bounds):
        params |= {f"start{i}": start, f"end{i}": end}
        cases.append(f"WHEN day >= %(start{i})s AND day < %(end{i})s THEN %(start{i})s")
        ranges.append(f"(day >= %(start{i})s AND day < %(end{i})s)")
    sql = _ROLLUP_POSTGRESQL if connection.vendor == "postgresql" else _ROLLUP_SQLITE
    with large_read() as cursor:
        cursor.execute(sql.format(cases=" ".join(cases), ranges=" OR ".join(ranges)), params)
        return cursor.rowcount


def payment_failed_notify(*, account: BillingAccount, invoice: Invoice | None) -> bool:
    """Tell the owners that a payment failed, once per invoice, with the grace deadline."""
    since = account.past_due_since or timezone.now()
    context = {
        "plan": account.plan.name,
        "grace_until": since + timedelta(days=settings.BILLING_GRACE_DAYS),
        "amount": format_cents(invoice.amount_due, invoice.currency) if invoice else "",
        "hosted_invoice_url": invoice.hosted_invoice_url if invoice else "",
    }
    ref = invoice.stripe_id if invoice else f"past_due:{since:%Y-%m-%d}"
    return notices.notify_once(
        tenant=account.tenant, kind=Notice.Kind.PAYMENT_FAILED, ref=ref, context=context
    )


def format_cents(amount: int, currency: str) -> str:
    """Stripe's smallest-unit amount as money, e.g. 2900, "usd" → "29.00 USD" (500, "jpy" → "500 JPY")."""
    return finance.money(amount, currency)


def srm_alerts_send(*, tenant: Tenant) -> list[int]:
    """Warn owners about running experiments whose traffic split is off, once per phase."""
    from experiments.models import Experiment
    from experiments.selectors import variant_totals
    from experiments.stats import sample_ratio

    sent = []
    running = Experiment.objects.for_tenant(tenant).filter(status=Experiment.Status.RUNNING)
    for experiment in running:
        totals = variant_totals(experiment, experiment.phase)
        srm = sample_ratio([t.visitors for t in totals], [float(t.variant.weight) for t in totals])
        if srm is None or not srm.mismatch:
            continue
        context = {
            "experiment": experiment.name,
            "experiment_id": experiment.pk,
            "p_value": f"{srm.p_value:.4f}",
        }
        ref = f"{experiment.pk}:{experiment.phase}"
        if notices.notify_once(tenant=tenant, kind=Notice.Kind.SRM, ref=ref, context=context):
            sent.append(experiment.pk)
    return sent


def alerts_daily() -> dict[str, int]:
    """The daily alerts: quota thresholds, failed payments, experiments with SRM.

    Each email is a once-only notice, so this is safe to run twice (and catches any that
    the request-time quota check or the Stripe event handler could not send).
    """
    counts = {"quota": 0, "payment_failed": 0, "srm": 0}
    accounts = (
        BillingAccount.objects.unscoped()
        .select_related("tenant", "plan")
        .filter(tenant__status=Tenant.Status.ACTIVE)
    )
    for account in accounts:
        tenant = account.tenant
        counts["quota"] += len(quota_alerts_send(tenant=tenant))
        if account.subscription_status == "past_due":
            invoice = (
                Invoice.objects.for_tenant(tenant)
                .filter(status__in=["open", "uncollectible"])
                .order_by("-created")
                .first()
            )
            counts["payment_failed"] += payment_failed_notify(account=account, invoice=invoice)
        counts["srm"] += len(srm_alerts_send(tenant=tenant))
    return counts


def welcome_send(*, tenant: Tenant) -> bool:
    limits = selectors.limits_effective(tenant=tenant)
    context = {"monthly_units": f"{limits.monthly_units:,}" if limits.monthly_units else "unlimited"}
    return notices.notify_once(tenant=tenant, kind=Notice.Kind.WELCOME, ref="signup", context=context)
