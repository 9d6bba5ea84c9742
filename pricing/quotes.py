"""The quote: which price a visitor sees for each product.

Warm, it reads two things from the cache (the tenant's config version and the entries
of the requested skus), assigns the visitor with a pure function, and appends exposures
to the buffer: no database query. Cold entries are built from the database once per
config version. ``pricing.hotpath`` does the same warm quote in one Redis round trip.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from config.logs import warn_throttled
from experiments import exposures
from experiments.assignment import assign
from experiments.models import Experiment, Variant
from pricing import config
from pricing.models import Product
from pricing.money import format_amount

logger = logging.getLogger(__name__)

_UNKNOWN = {"unknown": True}


def _entry(product: Product, experiment: Experiment | None, variants: list[Variant]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "price": format_amount(product.base_price, product.currency),
        "currency": product.currency,
        "experiment": None,
    }
    if experiment is not None and variants:
        entry["experiment"] = {
            "id": experiment.pk,
            "key": experiment.key,
            "seed": experiment.seed,
            "coverage": float(experiment.coverage),
            "hash_version": experiment.hash_version,
            "phase": experiment.phase,
            "variants": [
                {
                    "id": v.pk,
                    "key": v.key,
                    "weight": float(v.weight),
                    "price": format_amount(v.price, product.currency),
                }
                for v in variants
            ],
        }
    return entry


def _load(tenant_id: int, skus: list[str]) -> dict[str, dict[str, Any]]:
    products = {p.sku: p for p in Product.objects.for_tenant(tenant_id).filter(sku__in=skus, active=True)}
    running = {
        e.product_id: e
        for e in Experiment.objects.for_tenant(tenant_id).filter(
            product__in=products.values(), status=Experiment.Status.RUNNING
        )
    }
    variants: dict[int, list[Variant]] = {}
    for v in (
        Variant.objects.for_tenant(tenant_id)
        .filter(experiment__in=running.values(), active=True)
        .order_by("position")
    ):
        variants.setdefault(v.experiment_id, []).append(v)
    entries = {}
    for sku in skus:
        product = products.get(sku)
        if product is None:
            entries[sku] = _UNKNOWN
            continue
        experiment = running.get(product.pk)
        entries[sku] = _entry(product, experiment, variants.get(experiment.pk, []) if experiment else [])
    return entries


@dataclass(frozen=True)
class QuoteItem:
    sku: str
    price: str | None = None
    currency: str | None = None
    experiment: str | None = None
    variant: str | None = None
    error: str | None = None


def entries_read(*, tenant_id: int, skus: list[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """The config version token and the entries of these skus: from the cache, else built."""
    try:
        token = config.version(tenant_id)
        keys = {sku: config.entry_key(tenant_id, token, sku) for sku in dict.fromkeys(skus)}
        cached = cache.get_many(list(keys.values()))
    except RedisError:
        # Redis is down: PostgreSQL has the current config, at a few queries a quote. The
        # process's own copy (pricing.config.local_read) is not used: nothing can tell it
        # whether a price changed meanwhile.
        warn_throttled(
            logger, "quote-config", "quote config read from the database: the cache is unreachable"
        )
        return config.UNCACHED_TOKEN, _load(tenant_id, list(dict.fromkeys(skus)))
    entries = {sku: cached[key] for sku, key in keys.items() if key in cached}
    missing = [sku for sku in keys if sku not in entries]
    if missing:
        loaded = _load(tenant_id, missing)
        try:
            cache.set_many({keys[sku]: entry for sku, entry in loaded.items()}, config.CONFIG_TTL_SECONDS)
        except RedisError:
            warn_throttled(logger, "quote-config-store", "quote config not cached: the cache is unreachable")
        entries.update(loaded)
    return token, entries


def price(
    *,
    tenant_id: int,
    entries: dict[str, dict[str, Any]],
    visitor_id: str,
    skus: list[str],
    track: bool = True,
    experiments: bool = True,
) -> tuple[list[QuoteItem], list[str]]:
    """Prices for one visitor from config entries, and the exposure lines to buffer (pure)."""
    now = timezone.now()
    items, lines = [], []
    for sku in skus:
        entry = entries[sku]
        if entry.get("unknown"):
            items.append(QuoteItem(sku=sku, error="unknown_product"))
            continue
        experiment = entry["experiment"] if experiments else None
        if experiment is None:
            items.append(QuoteItem(sku=sku, price=entry["price"], currency=entry["currency"]))
            continue
        variants = experiment["variants"]
        assignment = assign(
            visitor_id=visitor_id,
            seed=experiment["seed"],
            weights=[v["weight"] for v in variants],
            coverage=experiment["coverage"],
            hash_version=experiment["hash_version"],
        )
        if not assignment.in_experiment:
            items.append(QuoteItem(sku=sku, price=entry["price"], currency=entry["currency"]))
            continue
        variant = variants[assignment.variation]
        items.append(
            QuoteItem(
                sku=sku,
                price=variant["price"],
                currency=entry["currency"],
                experiment=experiment["key"],
                variant=variant["key"],
            )
        )
        if track:
            lines.append(
                exposures.encode(
                    tenant_id=tenant_id,
                    experiment_id=experiment["id"],
                    phase=experiment["phase"],
                    variant_id=variant["id"],
                    visitor_id=visitor_id,
                    at=now,
                )
            )
    return items, lines


def quote(
    *, tenant_id: int, visitor_id: str, skus: list[str], track: bool = True, experiments: bool = True
) -> list[QuoteItem]:
    """Prices for one visitor, in the order asked; records first exposures unless ``track`` is off.

    With ``experiments`` off (a tenant over its quota) every product gets its base price and
    nothing is recorded.
    """
    _, entries = entries_read(tenant_id=tenant_id, skus=skus)
    items, lines = price(
        tenant_id=tenant_id,
        entries=entries,
        visitor_id=visitor_id,
        skus=skus,
        track=track,
        experiments=experiments,
    )
    exposures.record(lines)
    return items
