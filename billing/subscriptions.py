"""Stripe's state, mirrored: subscriptions, invoices and the plan they give a tenant.

One principle runs through this module: an event only says *that* something changed in
Stripe. What changed is read from Stripe's current object, fetched anew, and our rows are
set from it (never incremented). So an event that arrives twice, late or out of order
ends in Stripe's state, and the 4-hourly sync repairs whatever an event could not.

Emails go after the rows they are about are committed, as once-only notices: a retry
after a failed send re-applies the same state and sends what is still missing.
"""

import functools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.actors import STRIPE, SYSTEM, Actor
from audit.services import audit_record
from billing import metering
from billing import stripe_gateway as gateway
from billing.limits import limits_changed
from billing.models import (
    DEFAULT_PLAN,
    BillingAccount,
    Invoice,
    MeterReport,
    Notice,
    Plan,
    StripeEvent,
    Subscription,
)
from billing.notices import notify_once
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Status = Subscription.Status
# Statuses whose subscription gives its plan; past_due keeps it for the grace period.
GRANTING = {Status.ACTIVE, Status.TRIALING}
# Which subscription drives the plan when a tenant has several: the best status wins,
# then the newest.
_STATUS_RANK = {Status.ACTIVE: 0, Status.TRIALING: 0, Status.PAST_DUE: 1}
# A cancellation first seen later than this (a sync catching up on old history) is not
# worth an email any more.
CANCELLATION_NOTICE_MAX_AGE = timedelta(days=7)
# During the first days of a month the previous month is reported once more, for the
# units counted between its last report and midnight.
LATE_REPORT_DAYS = 2
# Stripe error text in last_error is ours already, but be sure no key shape slips in.
_SECRET_SHAPES = re.compile(r"\b(sk|rk|pk)_(test|live)_\w+|\bwhsec_\w+")


@dataclass
class _Email:
    tenant: Tenant
    kind: str
    ref: str
    context: dict[str, Any]


@dataclass
class Outcome:
    """What processing one event did: for which tenant, and the emails it leaves to send."""

    tenant: Tenant | None = None
    emails: list[_Email] = field(default_factory=list)
    note: str = ""


def _send(emails: Iterable[_Email]) -> None:
    for email in emails:
        notify_once(tenant=email.tenant, kind=email.kind, ref=email.ref, context=email.context)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) and value else None


