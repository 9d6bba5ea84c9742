"""Benchmark tenants: built through the product's own services, as a customer's would be."""

import secrets
from dataclasses import dataclass

# High enough that no benchmark is refused, low enough to be real limits that every
# request is checked against (a tenant without limits would skip that work).
BENCH_REQUESTS_PER_MINUTE = 1_000_000_000
BENCH_MONTHLY_UNITS = 2_000_000_000


@dataclass(frozen=True)
class BenchTenant:
    tenant_id: int
    secret: str  # the API key
    skus: list[str]
    experiment_keys: list[str]


def tenant_create(
    *, products: int = 1, experiments: int = 1, scopes: tuple[str, ...] = ("read",)
) -> BenchTenant:
    """A fresh tenant on Starter (quota enforced, no overage) with limits no benchmark reaches,
    ``products`` products of which the first ``experiments`` run a two-variant price test."""
    from billing.models import BillingAccount, Plan
    from experiments import services as experiment_services
    from pricing import services as pricing_services
    from tenants import services as tenant_services

    run = secrets.token_hex(4)
    owner = tenant_services.user_create(email=f"bench-{run}@pricelab.local", password=None)
    tenant = tenant_services.tenant_create(name=f"Bench {run}", owner=owner)
    account = BillingAccount.objects.for_tenant(tenant).get()
    account.plan = Plan.objects.get(code="starter")
    account.requests_per_minute_override = BENCH_REQUESTS_PER_MINUTE
    account.monthly_units_override = BENCH_MONTHLY_UNITS
    account.override_reason = "benchmark tenant"
    account.save()
    skus, keys = [], []
    for index in range(products):
        product = pricing_services.product_create(
            tenant=tenant,
            sku=f"bench-{index}",
            name=f"Bench product {index}",
            currency="EUR",
            base_price="10.00",
        )
        skus.append(product.sku)
        if index < experiments:
            experiment = experiment_services.experiment_create(
                tenant=tenant,
                product=product,
                key=f"bench-test-{index}",
                name=f"Bench test {index}",
                variants=[
                    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
                    {"key": "higher", "price": "12.00", "weight": "0.5"},
                ],
            )
            experiment_services.experiment_start(experiment=experiment)
            keys.append(experiment.key)
    _, secret = tenant_services.api_key_create(tenant=tenant, name="bench", scopes=scopes)
    return BenchTenant(tenant_id=tenant.pk, secret=secret, skus=skus, experiment_keys=keys)
