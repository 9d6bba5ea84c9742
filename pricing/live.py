"""Publishing price changes to live clients (WebSocket, SSE) after commit.

A change gets the tenant's next feed version inside the writing transaction: the
counter lives on the tenant row, whose lock is held until commit, so versions follow
commit order and a reader that saw version N has seen every change before it. The
broadcast goes out through the channel layer only after commit (DESIGN rule 3): a
rolled-back change announces nothing. Clients that missed a broadcast replay the
``PriceChange`` log from their last version.
"""

import functools
import logging
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from config.logs import warn_throttled
from pricing import webhooks
from pricing.models import PriceChange, Product
from pricing.money import format_amount
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Replays larger than this are cut; the client is told to re-read the catalogue instead.
REPLAY_LIMIT = 1000


def group_name(tenant_id: int) -> str:
    return f"prices-tenant-{tenant_id}"


def event_of(change: PriceChange) -> dict[str, Any]:
    """The message clients receive, as documented in the README."""
    return {
        "type": "price.changed",
        "sku": change.sku,
        # An off-sale product has no price to show.
        "price": (
            None
            if change.source == PriceChange.Source.DEACTIVATED
            else format_amount(change.price, change.currency)
        ),
        "currency": change.currency,
        "previous_price": (
            format_amount(change.previous_price, change.currency)
            if change.previous_price is not None
            else None
        ),
        "source": change.source,
        "experiment": change.experiment or None,
        "version": change.version,
        "changed_at": change.changed_at.isoformat().replace("+00:00", "Z"),
    }


def _broadcast(tenant_id: int, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(group_name(tenant_id), {"type": "price.changed", "event": event})
    except Exception:
        # The change is committed and in the log; clients catch up by version on reconnect.
        # Throttled: with the channel layer's Redis down, every change would add a traceback.
        warn_throttled(
            logger,
            "live-broadcast",
            "could not broadcast price change %s of tenant %s",
            event["version"],
            tenant_id,
            exc_info=True,
        )


def price_changed(
    *, product: Product, price: Decimal, previous_price: Decimal | None, source: str, experiment: str = ""
) -> PriceChange:
    """Record a change of what visitors are quoted, and announce it after commit."""
    assert transaction.get_connection().in_atomic_block, (
        "price_changed must run inside the change's transaction"
    )
    tenants = Tenant.objects.filter(pk=product.tenant_id)
    tenants.update(price_version=F("price_version") + 1)
    version = tenants.values_list("price_version", flat=True).get()
    change = PriceChange.objects.create(
        tenant_id=product.tenant_id,
        version=version,
        product=product,
        sku=product.sku,
        price=price,
        previous_price=previous_price,
        currency=product.currency,
        source=source,
        experiment=experiment,
    )
    event = event_of(change)
    # Webhook deliveries are written in this transaction: a committed change is owed.
    webhooks.event_enqueue(tenant_id=product.tenant_id, event_type="price.changed", data=event)
    transaction.on_commit(functools.partial(_broadcast, product.tenant_id, event))
    return change


def access_withdrawn(
    tenant_id: int, *, api_key_id: int | None = None, user_id: int | None = None, reason: str
) -> None:
    """Close the tenant's live connections that stand on a revoked key or on a person who
    left the team (or all of them, when the tenant itself was suspended). Called after commit."""
    message = {"type": "access.withdrawn", "api_key_id": api_key_id, "user_id": user_id, "reason": reason}
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(tenant_id), message)
    except Exception:
        logger.exception("could not tell live connections of tenant %s that access ended", tenant_id)


def withdrawal_applies(message: dict[str, Any], *, api_key_id: int | None, user_id: int | None) -> bool:
    """Whether an ``access.withdrawn`` message ends a connection that stands on this key or person."""
    if message.get("user_id") is not None:
        return message["user_id"] == user_id
    return message["api_key_id"] is None or message["api_key_id"] == api_key_id


def changes_since(*, tenant_id: int, version: int, skus: set[str] | None = None) -> list[PriceChange]:
    """What a client that saw ``version`` missed, oldest first (at most REPLAY_LIMIT)."""
    changes = PriceChange.objects.for_tenant(tenant_id).filter(version__gt=version)
    if skus:
        changes = changes.filter(sku__in=skus)
    return list(changes.order_by("version")[:REPLAY_LIMIT])


def feed_start(tenant_id: int, since: int | None, skus: set[str] | None) -> tuple[int, list[dict[str, Any]]]:
    """A new subscriber's current version and, if it gave one, the events since its version."""
    version = Tenant.objects.filter(pk=tenant_id).values_list("price_version", flat=True).get()
    missed = changes_since(tenant_id=tenant_id, version=since, skus=skus) if since is not None else []
    return version, [event_of(change) for change in missed]
