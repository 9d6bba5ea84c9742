"""The demo traffic simulator, through a real HTTP server."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.services import account_plan_set
from experiments import services
from experiments.tests.conftest import TEA, VARIANTS
from pricing import services as pricing_services
from tenants.models import ApiKey


@pytest.fixture
def live_experiment(transactional_db, alice, django_capture_on_commit_callbacks):
    product = pricing_services.product_create(tenant=alice.tenant, **TEA)
    experiment = services.experiment_create(
        tenant=alice.tenant, product=product, key="tea-price", name="Tea price", variants=VARIANTS
    )
    # A thousand visitors and their purchases are past the Free plan's units and rate.
    account_plan_set(tenant=alice.tenant, plan_code="enterprise")
    return services.experiment_start(experiment=experiment)


def test_simulated_visitors_show_up_in_the_results(live_server, api, alice, live_experiment):
    out = StringIO()
    call_command(
        "simulate_traffic", experiment="tea-price", visitors=1000, base_url=live_server.url,
        rate=0.3, elasticity=3, seed=1, stdout=out,
    )  # fmt: skip
    bought = int(re.search(r"(\d+) bought", out.getvalue()).group(1))
    assert bought > 100
    results = api.get("/api/v1/experiments/tea-price/results/", **alice.auth).json()
    assert sum(v["visitors"] for v in results["variants"]) == 1000
    assert sum(v["conversions"] for v in results["variants"]) == bought
    control, higher = results["variants"]
    # 0.30 against 0.30 * (10/12)^3 = 0.17: the higher price sells less, by several standard errors.
    assert control["conversion_rate"] > higher["conversion_rate"]
    simulator = ApiKey.objects.for_tenant(alice.tenant).get(name="Traffic simulator")
    assert simulator.revoked_at is not None


def test_simulating_a_draft_experiment_is_refused(db, alice):
    product = pricing_services.product_create(tenant=alice.tenant, **TEA)
    services.experiment_create(tenant=alice.tenant, product=product, key="draft", name="d", variants=VARIANTS)
    with pytest.raises(CommandError, match="start it first"):
        call_command("simulate_traffic", experiment="draft", visitors=1)