def _id(value: Any) -> str:
    """An id from a field that may hold the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def _free_plan() -> Plan:
    return Plan.objects.get(code=DEFAULT_PLAN)


def plan_for_price(price_id: str) -> Plan | None:
    """Our plan for a Stripe Price id (settings.STRIPE_PRICE_IDS), or None if it is not ours."""
    if not price_id:
        return None
    codes = [code for code, price in settings.STRIPE_PRICE_IDS.items() if price == price_id]
    return Plan.objects.filter(code__in=codes).first() if codes else None


# --- Which tenant an object belongs to ------------------------------------------------------


def _tenant_for(customer_id: str, *metadata: dict[str, Any] | None) -> Tenant | None:
    """The tenant of a Stripe customer: by the id we stored, else by the tenant_id we put in
    the metadata of the object, and finally of the customer itself.

    A tenant found through metadata gets the customer id stored, if it has none yet.
    """
    account = (
        BillingAccount.objects.unscoped()
        .select_related("tenant")
        .filter(stripe_customer_id=customer_id)
        .first()
        if customer_id
        else None
    )
    if account is not None:
        return account.tenant
    candidates = [m.get("tenant_id") for m in metadata if m]
    tenant = _tenant_by_metadata(candidates)
    if tenant is None and customer_id:
        try:
            customer = gateway.customer_retrieve(customer_id)
        except gateway.StripeNotFound:
            customer = {}
        tenant = _tenant_by_metadata([(customer.get("metadata") or {}).get("tenant_id")])
    if tenant is not None and customer_id:
        from billing.services import account_ensure

        account = account_ensure(tenant=tenant)
        linked = (
            BillingAccount.objects.for_tenant(tenant)
            .filter(pk=account.pk, stripe_customer_id="")
            .update(stripe_customer_id=customer_id)
        )
        if not linked:
            logger.warning(
                "tenant %s already has another Stripe customer than %s; applying anyway",
                tenant.pk,
                customer_id,
            )
    return tenant


def _tenant_by_metadata(candidates: Iterable[Any]) -> Tenant | None:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.isdigit():
            tenant = Tenant.objects.filter(pk=int(candidate)).first()
            if tenant is not None:
                return tenant
    return None


# --- Mirroring Stripe's objects -----------------------------------------------------------------


def subscription_apply(stripe_sub: dict[str, Any]) -> Subscription | None:
    """Upsert our copy of a Stripe Subscription; None if it belongs to no tenant of ours.

    In this API version the billing period lives on the subscription items; the price,
    amount and interval come from the first item's price.
    """
    customer_id = _id(stripe_sub.get("customer"))
    tenant = _tenant_for(customer_id, stripe_sub.get("metadata"))
    if tenant is None:
        logger.warning("subscription %s: no tenant for customer %s", stripe_sub.get("id"), customer_id)
        return None
    items = (stripe_sub.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    values = {
        "stripe_customer_id": customer_id,
        "stripe_price_id": price.get("id") or "",
        "plan": plan_for_price(price.get("id") or ""),
        "status": stripe_sub.get("status") or "",
        "quantity": item.get("quantity") or 1,
        "unit_amount": price.get("unit_amount") or 0,
        "currency": stripe_sub.get("currency") or price.get("currency") or "usd",
        "interval": recurring.get("interval") or "month",
        "interval_count": recurring.get("interval_count") or 1,
        "current_period_start": _ts(item.get("current_period_start")),
        "current_period_end": _ts(item.get("current_period_end")),
        "cancel_at_period_end": bool(stripe_sub.get("cancel_at_period_end")),
        "canceled_at": _ts(stripe_sub.get("canceled_at")),
        "ended_at": _ts(stripe_sub.get("ended_at")),
        "created": _ts(stripe_sub.get("created")),
        "livemode": bool(stripe_sub.get("livemode")),
        "synced_at": timezone.now(),
    }
    with transaction.atomic():
        row, _ = Subscription.objects.for_tenant(tenant).update_or_create(
            tenant=tenant, stripe_id=stripe_sub["id"], defaults=values
        )
    return row


def _invoice_subscription_id(stripe_invoice: dict[str, Any]) -> str:
    details = (stripe_invoice.get("parent") or {}).get("subscription_details")
    if isinstance(details, dict) and details.get("subscription"):
        return _id(details["subscription"])
    return _id(stripe_invoice.get("subscription"))  # API versions before the invoice parent


def invoice_apply(stripe_invoice: dict[str, Any]) -> Invoice | None:
    """Upsert our copy of a Stripe Invoice; None if it belongs to no tenant of ours."""
    customer_id = _id(stripe_invoice.get("customer"))
    details = (stripe_invoice.get("parent") or {}).get("subscription_details") or {}
    tenant = _tenant_for(customer_id, stripe_invoice.get("metadata"), details.get("metadata"))
    if tenant is None:
        logger.warning("invoice %s: no tenant for customer %s", stripe_invoice.get("id"), customer_id)
        return None
    values = {
        "stripe_customer_id": customer_id,
        "stripe_subscription_id": _invoice_subscription_id(stripe_invoice),
        "number": stripe_invoice.get("number") or "",
        "status": stripe_invoice.get("status") or "",
        "currency": stripe_invoice.get("currency") or "usd",
        "amount_due": stripe_invoice.get("amount_due") or 0,
        "amount_paid": stripe_invoice.get("amount_paid") or 0,
        "total": stripe_invoice.get("total") or 0,
        "period_start": _ts(stripe_invoice.get("period_start")),
        "period_end": _ts(stripe_invoice.get("period_end")),
        "hosted_invoice_url": stripe_invoice.get("hosted_invoice_url") or "",
        "invoice_pdf": stripe_invoice.get("invoice_pdf") or "",
        "created": _ts(stripe_invoice.get("created")),
        "synced_at": timezone.now(),
    }
    with transaction.atomic():
        row, _ = Invoice.objects.for_tenant(tenant).update_or_create(
            tenant=tenant, stripe_id=stripe_invoice["id"], defaults=values
        )
    return row


# --- The plan a tenant's subscriptions give it ------------------------------------------------


def subscription_current(*, tenant: Tenant | int) -> Subscription | None:
    """The subscription that drives the tenant's plan: active beats past due beats the rest,
    then the newest."""
    subs = list(Subscription.objects.for_tenant(tenant).select_related("plan"))
    if not subs:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    return min(subs, key=lambda s: (_STATUS_RANK.get(s.status, 2), -(s.created or oldest).timestamp()))


def _follow(tenant: Tenant, *, by: Actor) -> list[_Email]:
    """Set the tenant's plan and subscription status from its subscriptions; the emails due.

    Active or trialing: that subscription's plan. Past due: the plan is kept for
    settings.BILLING_GRACE_DAYS from the first failure, then Free. Anything else (cancelled,
    unpaid, expired, paused, none): Free. Plans staff arrange (not public, e.g. Enterprise)
    are not driven by Stripe: only the status is recorded.
    """
    from billing.services import account_ensure

    account_ensure(tenant=tenant)
    account = BillingAccount.objects.for_tenant(tenant).select_for_update().get()
    current = subscription_current(tenant=tenant)
    now = timezone.now()
    status = current.status if current else ""
    plan = account.plan
    past_due_since = None
    if not account.plan.public:
        past_due_since = (account.past_due_since or now) if status == Status.PAST_DUE else None
    elif status in GRANTING:
        plan = current.plan or plan
    elif status == Status.PAST_DUE:
        past_due_since = account.past_due_since or now
        in_grace = now < past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)
        plan = (current.plan or plan) if in_grace else _free_plan()
    else:
        plan = _free_plan()
    if current is not None and current.plan is None and status in GRANTING | {Status.PAST_DUE}:
        logger.error(
            "subscription %s bills price %r, which is no plan of ours (settings.STRIPE_PRICE_IDS): "
            "tenant %s keeps plan %s",
            current.stripe_id,
            current.stripe_price_id,
            tenant.pk,
            plan.code,
        )
    changed_plan = plan.pk != account.plan_id
    if changed_plan or status != account.subscription_status or past_due_since != account.past_due_since:
        BillingAccount.objects.for_tenant(tenant).filter(pk=account.pk).update(
            plan=plan, subscription_status=status, past_due_since=past_due_since
        )
    if changed_plan:
        audit_record(
            tenant=tenant,
            actor=by,
            action="plan.changed",
            target=("billingaccount", account.pk, tenant.name),
            before={"plan": account.plan.code, "subscription_status": account.subscription_status},
            after={"plan": plan.code, "subscription_status": status},
        )
        logger.info(
            "tenant %s: plan %s -> %s (subscription %s)", tenant.pk, account.plan.code, plan.code, status
        )
        limits_changed(tenant.pk)  # a queryset update sends no post_save: say so here
    return _emails_due(tenant, current, plan, now)


def _emails_due(tenant: Tenant, current: Subscription | None, plan: Plan, now: datetime) -> list[_Email]:
    if current is None or current.plan is None:
        return []
    if current.status in GRANTING and plan.pk == current.plan_id:
        context = {
            "plan": plan.name,
            "monthly_units": _number(plan.monthly_units),
            "requests_per_minute": _number(plan.requests_per_minute),
            "period_end": current.current_period_end,
        }
        return [_Email(tenant, Notice.Kind.SUBSCRIPTION_CONFIRMED, current.stripe_id, context)]
    ended = current.ended_at or current.canceled_at or now
    if current.status == Status.CANCELED and now - ended <= CANCELLATION_NOTICE_MAX_AGE:
        free = _free_plan()
        context = {
            "plan": current.plan.name,
            "monthly_units": _number(free.monthly_units),
            "requests_per_minute": _number(free.requests_per_minute),
        }
        return [_Email(tenant, Notice.Kind.CANCELLATION, current.stripe_id, context)]
    return []


def _number(value: int | None) -> str:
    return f"{value:,}" if value is not None else "unlimited"


def account_follow(*, account: BillingAccount, by: Actor = SYSTEM) -> BillingAccount:
    """Set the account's plan and status from the tenant's subscriptions, then send the
    emails that are due (each once). ``by``: Pricelab itself (the grace period ran out)."""
    with transaction.atomic():
        emails = _follow(account.tenant, by=by)
    _send(emails)
    account.refresh_from_db()
    return account


# --- Webhook events --------------------------------------------------------------------------


def _subscription_fetch(subscription_id: str) -> dict[str, Any] | None:
    """Stripe's current subscription; None if Stripe no longer has it."""
    try:
        return gateway.subscription_retrieve(subscription_id)
    except gateway.StripeNotFound:
        return None


