"""Reads about products and prices."""

from datetime import datetime

from django.db.models import QuerySet

from pricing.models import PricePoint, Product


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


# Webhooks pages. These imports stand here rather than at the top so that this section,
# appended by the webhooks UI, merges cleanly with other pages' additions to this module.
from django.db.models import Count, OuterRef, Q, Subquery  # noqa: E402

from pricing.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402
from tenants.models import Tenant  # noqa: E402


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
