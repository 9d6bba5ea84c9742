"""Reads about products and prices."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Lag

from pricing.models import PriceChange, PricePoint, Product, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant

if TYPE_CHECKING:
    from experiments.models import Experiment

# Feed entries that moved a product's base price (the others announce experiments and
# sale status at an unchanged price).
PRICE_MOVES = (
    PriceChange.Source.CREATED,
    PriceChange.Source.MANUAL,
    PriceChange.Source.API,
    PriceChange.Source.EXPERIMENT,
)


def price_history(
    *, product: Product, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[PricePoint]:
    """A product's price changes, newest first, optionally within [since, until)."""
    points = PricePoint.objects.for_tenant(product.tenant_id).filter(product=product)
    if since is not None:
        points = points.filter(valid_from__gte=since)
    if until is not None:
        points = points.filter(valid_from__lt=until)
    return points.select_related("changed_by").order_by("-valid_from", "-id")


# Products pages (web UI) ------------------------------------------------------------

# Experiments in these states hold their product's price: a hand edit is refused.
_TESTING_STATUSES = ("running", "paused")


def _experiments_testing(tenant_id: int) -> "QuerySet[Experiment]":
    from experiments.models import Experiment  # experiments builds on pricing

    return Experiment.objects.for_tenant(tenant_id).filter(status__in=_TESTING_STATUSES)


def products_search(*, products: QuerySet[Product], search: str) -> QuerySet[Product]:
    """Products whose name or sku contains the search text (all of them for no text)."""
    if not search:
        return products
    return products.filter(Q(name__icontains=search) | Q(sku__icontains=search))


def product_counts(*, products: QuerySet[Product]) -> dict[str, int]:
    """How many of these products there are in all, on sale and off sale."""
    counts = products.aggregate(
        n_all=Count("pk"),
        n_active=Count("pk", filter=Q(active=True)),
        n_inactive=Count("pk", filter=Q(active=False)),
    )
    return {name.removeprefix("n_"): value or 0 for name, value in counts.items()}


def products_with_experiment(*, products: QuerySet[Product], tenant_id: int) -> QuerySet[Product]:
    """Products by name, each with ``testing_key``/``testing_status`` of the experiment holding its price."""
    testing = _experiments_testing(tenant_id).filter(product_id=OuterRef("pk")).order_by("-started_at")
    return products.annotate(
        testing_key=Subquery(testing.values("key")[:1]),
        testing_status=Subquery(testing.values("status")[:1]),
    ).order_by("name", "sku")


def experiment_testing(*, product: Product) -> "Experiment | None":
    """The running or paused experiment that holds this product's price, or None."""
    return _experiments_testing(product.tenant_id).filter(product=product).order_by("-started_at").first()


def price_history_with_previous(*, product: Product, limit: int) -> list[PricePoint]:
    """The latest ``limit`` prices, newest first, each with ``previous_price`` (None for the first)."""
    points = PricePoint.objects.for_tenant(product.tenant_id).filter(product=product)
    # The window runs before LIMIT, so the oldest row shown still knows the price before it.
    previous = Window(Lag("price"), order_by=[F("valid_from").asc(), F("id").asc()])
    return list(
        points.annotate(previous_price=previous)
        .select_related("changed_by", "api_key")
        .order_by("-valid_from", "-id")[:limit]
    )


# Webhooks pages ----------------------------------------------------------------------


def webhook_endpoints_with_health(
    *, endpoints: QuerySet[WebhookEndpoint], tenant: Tenant, since: datetime
) -> QuerySet[WebhookEndpoint]:
    """Endpoints with their deliveries since `since` counted by outcome, and their latest delivery."""
    Status = WebhookDelivery.Status
    recent = Q(deliveries__created_at__gte=since)
    latest = (
        WebhookDelivery.objects.for_tenant(tenant)
        .filter(endpoint=OuterRef("pk"))
        .order_by("-created_at", "-id")
    )
    return endpoints.annotate(
        delivered_recently=Count("deliveries", filter=recent & Q(deliveries__status=Status.SUCCEEDED)),
        # Still owed after at least one refused try: the receiver is having trouble now.
        retrying_recently=Count(
            "deliveries", filter=recent & Q(deliveries__status=Status.PENDING, deliveries__attempts__gt=0)
        ),
        failed_recently=Count("deliveries", filter=recent & Q(deliveries__status=Status.FAILED)),
        pending_now=Count("deliveries", filter=Q(deliveries__status=Status.PENDING)),
        last_delivery_status=Subquery(latest.values("status")[:1]),
        last_delivery_at=Subquery(latest.values("created_at")[:1]),
    )


def webhook_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries, newest first, with their latest attempt's response code and error."""
    latest = (
        WebhookAttempt.objects.for_tenant(endpoint.tenant_id)
        .filter(delivery=OuterRef("pk"))
        .order_by("-attempted_at", "-id")
    )
    return (
        WebhookDelivery.objects.for_tenant(endpoint.tenant_id)
        .filter(endpoint=endpoint)
        .annotate(
            last_response_status=Subquery(latest.values("response_status")[:1]),
            last_error=Subquery(latest.values("error")[:1]),
        )
        .defer("payload")
        .order_by("-id")
    )


def webhook_attempts(*, delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    """Every attempt at a delivery, in the order they happened."""
    return (
        WebhookAttempt.objects.for_tenant(delivery.tenant_id)
        .filter(delivery=delivery)
        .order_by("attempted_at", "id")
    )


# Dashboard ----------------------------------------------------------------------------


def products_on_sale(*, tenant_id: int, limit: int) -> list[Product]:
    """Active products by name (at most ``limit``), each with its last price move.

    ``last_previous`` and ``last_changed_at`` come from the newest PRICE_MOVES entry of
    the feed, read in the same query.
    """
    last_move = (
        PriceChange.objects.for_tenant(tenant_id)
        .filter(product_id=OuterRef("pk"), source__in=PRICE_MOVES)
        .order_by("-version")
    )
    return list(
        Product.objects.for_tenant(tenant_id)
        .filter(active=True)
        .annotate(
            last_previous=Subquery(last_move.values("previous_price")[:1]),
            last_changed_at=Subquery(last_move.values("changed_at")[:1]),
        )
        .order_by("name", "sku")[:limit]
    )


def price_changes_recent(*, tenant_id: int, limit: int) -> list[PriceChange]:
    """The tenant's newest entries of the live price feed, newest first."""
    return list(PriceChange.objects.for_tenant(tenant_id).order_by("-version")[:limit])