def _subscription_sync(subscription_id: str) -> Outcome:
    stripe_sub = _subscription_fetch(subscription_id)
    with transaction.atomic():
        if stripe_sub is not None:
            row = subscription_apply(stripe_sub)
        else:
            # Gone from Stripe (its customer was deleted): it has ended.
            row = Subscription.objects.unscoped().filter(stripe_id=subscription_id).first()
            if row is not None and row.status != Status.CANCELED:
                Subscription.objects.for_tenant(row.tenant_id).filter(pk=row.pk).update(
                    status=Status.CANCELED, ended_at=row.ended_at or timezone.now(), synced_at=timezone.now()
                )
        if row is None:
            return Outcome(note=f"Subscription {subscription_id} belongs to no tenant here.")
        tenant = Tenant.objects.get(pk=row.tenant_id)
        return Outcome(tenant=tenant, emails=_follow(tenant, by=STRIPE))


def _on_subscription(obj: dict[str, Any], event_type: str) -> Outcome:
    return _subscription_sync(obj["id"])


def _on_checkout_completed(obj: dict[str, Any], event_type: str) -> Outcome:
    session = gateway.checkout_session_retrieve(obj["id"])
    return _checkout_session_apply(session)


def _checkout_session_apply(session: dict[str, Any]) -> Outcome:
    subscription_id = _id(session.get("subscription"))
    if session.get("mode") != "subscription" or not subscription_id:
        return Outcome(note="Not a subscription checkout.")
    # Links the customer to the tenant named in the session, before the subscription is read.
    _tenant_for(
        _id(session.get("customer")),
        session.get("metadata"),
        {"tenant_id": session.get("client_reference_id")},
    )
    return _subscription_sync(subscription_id)


