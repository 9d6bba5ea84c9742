"""The warm quote in one Redis round trip (pricing.hotpath) answers as the regular path does.

Each web process keeps copies of key records and config entries; these tests change what the
copies describe (revoke, suspend, upgrade, price edit, quota) and check that the very next
quote sees it, as it did when every request read Redis afresh.
"""

import json
import logging
import random
import string
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from billing import metering, ratelimit
from billing.models import BillingAccount
from billing.services import account_plan_set
from experiments import exposures
from experiments import services as experiment_services
from experiments.assignment import assign
from pricing import api, hotpath
from pricing import services as pricing_services
from pricing.middleware import QuoteShortcutMiddleware
from tenants import services as tenant_services

pytestmark = pytest.mark.django_db

VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


@pytest.fixture(autouse=True)
def _needs_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("the one-round-trip quote needs Redis")


@pytest.fixture
def tea(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product = pricing_services.product_create(
            tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
        )
        experiment = experiment_services.experiment_create(
            tenant=alice.tenant, product=product, key="tea-price", name="Tea price", variants=VARIANTS
        )
        experiment_services.experiment_start(experiment=experiment)
    return product


def quote(api_client, party, visitor="ada", **headers):
    return api_client.post(
        "/api/v1/quote/", {"visitor_id": visitor, "products": ["tea"]}, format="json", **party.auth, **headers
    )


class RoundTrips:
    """Counts what the process sends to Redis (a pipeline or a script is one send)."""

    def __init__(self, monkeypatch):
        self.count = 0
        real = Connection.send_packed_command

        def counting(connection, command, check_health=True):
            self.count += 1
            return real(connection, command, check_health)

        monkeypatch.setattr(Connection, "send_packed_command", counting)


def test_a_warm_quote_is_one_redis_round_trip(api, alice, tea, monkeypatch):
    quote(api, alice, "warm-up")
    trips = RoundTrips(monkeypatch)
    response = quote(api, alice, "ada")
    assert response.status_code == 200
    assert response.json()["items"][0]["experiment"] == "tea-price"
    assert trips.count == 1
    assert response["X-RateLimit-Remaining"] == "58"


def test_the_quote_path_constant_is_the_quote_url():
    assert reverse("api-quote") == ratelimit.QUOTE_PATH


def test_one_round_trip_counts_the_unit_and_buffers_the_exposure(api, alice, tea):
    quote(api, alice, "warm-up")
    before, buffered = metering.month_total(tenant_id=alice.tenant.pk), exposures.pending()
    assert quote(api, alice, "ada").status_code == 200
    assert metering.month_total(tenant_id=alice.tenant.pk) == before + 1
    assert exposures.pending() == buffered + 1


def test_untracked_quotes_buffer_nothing(api, alice, tea):
    quote(api, alice, "warm-up")
    buffered = exposures.pending()
    body = {"visitor_id": "ada", "products": ["tea"], "track": False}
    assert api.post("/api/v1/quote/", body, format="json", **alice.auth).status_code == 200
    assert exposures.pending() == buffered


def test_a_key_revoked_elsewhere_is_refused_on_the_next_quote(
    api, alice, tea, django_capture_on_commit_callbacks
):
    assert quote(api, alice).status_code == 200  # this process now holds the key's record
    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.api_key_revoke(api_key=alice.key)
    refused = quote(api, alice)
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_revoked")


def test_a_suspended_tenant_is_refused_on_the_next_quote(api, alice, tea, django_capture_on_commit_callbacks):
    assert quote(api, alice).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.tenant_suspend(tenant=alice.tenant)
    refused = quote(api, alice)
    assert (refused.status_code, refused.json()["code"]) == (403, "tenant_suspended")
    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.tenant_reactivate(tenant=alice.tenant)
    assert quote(api, alice).status_code == 200


def test_an_upgrade_applies_to_the_next_quote(api, alice, tea, django_capture_on_commit_callbacks):
    assert quote(api, alice)["X-RateLimit-Limit"] == "60"
    with django_capture_on_commit_callbacks(execute=True):
        account_plan_set(tenant=alice.tenant, plan_code="pro")
    response = quote(api, alice)
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("300", "299")


def test_a_move_to_a_plan_without_a_rate_limit_applies_to_the_next_quote(
    api, alice, tea, django_capture_on_commit_callbacks
):
    assert quote(api, alice)["X-RateLimit-Limit"] == "60"
    with django_capture_on_commit_callbacks(execute=True):
        account_plan_set(tenant=alice.tenant, plan_code="enterprise")  # no rate set: no limit
    response = quote(api, alice)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


def test_a_quote_in_another_charset_is_left_to_drf(api, alice, tea):
    quote(api, alice, "warm-up")
    body = json.dumps({"visitor_id": "zoë", "products": ["tea"]}).encode("utf-8")
    response = api.post("/api/v1/quote/", body, content_type="application/json; charset=utf-8", **alice.auth)
    assert response.json()["visitor_id"] == "zoë"
    latin = api.post(
        "/api/v1/quote/",
        '{"visitor_id": "zoë", "products": ["tea"]}'.encode("latin-1"),
        content_type="application/json; charset=latin-1",
        **alice.auth,
    )
    assert (latin.status_code, latin.json()["visitor_id"]) == (200, "zoë")


def test_a_price_edit_reaches_a_process_holding_the_old_config(
    api, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mug = pricing_services.product_create(
            tenant=alice.tenant, sku="mug", name="Mug", currency="EUR", base_price="8.00"
        )
    body = {"visitor_id": "ada", "products": ["mug"]}
    assert api.post("/api/v1/quote/", body, format="json", **alice.auth).json()["items"][0]["price"] == "8.00"
    with django_capture_on_commit_callbacks(execute=True):
        pricing_services.price_change(product=mug, price="8.50", source="api")
    assert api.post("/api/v1/quote/", body, format="json", **alice.auth).json()["items"][0]["price"] == "8.50"


def test_quotes_and_other_calls_share_one_allowance(api, alice, tea):
    quote(api, alice)
    assert api.get("/api/v1/tenant/", **alice.auth)["X-RateLimit-Remaining"] == "58"
    assert quote(api, alice)["X-RateLimit-Remaining"] == "57"


def test_the_rate_limit_refuses_a_quote_without_counting_a_unit(api, alice, tea):
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.requests_per_minute_override, account.override_reason = 2, "test"
    account.save()
    assert [quote(api, alice, f"v{i}").status_code for i in range(2)] == [200, 200]
    units, buffered = metering.month_total(tenant_id=alice.tenant.pk), exposures.pending()
    refused = quote(api, alice, "v3")
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert refused["Retry-After"] == refused["X-RateLimit-Reset"]
    assert refused["X-RateLimit-Remaining"] == "0"
    assert metering.month_total(tenant_id=alice.tenant.pk) == units
    assert exposures.pending() == buffered


def test_over_the_quota_a_quote_gets_base_prices_and_buffers_nothing(api, alice, tea):
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.monthly_units_override, account.override_reason = 2, "test"
    account.save()
    visitor = next(
        f"v{i}"
        for i in range(100)
        if assign(visitor_id=f"v{i}", seed="tea-price", weights=[0.5, 0.5]).variation == 1
    )
    for _ in range(2):
        within = quote(api, alice, visitor).json()
        assert (within["quota_exceeded"], within["items"][0]["price"]) == (False, "12.00")
    buffered = exposures.pending()
    over = quote(api, alice, visitor).json()
    assert over["quota_exceeded"] is True and over["notice"]["code"] == "quota_exceeded"
    item = over["items"][0]
    assert (item["price"], item["experiment"], item["variant"]) == ("10.00", None, None)
    assert exposures.pending() == buffered


def test_when_the_script_fails_the_quote_is_answered_the_regular_way(api, alice, tea, monkeypatch, caplog):
    expected = quote(api, alice, "ada").json()

    def broken(client):
        def run(**kwargs):
            raise RedisConnectionError("connection reset")

        return run

    monkeypatch.setattr(hotpath, "_script", broken)
    with caplog.at_level(logging.WARNING, logger="pricing.hotpath"):
        response = quote(api, alice, "ada")
    assert response.status_code == 200
    assert response.json() == expected
    assert response["X-RateLimit-Remaining"] == "58"  # counted once, the regular way
    assert "regular way" in caplog.text


def test_the_direct_answer_is_byte_for_byte_what_drf_sends(api, alice, tea):
    quote(api, alice, "warm-up")
    direct = quote(api, alice, "ada")
    # An Accept header with parameters is left to DRF's negotiation.
    through_drf = quote(api, alice, "ada", HTTP_ACCEPT="application/json; q=0.9")
    assert direct.content == through_drf.content
    # The direct answer skips the page middlewares (pricing.middleware), not their headers.
    assert set(direct.headers) == set(through_drf.headers)
    for header in direct.headers:
        if header not in ("X-Request-ID", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert direct[header] == through_drf[header], header


def _raw_quote(party, body):
    return RequestFactory().post(
        "/api/v1/quote/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=party.auth["HTTP_AUTHORIZATION"],
    )


def test_the_everyday_quote_is_answered_without_the_page_middlewares(api, alice, tea):
    quote(api, alice, "warm-up")

    def below(request):
        raise AssertionError("the quote went down the whole middleware stack")

    response = QuoteShortcutMiddleware(below)(_raw_quote(alice, {"visitor_id": "ada", "products": ["tea"]}))
    assert response.status_code == 200
    assert json.loads(response.content)["items"][0]["experiment"] == "tea-price"
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-RateLimit-Remaining"] == "58"


def test_a_quote_the_shortcut_declines_goes_down_the_stack_uncounted(api, alice, tea):
    quote(api, alice, "warm-up")
    seen = []

    def below(request):
        seen.append(ratelimit.deferred(request))
        return HttpResponse(status=418)

    response = QuoteShortcutMiddleware(below)(_raw_quote(alice, "{bad json"))
    assert response.status_code == 418
    assert seen == [None]  # the rate-limit middleware below judges it afresh
    bad = api.post("/api/v1/quote/", "{bad json", content_type="application/json", **alice.auth)
    assert bad.status_code == 400
    assert bad["X-RateLimit-Remaining"] == "58"  # counted once, below


def test_unusual_requests_get_drfs_own_answers(api, alice, tea):
    quote(api, alice, "warm-up")
    cases = [
        ({"visitor_id": " ada ", "products": ["tea"]}, 200),  # trimmed by DRF, as before
        ({"visitor_id": "", "products": ["tea"]}, 400),
        ({"visitor_id": "ada", "products": []}, 400),
        ({"visitor_id": "ada", "products": ["tea"], "track": "no"}, 200),
        ({"visitor_id": 7, "products": ["tea"]}, 200),
    ]
    for body, status in cases:
        response = api.post("/api/v1/quote/", body, format="json", **alice.auth)
        assert response.status_code == status, (body, response.content)
    assert (
        api.post("/api/v1/quote/", "{bad json", content_type="application/json", **alice.auth).json()["code"]
        == "parse_error"
    )


def test_quote_input_accepts_only_what_the_serializer_accepts_unchanged():
    rng = random.Random(7)
    alphabet = string.ascii_letters + " \t\x00é-_"

    def text():
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 64, 65, 200, 201])))

    for _ in range(2000):
        body = {
            "visitor_id": rng.choice([text(), text(), 5, None]),
            "products": rng.choice([[text() for _ in range(rng.choice([0, 1, 3, 101]))], "tea", None]),
        }
        if rng.random() < 0.5:
            body["track"] = rng.choice([True, False, "true", 1, None])
        fast = api.quote_input(body)
        if fast is None:
            continue
        serializer = api.QuoteIn(data=body)
        assert serializer.is_valid(), (body, serializer.errors)
        assert dict(serializer.validated_data) == fast


