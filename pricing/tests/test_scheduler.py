from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from experiments import services as experiment_services
from experiments.models import Experiment
from pricing import services, webhooks
from pricing.management.commands import run_scheduler
from pricing.models import PricePoint, WebhookDelivery

pytestmark = pytest.mark.django_db

VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


class _OnePass(Exception):
    pass


def test_one_pass_pauses_finished_experiments_and_sends_owed_webhooks(alice, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    tea = services.product_create(tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10")
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=tea, key="t", name="t", variants=VARIANTS,
        end_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip
    webhooks.endpoint_create(
        tenant=alice.tenant, url="http://127.0.0.1:1/down", event_types=["price.changed"]
    )
    experiment_services.experiment_start(experiment=experiment)

    def stop(seconds):
        raise _OnePass

    monkeypatch.setattr(run_scheduler.time, "sleep", stop)
    with pytest.raises(_OnePass):
        call_command("run_scheduler")
    assert Experiment.objects.for_tenant(alice.tenant).get().status == "paused"
    delivery = (
        WebhookDelivery.objects.for_tenant(alice.tenant)
        .filter(payload__data__source="experiment_started")
        .get()
    )
    assert delivery.attempts == 1  # tried (the receiver is down), and scheduled again
    assert PricePoint.objects.for_tenant(alice.tenant).count() == 1


def test_the_scheduler_leaves_the_work_to_beat_when_a_broker_exists(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with pytest.raises(CommandError, match="beat"):
        call_command("run_scheduler")