def _on_invoice(obj: dict[str, Any], event_type: str) -> Outcome:
    stripe_invoice = gateway.invoice_retrieve(obj["id"])
    with transaction.atomic():
        invoice = invoice_apply(stripe_invoice)
    if invoice is None:
        return Outcome(note=f"Invoice {obj['id']} belongs to no tenant here.")
    outcome = Outcome(tenant=Tenant.objects.get(pk=invoice.tenant_id))
    if invoice.stripe_subscription_id:
        outcome.emails += _subscription_sync(invoice.stripe_subscription_id).emails
    if event_type == "invoice.payment_failed" and invoice.status == "open":
        outcome.emails.append(_payment_failed_email(invoice))
    return outcome


def _payment_failed_email(invoice: Invoice) -> _Email:
    from billing.services import format_cents

    account = BillingAccount.objects.for_tenant(invoice.tenant_id).select_related("plan", "tenant").get()
    since = account.past_due_since or timezone.now()
    context = {
        "plan": account.plan.name,
        "amount": format_cents(invoice.amount_due, invoice.currency),
        "grace_until": since + timedelta(days=settings.BILLING_GRACE_DAYS),
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }
    return _Email(account.tenant, Notice.Kind.PAYMENT_FAILED, invoice.stripe_id, context)


HANDLERS: dict[str, Callable[[dict[str, Any], str], Outcome]] = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
}


