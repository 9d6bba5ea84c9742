from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantOwnedModel

# Where every tenant starts, and where it returns when a subscription ends.
DEFAULT_PLAN = "free"


class Plan(models.Model):
    """A price tier, as data: staff edit limits and prices without a release."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, default=0, help_text="USD a month.")
    monthly_units = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Metered units a month (quotes and accepted events); empty: set per tenant.",
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: set per tenant."
    )
    overage = models.BooleanField(
        default=False, help_text="Past its units the tenant keeps going and pays per unit."
    )
    position = models.PositiveSmallIntegerField(default=0)
    public = models.BooleanField(
        default=True, help_text="Offered at checkout (Enterprise is arranged by staff)."
    )

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    @property
    def stripe_price_id(self) -> str:
        """The Stripe Price that bills this plan, from settings (empty for free or custom plans)."""
        return settings.STRIPE_PRICE_IDS.get(self.code, "")


class BillingAccount(TenantOwnedModel):
    """A tenant's plan, and staff overrides of its limits (each with its reason)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="billing")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    monthly_units_override = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute_override = models.PositiveIntegerField(null=True, blank=True)
    override_reason = models.CharField(max_length=300, blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The tenant's one Stripe Customer (its metadata carries the tenant id); empty until
    # the first checkout.
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    # Mirrors the subscription that currently drives the plan ("" when on Free without one).
    subscription_status = models.CharField(max_length=24, blank=True)
    # When a payment first failed; the paid tier is kept for settings.BILLING_GRACE_DAYS.
    past_due_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="billing_account_customer_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} on {self.plan}"

    @property
    def has_override(self) -> bool:
        return self.monthly_units_override is not None or self.requests_per_minute_override is not None

    def clean(self) -> None:
        if self.has_override and not self.override_reason.strip():
            raise ValidationError({"override_reason": "Say why this tenant's limits differ from its plan."})


class UsageDaily(TenantOwnedModel):
    """Metered units of one tenant, type and day (UTC), as flushed from the counters."""

    class Kind(models.TextChoices):
        QUOTE = "quote", "Quote requests"
        EVENT = "event", "Accepted events"

    # No index of its own: the unique index below leads with tenant_id and serves every
    # lookup by tenant, and a second one made the planner read a tenant's whole history
    # where it needed a month of it (billing.services.usage_rollup).
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="%(class)ss", db_index=False
    )
    day = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    units = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # On PostgreSQL its index also carries the units (migration 0007), for the rollup.
            models.UniqueConstraint(fields=["tenant", "day", "kind"], name="usage_tenant_day_kind_unique"),
        ]


class UsageFlush(models.Model):
    """A batch of counted units applied to UsageDaily, by the id the flush claimed it under.

    Written in the same transaction as the units: a flush that finds its batch here knows
    the units are in, and only drops its claim (billing.metering). Cross-tenant bookkeeping,
    like the flush itself; old rows can go after a few days (nothing reads them but flushes).
    """

    batch = models.CharField(max_length=64, unique=True)
    applied_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"usage batch {self.batch}"


class Subscription(TenantOwnedModel):
    """Our copy of a Stripe Subscription, always set from the object Stripe returns."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        UNPAID = "unpaid"
        PAUSED = "paused"

    stripe_id = models.CharField(max_length=64, unique=True)
    stripe_customer_id = models.CharField(max_length=64)
    stripe_price_id = models.CharField(max_length=64, blank=True)
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="subscriptions",
        help_text="The plan whose Stripe Price it bills; empty if the price is not one of ours.",
    )  # fmt: skip
    status = models.CharField(max_length=24, choices=Status.choices)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = models.BigIntegerField(default=0, help_text="Smallest currency unit, per interval.")
    currency = models.CharField(max_length=3, default="usd")
    interval = models.CharField(max_length=8, default="month")
    interval_count = models.PositiveSmallIntegerField(default=1)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(null=True, blank=True, help_text="When Stripe created it.")
    livemode = models.BooleanField(default=False)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.stripe_id


class Invoice(TenantOwnedModel):
    """Our copy of a Stripe Invoice."""

    stripe_id = models.CharField(max_length=64, unique=True)
    stripe_customer_id = models.CharField(max_length=64)
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=24, blank=True)  # draft, open, paid, uncollectible, void
    currency = models.CharField(max_length=3, default="usd")
    amount_due = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    invoice_pdf = models.URLField(max_length=1000, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.number or self.stripe_id


class StripeEvent(models.Model):
    """A webhook event as Stripe sent it, stored once by its id, then processed in Celery."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored", "Ignored (type not handled)"

    stripe_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class MeterReport(TenantOwnedModel):
    """Overage units sent to Stripe as one meter event; the identifier makes a resend harmless.

    A row is written before the send and marked sent after it, so a rerun resends a row
    that may or may not have reached Stripe with the same identifier (Stripe drops the
    duplicate), and never sends units a sent row already covers.
    """

    period_start = models.DateField()
    units = models.BigIntegerField()
    covers_through = models.BigIntegerField(
        help_text="Overage units reported this period, this one included."
    )
    identifier = models.CharField(max_length=100, unique=True)
    stripe_customer_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class Notice(TenantOwnedModel):
    """An email sent to a tenant's owners, recorded so that each one goes once."""

    class Kind(models.TextChoices):
        WELCOME = "welcome"
        SUBSCRIPTION_CONFIRMED = "subscription_confirmed"
        QUOTA_80 = "quota_80", "Quota 80 %"
        QUOTA_100 = "quota_100", "Quota 100 %"
        PAYMENT_FAILED = "payment_failed"
        CANCELLATION = "cancellation"
        SRM = "srm", "Sample ratio mismatch"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    ref = models.CharField(max_length=100, help_text="What it is about: a period, an invoice, an experiment.")
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "ref"], name="notice_once"),
        ]


class UsageMonthly(TenantOwnedModel):
    """Units of one tenant, type and calendar month (UTC), rebuilt from ``UsageDaily`` by the
    daily rollup (a recount, never an increment, so running it twice changes nothing)."""

    month = models.DateField(help_text="First day of the month.")
    kind = models.CharField(max_length=16, choices=UsageDaily.Kind.choices)
    units = models.BigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "usage by month"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "kind"], name="usage_tenant_month_kind_unique"
            ),
        ]