@pytest.mark.django_db(transaction=True)
def test_parallel_quotes_together_never_get_more_than_the_limit(live_server, alice, tea):
    """Eight clients fire 96 quotes at once over HTTP against a limit of 50."""
    if connection.vendor != "postgresql":
        pytest.skip("the live server shares one in-memory SQLite connection between its threads")
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.requests_per_minute_override, account.override_reason = 50, "concurrency test"
    account.save()
    start = threading.Barrier(8)

    def client(n: int) -> list[tuple[int, str]]:
        session = requests.Session()
        session.headers["Authorization"] = alice.auth["HTTP_AUTHORIZATION"]
        start.wait()
        out = []
        for i in range(12):
            r = session.post(
                f"{live_server.url}/api/v1/quote/",
                data=json.dumps({"visitor_id": f"c{n}-{i}", "products": ["tea"]}),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            out.append((r.status_code, r.headers.get("X-RateLimit-Remaining", r.text[:300])))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [item for batch in pool.map(client, range(8)) for item in batch]
    served = sorted(int(remaining) for status, remaining in results if status == 200)
    assert {status for status, _ in results} <= {200, 429}, results
    assert served == list(range(50))
    assert metering.month_total(tenant_id=alice.tenant.pk) == 50


def test_a_quote_for_a_host_not_allowed_is_refused_before_it_is_priced_or_metered(api, alice, tea):
    quote(api, alice, "warm-up")
    before = metering.month_total(tenant_id=alice.tenant.pk)
    assert quote(api, alice, "ada", HTTP_HOST="evil.example").status_code == 400
    assert metering.month_total(tenant_id=alice.tenant.pk) == before


def test_a_quote_that_fails_inside_is_a_500_that_is_still_counted(alice, tea, monkeypatch):
    client = APIClient(raise_request_exception=False)
    quote(client, alice, "warm-up")

    def broken(**kwargs):
        raise RuntimeError("pricing broke")

    monkeypatch.setattr(hotpath.quotes, "price", broken)
    failed = quote(client, alice, "ada")
    assert failed.status_code == 500 and failed["X-RateLimit-Remaining"] == "58"
    assert b"pricing broke" not in failed.content
    monkeypatch.undo()
    assert quote(client, alice, "bo")["X-RateLimit-Remaining"] == "57"


def test_behind_a_path_prefix_quotes_are_still_rate_limited(api, alice, tea):
    quote(api, alice, "warm-up", SCRIPT_NAME="/pricelab")
    response = quote(api, alice, "ada", SCRIPT_NAME="/pricelab")
    assert response.status_code == 200 and response["X-RateLimit-Remaining"] == "58"
    other = api.get("/api/v1/tenant/", SCRIPT_NAME="/pricelab", **alice.auth)
    assert other["X-RateLimit-Remaining"] == "57"
