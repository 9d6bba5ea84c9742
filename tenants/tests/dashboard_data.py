"""Rows the dashboard shows, made the way the product makes them (services), with traffic
written straight into the results tables for speed. Shared by the page and browser tests."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from billing.models import UsageDaily
from experiments import services as experiment_services
from experiments.models import Conversion, Experiment, Exposure, Variant
from pricing import services as pricing_services
from pricing.models import Product
from tenants.models import Tenant

VARIANTS = [
    {"key": "control", "name": "Control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "name": "Higher price", "price": "12.00", "weight": "0.5"},
]


def product(tenant: Tenant, sku: str, price: str, name: str | None = None, currency: str = "EUR") -> Product:
    return pricing_services.product_create(
        tenant=tenant, sku=sku, name=name or sku.title(), currency=currency, base_price=price
    )


def traffic(experiment: Experiment, split: dict[str, tuple[int, int]]) -> None:
    """Visitors and buyers per variant key, in the experiment's current phase."""
    tenant_id = experiment.tenant_id
    variants = {v.key: v for v in Variant.objects.for_tenant(tenant_id).filter(experiment=experiment)}
    seen = timezone.now() - timedelta(hours=1)
    exposures, conversions = [], []
    for key, (visitors, buyers) in split.items():
        variant = variants[key]
        for i in range(visitors):
            visitor = f"{experiment.key}-{key}-{i}"
            exposures.append(
                Exposure(
                    tenant_id=tenant_id, experiment=experiment, phase=experiment.phase,
                    variant=variant, visitor_id=visitor, exposed_at=seen,
                )
            )  # fmt: skip
            if i < buyers:
                conversions.append(
                    Conversion(
                        tenant_id=tenant_id, experiment=experiment, product_id=experiment.product_id,
                        phase=experiment.phase, visitor_id=visitor, revenue=variant.price,
                    )
                )  # fmt: skip
    Exposure.objects.bulk_create(exposures)
    Conversion.objects.bulk_create(conversions)


def running_experiment(
    tenant: Tenant,
    prod: Product,
    key: str,
    name: str,
    split: dict[str, tuple[int, int]],
    target: int | None = 400,
    variants: list[dict] = VARIANTS,
) -> Experiment:
    """An experiment started on ``prod``, with ``split`` visitors and buyers per variant."""
    experiment = experiment_services.experiment_create(
        tenant=tenant, product=prod, key=key, name=name, variants=variants, target_sample_size=target
    )
    experiment = experiment_services.experiment_start(experiment=experiment)
    traffic(experiment, split)
    return experiment


def usage(tenant: Tenant, *, quotes: int, events: int) -> None:
    """Units metered today (UTC), as the flush writes them."""
    today = datetime.now(UTC).date()
    UsageDaily.objects.create(tenant=tenant, day=today, kind="quote", units=quotes)
    UsageDaily.objects.create(tenant=tenant, day=today, kind="event", units=events)
