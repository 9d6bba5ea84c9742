"""Rows the dashboard shows, made the way the product makes them (services), with traffic
written straight into the results tables for speed. Shared by the page and browser tests."""

from datetime import UTC, datetime

from billing.models import UsageDaily
from experiments import services as experiment_services
from experiments.models import Experiment
from experiments.tests.traffic import traffic_seed
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
    traffic_seed(experiment, {key: (visitors, buyers, None) for key, (visitors, buyers) in split.items()})


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
