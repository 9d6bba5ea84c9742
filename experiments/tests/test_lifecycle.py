from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from experiments import services
from experiments.models import Experiment, Phase
from experiments.tests.conftest import VARIANTS
from pricing.models import PricePoint, Product

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        (VARIANTS[:1], "2 to 10 variants"),
        ([{**VARIANTS[0]}, {**VARIANTS[1], "is_control": True}], "Exactly one variant"),
        ([VARIANTS[0], {**VARIANTS[1], "weight": "0.4"}], "add up to 1"),
        ([VARIANTS[0], {**VARIANTS[1], "key": "control"}], "unique"),
        ([VARIANTS[0], {**VARIANTS[1], "price": "12.001"}], "decimal places"),
    ],
)
def test_bad_designs_are_refused(alice, product, variants, message):
    with pytest.raises(ValidationError, match=message):
        services.experiment_create(tenant=alice.tenant, product=product, key="x", name="x", variants=variants)
    assert not Experiment.objects.for_tenant(alice.tenant).exists()


def test_seed_defaults_to_the_key(experiment):
    assert experiment.seed == "tea-price"
    assert experiment.status == Experiment.Status.DRAFT


def test_lifecycle_draft_running_paused_completed_archived(experiment):
    services.experiment_start(experiment=experiment)
    experiment.refresh_from_db()
    assert (experiment.status, experiment.phase) == ("running", 1)
    services.experiment_pause(experiment=experiment)
    services.experiment_start(experiment=experiment)  # resume keeps the phase
    experiment.refresh_from_db()
    assert (experiment.status, experiment.phase) == ("running", 1)
    services.experiment_complete(experiment=experiment)
    services.experiment_archive(experiment=experiment)
    experiment.refresh_from_db()
    assert experiment.status == "archived"
    with pytest.raises(services.TransitionError):
        services.experiment_start(experiment=experiment)


def test_only_one_running_experiment_per_product(alice, product, experiment):
    other = services.experiment_create(
        tenant=alice.tenant, product=product, key="other", name="Other", variants=VARIANTS
    )
    services.experiment_start(experiment=experiment)
    with pytest.raises(services.TransitionError, match="already running"):
        services.experiment_start(experiment=other)


def test_variants_are_frozen_while_running_and_a_new_phase_starts_afresh(experiment):
    services.experiment_start(experiment=experiment)
    changed = [VARIANTS[0], {**VARIANTS[1], "price": "13.00"}]
    with pytest.raises(ValidationError, match="frozen"):
        services.experiment_update(experiment=experiment, variants=changed)
    services.experiment_update(experiment=experiment, name="Renamed")  # harmless while running
    services.experiment_update(experiment=experiment, variants=changed, new_phase_reason="price 13")
    experiment.refresh_from_db()
    assert experiment.phase == 2
    phases = list(Phase.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment))
    assert [p.number for p in phases] == [1, 2]
    assert phases[0].ended_at is not None and phases[1].reason == "price 13"
    assert phases[1].variants[1]["price"] == "13.00"


def test_completing_with_a_winner_rolls_its_price_out(alice, product, experiment):
    services.experiment_start(experiment=experiment)
    services.experiment_complete(experiment=experiment, winner_key="higher")
    product = Product.objects.for_tenant(alice.tenant).get(pk=product.pk)
    assert product.base_price == Decimal("12.00")
    latest = PricePoint.objects.for_tenant(alice.tenant).filter(product=product).latest("valid_from")
    assert latest.source == PricePoint.Source.EXPERIMENT
    assert "higher" in latest.note


def test_completing_without_rollout_keeps_the_price(alice, product, experiment):
    services.experiment_start(experiment=experiment)
    services.experiment_complete(experiment=experiment, winner_key="higher", rollout=False)
    assert Product.objects.for_tenant(alice.tenant).get(pk=product.pk).base_price == Decimal("10.00")
