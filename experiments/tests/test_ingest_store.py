"""How a batch reaches the tables: each event once, whatever else is in flight."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from experiments import exposures, ingest, selectors, services
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


def test_a_conversion_stored_before_its_exposure_still_counts_for_the_variant(alice, running):
    """Purchases reported before the exposures (late exposure events, or the buffer not yet
    flushed) carry no copy; results look each one up."""
    seen, bought = timezone.now() - timedelta(minutes=10), timezone.now()
    visitors = [f"a{i}" for i in range(5)]
    purchases = [
        {"type": "conversion", "visitor_id": v, "experiment": "tea-price", "revenue": "12.00",
         "timestamp": bought.isoformat()}
        for v in [*visitors, "q0", "stranger"]
    ]  # fmt: skip
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=purchases)
    ingest.events_ingest(
        tenant_id=alice.tenant.pk,
        events=[
            {"type": "exposure", "visitor_id": v, "experiment": "tea-price", "timestamp": seen.isoformat()}
            for v in visitors
        ],
    )
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=running).first()
    exposures.record(
        [
            exposures.encode(tenant_id=alice.tenant.pk, experiment_id=running.pk, phase=running.phase,
                             variant_id=variant.pk, visitor_id="q0", at=seen)
        ]
    )  # fmt: skip
    exposures.flush()
    assert set(_carried(alice.tenant).values()) == {(None, None)}
    expected: dict[int, int] = {}
    for exposed_variant, _ in _exposures(alice.tenant).values():
        expected[exposed_variant] = expected.get(exposed_variant, 0) + 1
    totals = selectors.variant_totals(running, running.phase)
    assert {t.variant.pk: t.converters for t in totals if t.converters} == expected
    assert sum(t.converters for t in totals) == 6
    assert sum(t.revenue for t in totals) == 72
    assert selectors.unattributed_conversions(running, running.phase) == 1  # the stranger


def test_another_tenants_exposure_is_never_copied(alice, charlie, running):
    """Same experiment key, same visitor ids, another workspace: nothing crosses over."""
    tea = pricing_services.product_create(tenant=charlie.tenant, **TEA)
    theirs = services.experiment_create(
        tenant=charlie.tenant, product=tea, key="tea-price", name="Tea price", variants=VARIANTS
    )
    services.experiment_start(experiment=theirs)
    ingest.events_ingest(tenant_id=charlie.tenant.pk, events=batch("a", 3)[:3])
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("a", 3)[3:])
    assert set(_carried(alice.tenant).values()) == {(None, None)}  # charlie's exposures are not hers
    ingest.events_ingest(tenant_id=alice.tenant.pk, events=batch("b", 3))
    carried = {v: c for v, c in _carried(alice.tenant).items() if v.startswith("b")}
    assert carried == {v: e for v, e in _exposures(alice.tenant).items() if v.startswith("b")}
    assert {v for v, _ in carried.values()}.isdisjoint({v for v, _ in _exposures(charlie.tenant).values()})
