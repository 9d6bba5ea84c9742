"""Reads about products and prices."""

from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from pricing.models import PriceChange, PricePoint, Product

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
