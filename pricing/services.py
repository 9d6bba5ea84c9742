"""Writes for products and prices. Every change of a quoted price goes through price_change."""

import functools
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor, actor_for
from audit.services import audit_record, diff, snapshot
from pricing import config, live
from pricing.models import PriceChange, PricePoint, Product
from pricing.money import MoneyError, format_amount, parse_amount
from tenants.models import ApiKey, Tenant, User

# What the audit log keeps of a new product.
_PRODUCT_FIELDS = ("sku", "name", "currency", "base_price", "active")


class PriceLocked(ValidationError):
    """The product's price is under test: changing it would spoil the experiment."""


def _amount(value: Any, currency: str, field: str = "base_price") -> Decimal:
    try:
        return parse_amount(value, currency)
    except MoneyError as error:
        raise ValidationError({field: str(error)}) from None


def _sku_taken(sku: str, taken: str) -> str:
    if sku == taken:
        return f"A product with sku {sku!r} already exists."
    return f"A product with sku {taken!r} already exists; skus differing only in case are the same sku."


@transaction.atomic
def product_create(
    *,
    tenant: Tenant,
    sku: str,
    name: str,
    currency: str,
    base_price: Any,
    active: bool = True,
    source: str = PricePoint.Source.API,
    changed_by: User | None = None,
    api_key_id: int | None = None,
) -> Product:
    """Create a product and the first entry of its price history."""
    currency = currency.upper()
    price = _amount(base_price, currency)
    taken = Product.objects.for_tenant(tenant).filter(sku__iexact=sku).values_list("sku", flat=True).first()
    if taken is not None:
        raise ValidationError({"sku": _sku_taken(sku, taken)})
    try:
        with transaction.atomic():
            product = Product.objects.create(
                tenant=tenant, sku=sku, name=name, currency=currency, base_price=price, active=active
            )
    except IntegrityError:  # created by a concurrent request since the check above
        raise ValidationError({"sku": _sku_taken(sku, sku)}) from None
    PricePoint.objects.create(
        tenant=tenant,
        product=product,
        price=price,
        currency=currency,
        source=source,
        changed_by=changed_by,
        api_key_id=api_key_id,
        note="created",
    )
    audit_record(
        tenant=tenant,
        actor=actor_for(user=changed_by, api_key_id=api_key_id),
        action="product.created",
        target=product,
        after={**snapshot(product, _PRODUCT_FIELDS), "base_price": format_amount(price, currency)},
    )
    if active:
        live.price_changed(
            product=product, price=price, previous_price=None, source=PriceChange.Source.CREATED
        )
    transaction.on_commit(functools.partial(config.bump, tenant.pk))
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    name: str | None = None,
    active: bool | None = None,
    changed_by: User | None = None,
    api_key_id: int | None = None,
) -> Product:
    """Rename a product or take it off sale (an inactive product quotes as unknown)."""
    was_active = product.active
    before = snapshot(product, ("name", "active"))
    if name is not None:
        product.name = name
    if active is not None:
        product.active = active
    product.save(update_fields=["name", "active", "updated_at"])
    old, new = diff(before, snapshot(product, ("name", "active")))
    if new:
        audit_record(
            tenant=product.tenant_id,
            actor=actor_for(user=changed_by, api_key_id=api_key_id),
            action="product.updated",
            target=product,
            before=old,
            after=new,
        )
    if product.active != was_active:
        source = PriceChange.Source.ACTIVATED if product.active else PriceChange.Source.DEACTIVATED
        live.price_changed(
            product=product, price=product.base_price, previous_price=product.base_price, source=source
        )
    transaction.on_commit(functools.partial(config.bump, product.tenant_id))
    return product


@transaction.atomic
def price_change(
    *,
    product: Product,
    price: Any,
    source: str,
    changed_by: User | None = None,
    api_key_id: int | None = None,
    note: str = "",
    experiment: str = "",
    by: Actor | None = None,
) -> PricePoint | None:
    """Set a product's base price and record it in the history. An unchanged price records nothing."""
    new_price = _amount(price, product.currency, field="price")
    locked = Product.objects.for_tenant(product.tenant_id).select_for_update().get(pk=product.pk)
    if source != PricePoint.Source.EXPERIMENT:
        from experiments.models import Experiment  # experiments builds on pricing

        testing = (
            Experiment.objects.for_tenant(product.tenant_id)
            .filter(product_id=product.pk, status__in=(Experiment.Status.RUNNING, Experiment.Status.PAUSED))
            .values_list("key", flat=True)
            .first()
        )
        if testing is not None:
            raise PriceLocked(
                f"Experiment {testing!r} is testing this product's price. Complete it (optionally "
                f"rolling a variant out) before changing the price by hand."
            )
    if locked.base_price == new_price:
        return None
    now = timezone.now()
    previous = locked.base_price
    Product.objects.for_tenant(product.tenant_id).filter(pk=product.pk).update(
        base_price=new_price, updated_at=now
    )
    product.base_price = new_price
    point = PricePoint.objects.create(
        tenant_id=product.tenant_id,
        product=product,
        price=new_price,
        currency=product.currency,
        valid_from=now,
        source=source,
        changed_by=changed_by,
        api_key=ApiKey(pk=api_key_id) if api_key_id else None,
        note=note,
    )
    audit_record(
        tenant=product.tenant_id,
        actor=actor_for(by=by, user=changed_by, api_key_id=api_key_id),
        action="price.changed",
        target=product,
        # In the currency's own decimals, as the API shows prices.
        before={"base_price": format_amount(previous, product.currency)},
        after={"base_price": format_amount(new_price, product.currency)},
    )
    live.price_changed(
        product=product, price=new_price, previous_price=previous, source=source, experiment=experiment
    )
    transaction.on_commit(functools.partial(config.bump, product.tenant_id))
    return point
