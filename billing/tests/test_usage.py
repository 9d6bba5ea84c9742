import pytest

from billing import metering
from billing.models import UsageDaily
from pricing import services as pricing_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(alice):
    return pricing_services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="1"
    )


def usage(api, party):
    response = api.get("/api/v1/usage/", **party.auth)
    assert response.status_code == 200
    return response.json()


def test_quotes_and_accepted_events_are_metered_per_type(api, alice, tea):
    for visitor in ("a", "b", "c"):
        api.post("/api/v1/quote/", {"visitor_id": visitor, "products": ["tea", "ghost"]}, **alice.auth)
    api.get("/api/v1/quote/", {"visitor_id": "d", "product": "tea"}, **alice.auth)
    events = [{"type": "conversion", "visitor_id": "a", "product": "tea"}, {"type": "nonsense"}]
    api.post("/api/v1/events/", {"events": events}, **alice.auth)
    body = usage(api, alice)
    assert body["by_type"] == {"quote": 4, "event": 1}  # one per quote request; rejected events are free
    assert (body["used"], body["limit"], body["remaining"], body["plan"]) == (5, 1000, 995, "free")


def test_a_flush_moves_units_once_and_usage_reads_the_same(api, alice, tea):
    for _ in range(3):
        api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **alice.auth)
    before = usage(api, alice)["used"]
    assert metering.flush() == 3
    assert metering.flush() == 0  # nothing is counted twice
    assert UsageDaily.objects.for_tenant(alice.tenant).get(kind="quote").units == 3
    assert usage(api, alice)["used"] == before == 3


def test_units_survive_a_failed_flush(api, alice, tea, monkeypatch, settings):
    if not settings.REDIS_URL:
        pytest.skip("with Redis the counters outlive the flush; embedded ones live in the process")
    api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **alice.auth)

    def database_down(counts):
        raise RuntimeError("database unreachable")

    real_add = metering._add
    monkeypatch.setattr(metering, "_add", database_down)
    with pytest.raises(RuntimeError):
        metering.flush()
    monkeypatch.setattr(metering, "_add", real_add)
    assert metering.flush() == 1
    assert UsageDaily.objects.for_tenant(alice.tenant).get(kind="quote").units == 1


def test_usage_is_per_tenant(api, alice, charlie, tea):
    api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **alice.auth)
    metering.flush()
    api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **alice.auth)
    assert usage(api, charlie)["used"] == 0
    assert usage(api, alice)["used"] == 2


def test_units_of_a_deleted_tenant_do_not_block_everyone_elses_flush(api, alice, charlie, tea):
    api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **alice.auth)
    metering.record(tenant_id=charlie.tenant.pk, kind=UsageDaily.Kind.QUOTE, units=2)
    charlie.tenant.delete()  # between Charlie's last request and the flush
    metering.flush()
    assert UsageDaily.objects.for_tenant(alice.tenant).get(kind="quote").units == 1
    api.post("/api/v1/quote/", {"visitor_id": "w", "products": ["tea"]}, **alice.auth)
    metering.flush()  # and the next flush is not stuck on Charlie's units either
    assert UsageDaily.objects.for_tenant(alice.tenant).get(kind="quote").units == 2


def test_the_hourly_rollup_forgets_flush_batches_older_than_a_week(alice):
    from datetime import timedelta

    from django.utils import timezone

    from billing.models import UsageFlush
    from billing.services import usage_rollup

    now = timezone.now()
    UsageFlush.objects.create(
        batch="old", applied_at=now - timedelta(days=metering.FLUSH_RECORD_DAYS, hours=1)
    )
    UsageFlush.objects.create(batch="recent", applied_at=now - timedelta(days=1))
    usage_rollup()
    assert set(UsageFlush.objects.values_list("batch", flat=True)) >= {"recent"}
    assert not UsageFlush.objects.filter(batch="old").exists()