def event_record(*, payload: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store a verified webhook event once by its id; True if it is new.

    A new event is queued for processing after commit; a duplicate changes nothing.
    """
    values = {
        "type": payload["type"],
        "livemode": bool(payload.get("livemode")),
        "api_version": payload.get("api_version") or "",
        "created": _ts(payload.get("created")) or timezone.now(),
        "payload": payload,
    }
    try:
        with transaction.atomic():
            event, created = StripeEvent.objects.get_or_create(stripe_id=payload["id"], defaults=values)
    except IntegrityError:  # the same event, stored by a concurrent delivery
        return StripeEvent.objects.get(stripe_id=payload["id"]), False
    if created:
        _enqueue(event.pk)
    return event, created


def _enqueue(event_pk: int) -> None:
    from billing.stripe_tasks import stripe_event_process

    # Robust: a broker that is down must not turn a stored event into an error answer;
    # the sweep enqueues pending events that were not picked up.
    transaction.on_commit(functools.partial(stripe_event_process.delay, event_pk), robust=True)


def _describe(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, gateway.BillingError) else str(exc)
    return _SECRET_SHAPES.sub("[redacted]", f"{type(exc).__name__}: {message}")[:2000]


def event_process(*, event_pk: int) -> StripeEvent:
    """Apply one stored event: fetch what it is about from Stripe and mirror it.

    Safe to run twice (a processed event is left alone, and processing only ever sets
    Stripe's current state). On failure the event is marked failed with the error, and
    the exception is raised again for the task to retry.
    """
    event = StripeEvent.objects.get(pk=event_pk)
    if event.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
        return event
    events = StripeEvent.objects.filter(pk=event_pk)
    handler = HANDLERS.get(event.type)
    if handler is None:
        events.update(status=StripeEvent.Status.IGNORED, processed_at=timezone.now(), last_error="")
        event.refresh_from_db()
        return event
    event.attempts += 1
    events.update(attempts=event.attempts)
    try:
        outcome = handler(event.payload["data"]["object"], event.type)
        _send(outcome.emails)
    except Exception as exc:
        events.update(status=StripeEvent.Status.FAILED, last_error=_describe(exc))
        logger.warning("Stripe event %s (%s) failed: %s", event.stripe_id, event.type, _describe(exc))
        raise
    status = StripeEvent.Status.PROCESSED if outcome.tenant is not None else StripeEvent.Status.IGNORED
    events.update(status=status, tenant=outcome.tenant, processed_at=timezone.now(), last_error=outcome.note)
    event.refresh_from_db()
    return event


def event_retry(*, event: StripeEvent) -> None:
    """Process an event again (finance admin): back to pending, queued after commit."""
    StripeEvent.objects.filter(pk=event.pk).update(status=StripeEvent.Status.PENDING, last_error="")
    _enqueue(event.pk)


# Pending this long, an event's first enqueue was lost (a broker outage at commit).
EVENT_SWEEP_AFTER = timedelta(minutes=5)
# Events that failed because Stripe could not be reached are tried again by the sweep once
# 2^attempts minutes have passed since they arrived (capped at a day), after the task's
# own quick retries are spent: about 4 h, 8.5 h, 17 h, then daily. Past this many attempts
# (about three days, Stripe's own retry window) they wait for finance to retry from admin.
EVENT_SWEEP_MAX_ATTEMPTS = 14
EVENT_SWEEP_BACKOFF_CAP = timedelta(days=1)
# Events queued per sweep, oldest first: a backlog drains over a few runs.
EVENT_SWEEP_BATCH = 500


def _retry_due(event: StripeEvent, now: datetime) -> bool:
    wait = min(timedelta(minutes=2**event.attempts), EVENT_SWEEP_BACKOFF_CAP)
    return event.received_at + wait <= now


def events_sweep() -> int:
    """Queue pending events whose enqueue was lost, and events that failed because Stripe
    could not be reached whose next try is due. Returns how many were queued."""
    now = timezone.now()
    pending = StripeEvent.objects.filter(
        status=StripeEvent.Status.PENDING, received_at__lt=now - EVENT_SWEEP_AFTER
    )
    pks = list(pending.order_by("received_at").values_list("pk", flat=True)[:EVENT_SWEEP_BATCH])
    unreachable = StripeEvent.objects.filter(
        status=StripeEvent.Status.FAILED,
        attempts__lt=EVENT_SWEEP_MAX_ATTEMPTS,
        last_error__startswith=f"{gateway.BillingUnavailable.__name__}:",
    ).order_by("received_at")
    for event in unreachable.only("pk", "received_at", "attempts")[:EVENT_SWEEP_BATCH]:
        if _retry_due(event, now):
            pks.append(event.pk)
    for pk in pks:
        _enqueue(pk)
    return len(pks)


# --- Checkout, portal and the return from checkout ------------------------------------------------


def checkout_start(*, account: BillingAccount, plan_code: str, success_url: str, cancel_url: str) -> str:
    """The Checkout URL that subscribes the tenant to a public paid plan.

    A tenant that already pays changes plan in the portal: a second checkout would start
    a second subscription, billed twice.
    """
    gateway.require_configured()
    plan = Plan.objects.filter(code=plan_code, public=True).first()
    if plan is None or not plan.stripe_price_id:
        raise gateway.BillingRefused("That plan cannot be bought here.", code="plan_not_purchasable")
    current = subscription_current(tenant=account.tenant_id)
    if current is not None and (current.status in GRANTING or current.status == Status.PAST_DUE):
        raise gateway.BillingRefused(
            "You already have a subscription: change plan in the billing portal.", code="already_subscribed"
        )
    session = gateway.checkout_session_create(account, plan, success_url, cancel_url)
    return session["url"]


def portal_start(*, account: BillingAccount, return_url: str) -> str:
    """The Customer Portal URL where the tenant manages its subscription."""
    return gateway.portal_session_create(account, return_url)["url"]


def checkout_return(*, tenant: Tenant, session_id: str) -> bool:
    """Apply a completed checkout when the customer comes back, ahead of its webhook.

    Only a session of this tenant counts. Returns whether a subscription was applied.
    """
    session = gateway.checkout_session_retrieve(session_id)
    if str(session.get("client_reference_id")) != str(tenant.pk) or session.get("status") != "complete":
        return False
    outcome = _checkout_session_apply(session)
    _send(outcome.emails)
    return outcome.tenant is not None and outcome.tenant.pk == tenant.pk


# --- Crons: grace, sync, overage ------------------------------------------------------------------


def grace_expire() -> int:
    """Move past-due tenants whose grace is over to Free. Returns how many moved."""
    cutoff = timezone.now() - timedelta(days=settings.BILLING_GRACE_DAYS)
    accounts = (
        BillingAccount.objects.unscoped()
        .select_related("tenant")
        .filter(subscription_status=Status.PAST_DUE, past_due_since__lte=cutoff, plan__public=True)
        .exclude(plan__code=DEFAULT_PLAN)
    )
    moved = 0
    for account in accounts:
        account_follow(account=account)
        moved += account.plan.code == DEFAULT_PLAN
    return moved


@dataclass
class SyncResult:
    accounts: int = 0
    repaired: int = 0
    failed: int = 0


def account_sync(*, account: BillingAccount) -> bool:
    """Mirror one customer's subscriptions and recent invoices from Stripe, then follow.
    Returns whether the tenant's plan had drifted from Stripe's."""
    customer = account.stripe_customer_id
    subscriptions = gateway.subscriptions_list(customer=customer)
    invoices = gateway.invoices_list(customer)
    plan_before = account.plan_id
    with transaction.atomic():
        for stripe_sub in subscriptions:
            subscription_apply(stripe_sub)
        for stripe_invoice in invoices:
            invoice_apply(stripe_invoice)
        emails = _follow(account.tenant, by=STRIPE)  # the sync mirrors Stripe's state
    _send(emails)
    account.refresh_from_db()
    if account.plan_id != plan_before:
        logger.warning(
            "tenant %s had drifted from Stripe: plan repaired to %s", account.tenant_id, account.plan
        )
        return True
    return False


def stripe_sync() -> SyncResult:
    """Reconcile every tenant that has a Stripe customer with Stripe (the 4-hourly job)."""
    result = SyncResult()
    if not gateway.is_configured():
        return result
    accounts = BillingAccount.objects.unscoped().select_related("tenant").exclude(stripe_customer_id="")
    for account in accounts.order_by("pk").iterator(chunk_size=200):
        result.accounts += 1
        try:
            result.repaired += account_sync(account=account)
        except Exception:
            # One customer Stripe refuses, or a blip, must not stop the others.
            result.failed += 1
            logger.exception("Stripe sync failed for tenant %s", account.tenant_id)
    return result


def _periods(now: datetime) -> list[tuple[date, date]]:
    """The calendar months (UTC) to report: this one, and the last while it is young."""
    start = now.date().replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    periods = [(start, end)]
    if now.day <= LATE_REPORT_DAYS:
        periods.insert(0, ((start - timedelta(days=1)).replace(day=1), start))
    return periods


def _meter_send(row: MeterReport, period_end: date) -> None:
    # The same timestamp on every resend: a replay must be the identical request.
    last_second = datetime.combine(period_end, datetime.min.time(), UTC) - timedelta(seconds=1)
    gateway.meter_event_create(
        settings.STRIPE_METER_EVENT_NAME,
        row.stripe_customer_id,
        row.units,
        row.identifier,
        min(row.created_at, last_second),
    )
    MeterReport.objects.for_tenant(row.tenant_id).filter(pk=row.pk, sent_at=None).update(
        sent_at=timezone.now()
    )


def _overage_account(account: BillingAccount, now: datetime) -> int:
    from billing.selectors import limits_effective

    tenant = account.tenant
    included = limits_effective(tenant=tenant).monthly_units
    if included is None:
        return 0
    sent = 0
    for start, end in _periods(now):
        reports = MeterReport.objects.for_tenant(tenant).filter(period_start=start)
        # A row written before a crash may or may not have reached Stripe: resend it with
        # its identifier first (Stripe drops a duplicate), so units are never sent twice.
        for row in reports.filter(sent_at=None).order_by("covers_through"):
            _meter_send(row, end)
            sent += 1
        used = metering.stored_units(tenant_id=tenant.pk, start=start, end=end)
        overage = max(used - included, 0)
        with transaction.atomic():
            # One report at a time per tenant: two runs must not both send the same units.
            BillingAccount.objects.for_tenant(tenant).select_for_update().filter(pk=account.pk).first()
            covered = reports.aggregate(m=Max("covers_through"))["m"] or 0
            if overage <= covered:
                continue
            row = MeterReport.objects.for_tenant(tenant).create(
                tenant=tenant,
                period_start=start,
                units=overage - covered,
                covers_through=overage,
                identifier=f"pricelab-{tenant.pk}-{start:%Y%m}-{overage}",
                stripe_customer_id=account.stripe_customer_id,
            )
        _meter_send(row, end)
        sent += 1
    return sent


def overage_report() -> int:
    """Report each overage tenant's units beyond its plan to Stripe's meter, once.

    Returns how many meter events were sent (resends included).
    """
    if not gateway.is_configured():
        return 0
    now = timezone.now()
    accounts = (
        BillingAccount.objects.unscoped()
        .select_related("tenant", "plan")
        .filter(plan__overage=True)
        .exclude(stripe_customer_id="")
    )
    sent = 0
    for account in accounts.order_by("pk").iterator(chunk_size=200):
        try:
            sent += _overage_account(account, now)
        except Exception:
            logger.exception("overage report failed for tenant %s", account.tenant_id)
    return sent
