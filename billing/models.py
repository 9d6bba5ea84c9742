from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantOwnedModel


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

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    units = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "kind"], name="usage_tenant_day_kind_unique"),
        ]
