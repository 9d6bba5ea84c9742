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
