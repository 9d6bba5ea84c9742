from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenants.scoping import TenantOwnedModel

# Wide enough for any currency's minor units (up to 4 in ISO 4217, for CLF and UYW)
# and any real price; amounts are quantized to the currency on the way in.
PRICE_DIGITS = 16
PRICE_DECIMALS = 4


class Product(TenantOwnedModel):
    """Something a tenant sells, with the price visitors get outside any experiment."""

    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    base_price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="product_tenant_sku_unique"),
            # "ABC" and "abc" side by side would be one product to every person and many
            # storefronts; the exact index above stays for the quote's lookups by sku.
            models.UniqueConstraint("tenant", Lower("sku"), name="product_tenant_sku_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})"


class PricePoint(TenantOwnedModel):
    """One entry of a product's price history: what visitors were quoted from when."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual edit"
        API = "api", "API"
        EXPERIMENT = "experiment", "Experiment rollout"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="price_points")
    price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS)
    currency = models.CharField(max_length=3)
    valid_from = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, choices=Source.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenants.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "product", "-valid_from"], name="pricepoint_product_time"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.price} {self.currency} from {self.valid_from:%Y-%m-%d %H:%M}"


class PriceChange(TenantOwnedModel):
    """The live price feed: every change of what visitors are quoted, numbered per tenant.

    Clients of the WebSocket and SSE feeds resume from the last version they saw.
    """

    class Source(models.TextChoices):
        CREATED = "created", "Product created"
        MANUAL = "manual", "Manual edit"
        API = "api", "API"
        EXPERIMENT = "experiment", "Experiment winner rolled out"
        EXPERIMENT_STARTED = "experiment_started", "Experiment started"
        EXPERIMENT_PAUSED = "experiment_paused", "Experiment paused"
        EXPERIMENT_COMPLETED = "experiment_completed", "Experiment completed"
        ACTIVATED = "activated", "Product put on sale"
        DEACTIVATED = "deactivated", "Product taken off sale"

    version = models.BigIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS)
    previous_price = models.DecimalField(
        max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS, null=True, blank=True
    )
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=32, choices=Source.choices)
    experiment = models.CharField(max_length=64, blank=True, help_text="Key of the experiment involved.")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="pricechange_tenant_version_unique"),
        ]


class WebhookEndpoint(TenantOwnedModel):
    """A tenant's URL that receives signed POSTs of its events."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text='Event types to send, e.g. ["price.changed"].')
    # Needed in clear to sign (HMAC is symmetric); shown to the tenant once, never again.
    secret = models.CharField(max_length=64, editable=False)
    # After a roll, the secret before it also signs until then, so receivers can switch
    # without refusing a delivery (pricing.webhooks.endpoint_secret_roll).
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.url

    @property
    def previous_secret_valid_until(self) -> datetime | None:
        """Until when the secret before a roll still signs; None once it no longer does."""
        expires = self.previous_secret_expires_at
        return expires if self.previous_secret and expires and expires > timezone.now() else None

    def signing_secrets(self) -> list[str]:
        """The secrets that sign a delivery now: the current one, then the previous one
        while it is still valid."""
        return [self.secret, self.previous_secret] if self.previous_secret_valid_until else [self.secret]


class WebhookDelivery(TenantOwnedModel):
    """One event for one endpoint: retried with backoff until the receiver answers 2xx."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="Stable across retries and redeliveries: receivers dedupe on it.")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "event_id"], name="delivery_once_per_endpoint"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "next_attempt_at"], name="delivery_due")]


class WebhookAttempt(TenantOwnedModel):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attempted_at"]
