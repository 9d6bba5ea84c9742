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


def test_the_rollup_recounts_each_month_in_one_pass_and_rewrites_only_what_changed(alice, charlie):
    from datetime import date

    from billing.models import UsageMonthly
    from billing.services import usage_rollup

    october, november = date(2026, 10, 1), date(2026, 11, 1)
    days = [
        (alice.tenant, date(2026, 9, 30), "quote", 1000),  # outside both months
        (alice.tenant, date(2026, 10, 1), "quote", 3),
        (alice.tenant, date(2026, 10, 31), "quote", 4),
        (alice.tenant, date(2026, 11, 1), "quote", 5),
        (alice.tenant, date(2026, 11, 30), "event", 6),
        (charlie.tenant, date(2026, 11, 15), "quote", 7),
    ]
    for tenant, day, kind, units in days:
        UsageDaily.objects.create(tenant=tenant, day=day, kind=kind, units=units)

    def monthly():
        return {
            (row.tenant_id, row.month, row.kind): (row.units, row.rolled_up_at)
            for row in UsageMonthly.objects.unscoped().all()
        }

    assert usage_rollup(months=[october, november]) == 4
    first = monthly()
    assert {key: units for key, (units, _) in first.items()} == {
        (alice.tenant.pk, october, "quote"): 7,
        (alice.tenant.pk, november, "quote"): 5,
        (alice.tenant.pk, november, "event"): 6,
        (charlie.tenant.pk, november, "quote"): 7,
    }
    assert usage_rollup(months=[october, november]) == 0  # nothing changed: nothing written
    assert monthly() == first
    UsageDaily.objects.for_tenant(alice.tenant).filter(day=date(2026, 11, 1)).update(units=9)
    assert usage_rollup(months=[november, october]) == 1
    after = monthly()
    assert after[(alice.tenant.pk, november, "quote")][0] == 9
    assert {k: v for k, v in after.items() if k != (alice.tenant.pk, november, "quote")} == {
        k: v for k, v in first.items() if k != (alice.tenant.pk, november, "quote")
    }


def test_the_rollup_counts_only_the_months_asked_for_even_apart(alice):
    from datetime import date

    from billing.models import UsageMonthly
    from billing.services import usage_rollup

    for day, units in ((date(2026, 8, 31), 1), (date(2026, 9, 15), 20), (date(2026, 11, 2), 300)):
        UsageDaily.objects.create(tenant=alice.tenant, day=day, kind="quote", units=units)
    assert usage_rollup(months=[date(2026, 11, 1), date(2026, 8, 1)]) == 2
    assert dict(UsageMonthly.objects.for_tenant(alice.tenant).values_list("month", "units")) == {
        date(2026, 8, 1): 1,
        date(2026, 11, 1): 300,
    }  # September lies between the two and is not counted


def test_on_postgresql_the_unique_usage_index_carries_the_units():
    """What the rollup's index-only reads rely on (migration billing 0007): the model does
    not say it, so a later migration could drop it unnoticed."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no covering indexes")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'usage_tenant_day_kind_unique'")
        (definition,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'billing_usagedaily' AND indexname <> %s",
            ["billing_usagedaily_pkey"],
        )
        (indexes,) = cursor.fetchone()
    assert "UNIQUE" in definition and definition.endswith("(tenant_id, day, kind) INCLUDE (units)")
    assert indexes == 1  # no second index on tenant_id to lure the planner away
