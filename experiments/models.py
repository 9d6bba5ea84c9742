from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pricing.models import PRICE_DECIMALS, PRICE_DIGITS, Product
from tenants.scoping import TenantOwnedModel

VISITOR_ID_MAX = 200
IDEMPOTENCY_KEY_MAX = 200


class Experiment(TenantOwnedModel):
    """A price test on one product: visitors split between variants, each with a price."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        ARCHIVED = "archived", "Archived"

    class Metric(models.TextChoices):
        CONVERSION_RATE = "conversion_rate", "Conversion rate"
        REVENUE_PER_VISITOR = "revenue_per_visitor", "Revenue per visitor"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="experiments")
    key = models.SlugField(max_length=64)
    seed = models.CharField(max_length=100, help_text="Hashing seed; defaults to the key.")
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    coverage = models.DecimalField(
        max_digits=5, decimal_places=4, default=1, help_text="Share of visitors who enter (0 to 1)."
    )
    primary_metric = models.CharField(max_length=32, choices=Metric.choices, default=Metric.CONVERSION_RATE)
    end_at = models.DateTimeField(null=True, blank=True)
    target_sample_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Visitors per variant after which the test pauses for a decision."
    )
    hash_version = models.PositiveSmallIntegerField(default=2)
    phase = models.PositiveIntegerField(default=0, help_text="0 until started; results count per phase.")
    winner = models.ForeignKey("Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="experiment_tenant_key_unique"),
            models.UniqueConstraint(
                fields=["tenant", "product"],
                condition=Q(status="running"),
                name="experiment_one_running_per_product",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Variant(TenantOwnedModel):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS)
    weight = models.DecimalField(max_digits=6, decimal_places=5)
    is_control = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="False once a later phase dropped it; its exposures stay."
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "experiment", "key"], name="variant_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.key}"


class Phase(TenantOwnedModel):
    """A period with one frozen configuration. Changing it while running starts a new phase."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    seed = models.CharField(max_length=100)
    coverage = models.DecimalField(max_digits=5, decimal_places=4)
    variants = models.JSONField(help_text="The variants' keys, prices and weights in this phase.")
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "experiment", "number"], name="phase_number_unique"),
        ]


class Exposure(TenantOwnedModel):
    """A visitor saw a variant's price. Only the first per experiment and phase counts."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    phase = models.PositiveIntegerField()
    # PROTECT: a variant with exposures is retired, never deleted, so no phase loses data.
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    visitor_id = models.CharField(max_length=VISITOR_ID_MAX)
    exposed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "experiment", "phase", "visitor_id"], name="exposure_once_per_visitor"
            ),
        ]
        indexes = [
            # Visitors per variant are counted from this index alone (deduplicated: a few
            # bytes per exposure), not from the table (experiments.selectors). Only a query
            # that names a variant may use it (the condition, always true of a row, is
            # proved only by such a query): without statistics (a new table, autovacuum
            # off) the planner took this smaller index for every visitor lookup and read
            # a whole phase for each (12 s for 500 exposures of a 180,000-visitor phase).
            models.Index(
                fields=["tenant", "variant", "phase"],
                condition=Q(variant__isnull=False),
                name="exposure_variant",
            ),
        ]


class Conversion(TenantOwnedModel):
    """A purchase. It counts for the variant its visitor was exposed to in the same phase;
    a visitor with no exposure is counted apart and kept out of results."""

    experiment = models.ForeignKey(
        Experiment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    phase = models.PositiveIntegerField(default=0)
    visitor_id = models.CharField(max_length=VISITOR_ID_MAX)
    revenue = models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_DECIMALS, default=0)
    # NULL, not "": the unique index applies only to conversions that carry a key.
    idempotency_key = models.CharField(max_length=IDEMPOTENCY_KEY_MAX, null=True, blank=True)  # noqa: DJ001
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    # The visitor's exposure in the phase, copied onto the conversion as it is stored if the
    # exposure is stored by then, as it usually is (experiments.ingest), so that results
    # read the conversions alone instead of looking each one up among millions of
    # exposures. NULL otherwise (a visitor never exposed; an exposure that came later):
    # results look those up. A copy of an immutable fact (an exposure is written once, and
    # keeps its variant from being deleted), hence no foreign key to check.
    variant = models.ForeignKey(
        Variant,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    exposed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="conversion_idempotency_unique",
            ),
        ]
        indexes = [
            # On PostgreSQL it also carries occurred_at, revenue, variant_id and exposed_at
            # (INCLUDE, migration 0007), so that results read conversions from it alone;
            # not said here, since SQLite has no such indexes (models.W040).
            models.Index(fields=["tenant", "experiment", "phase", "visitor_id"], name="conversion_visitor"),
        ]


class ResultsSnapshot(TenantOwnedModel):
    """A large phase's results as last computed, served by the API while fresh.

    Computing a phase's results counts its exposures in an index and reads its conversions
    from theirs: about 0.07 s for a million visitors, 0.6 s for ten million (bench/scale.py,
    on an AMD EPYC). Phases from experiments.services.RESULTS_LIVE_MAX_VISITORS on are
    recomputed every minute in the background (experiments.tasks.results_refresh_large) and
    answered from here; smaller ones are always computed on request.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    phase = models.PositiveIntegerField()
    visitors = models.PositiveBigIntegerField()
    results = models.JSONField()
    # The cumulative daily chart of the results page (selectors.experiment_daily_series),
    # computed with the results by the beat task: it reads every exposure of the phase (2 s
    # for ten million), and the page polls every few seconds. NULL when a request stored the
    # snapshot (it does not wait for a chart) or before charts were kept: then computed live.
    series = models.JSONField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "experiment", "phase"], name="results_snapshot_once_per_phase"
            ),
        ]
