"""How a batch reaches the tables: each event once, whatever else is in flight."""

import threading

import pytest
from django.db import connection, connections, transaction

from experiments import ingest, services
from experiments.models import Conversion, Exposure

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
