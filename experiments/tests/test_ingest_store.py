"""How a batch reaches the tables: each event once, whatever else is in flight."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from experiments import exposures, ingest, services
from experiments.models import Conversion, Exposure, Variant
from experiments.tests.conftest import TEA, VARIANTS
from pricing import services as pricing_services

pytestmark = pytest.mark.django_db


def batch(prefix: str, n: int = 20) -> list[dict]:
    events = [{"type": "exposure", "visitor_id": f"{prefix}{i}", "experiment": "tea-price"} for i in range(n)]
    events += [
        {
            "type": "conversion",
            "visitor_id": f"{prefix}{i}",
            "experiment": "tea-price",
            "revenue": "12.00",
            "idempotency_key": f"order-{prefix}{i}",
        }
        for i in range(n)
    ]
    return events


@pytest.fixture
def running(experiment):
    return services.experiment_start(experiment=experiment)


def test_two_batches_in_one_transaction_each_store_their_own_events(alice, running):
    with transaction.atomic():
        first = ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a"))
        second = ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("b"))
    assert (first.accepted, first.duplicates, second.accepted, second.duplicates) == (40, 0, 40, 0)
    assert Exposure.objects.for_tenant(alice.tenant).count() == 40
    assert Conversion.objects.for_tenant(alice.tenant).count() == 40


def test_a_batch_sent_again_is_all_duplicates(alice, running):
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a"))
    again = ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a") + batch("c", 2))
    assert (again.accepted, again.duplicates, again.rejected) == (4, 40, [])
    assert Conversion.objects.for_tenant(alice.tenant).count() == 22


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_is_stored_once(alice, experiment):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    services.experiment_start(experiment=experiment)
    start = threading.Barrier(4)
    results = []

    def send() -> None:
        try:
            start.wait()
            results.append(ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("same", 200)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.accepted for r in results) == 400
    assert sum(r.duplicates for r in results) == 3 * 400
    assert Exposure.objects.for_tenant(alice.tenant).count() == 200
    assert Conversion.objects.for_tenant(alice.tenant).count() == 200


def _carried(tenant) -> dict[str, tuple]:
    return {
        c.visitor_id: (c.variant_id, c.exposed_at)
        for c in Conversion.objects.for_tenant(tenant).order_by("visitor_id")
    }


def _exposures(tenant) -> dict[str, tuple]:
    return {e.visitor_id: (e.variant_id, e.exposed_at) for e in Exposure.objects.for_tenant(tenant)}


def test_a_conversion_stored_after_its_exposure_carries_it(alice, running):
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 5)[:5])  # exposures
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 5)[5:])  # conversions
    ingest.events_ingest(
        tenant_id=alice.tenant.pk,
        events=[{"type": "conversion", "visitor_id": "stranger", "experiment": "tea-price", "revenue": "3"}],
    )
    carried = _carried(alice.tenant)
    assert carried.pop("stranger") == (None, None)
    assert carried == _exposures(alice.tenant)
    assert len(carried) == 5 and all(variant for variant, _ in carried.values())


def test_an_exposure_stored_after_the_conversion_is_copied_onto_it(alice, running):
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 5)[5:])  # conversions first
    assert set(_carried(alice.tenant).values()) == {(None, None)}
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 5)[:5])
    assert _carried(alice.tenant) == _exposures(alice.tenant)


def test_a_buffered_exposure_flushed_after_the_conversion_is_copied_onto_it(alice, running):
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=running).first()
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("q", 3)[3:])
    at = timezone.now()
    exposures.record(
        [
            exposures.encode(tenant_id=alice.tenant.pk, experiment_id=running.pk, phase=running.phase,
                             variant_id=variant.pk, visitor_id=f"q{i}", at=at)
            for i in range(2)
        ]
    )  # fmt: skip
    exposures.flush()
    assert _carried(alice.tenant) == {"q0": (variant.pk, at), "q1": (variant.pk, at), "q2": (None, None)}


def test_another_tenants_exposure_is_never_copied(alice, charlie, running):
    """Same experiment key, same visitor ids, another workspace: nothing crosses over."""
    tea = pricing_services.product_create(tenant=charlie.tenant, **TEA)
    theirs = services.experiment_create(
        tenant=charlie.tenant, product=tea, key="tea-price", name="Tea price", variants=VARIANTS
    )
    services.experiment_start(experiment=theirs)
    ingest.events_ingest(tenant_id=charlie.tenant.pk, events=batch("a", 3)[:3])
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 3)[3:])
    assert set(_carried(alice.tenant).values()) == {(None, None)}
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 3)[:3])
    assert _carried(alice.tenant) == _exposures(alice.tenant)
    assert {v for v, _ in _carried(alice.tenant).values()}.isdisjoint(
        {v for v, _ in _exposures(charlie.tenant).values()}
    )
