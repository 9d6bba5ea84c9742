import pytest

from experiments import services
from pricing import services as pricing_services

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}
VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


@pytest.fixture
def product(alice):
    return pricing_services.product_create(tenant=alice.tenant, **TEA)


@pytest.fixture
def experiment(alice, product):
    return services.experiment_create(
        tenant=alice.tenant, product=product, key="tea-price", name="Tea price", variants=VARIANTS
    )
