"""Per-plan API rate limits: exact headers, 429s, and exactness under concurrency."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.urls import reverse

from billing.models import BillingAccount, Plan
from billing.services import account_plan_set

pytestmark = pytest.mark.django_db

NOW = 1_800_000_000  # a fixed clock: a one-minute window cannot end in the middle of a test


@pytest.fixture(autouse=True)
def frozen_window(monkeypatch):
    import django_ratelimit.core

    clock = {"now": NOW}
    monkeypatch.setattr(django_ratelimit.core.time, "time", lambda: clock["now"])
    return clock


def rate_headers(response):
    return (
        response["X-RateLimit-Limit"],
        response["X-RateLimit-Remaining"],
        int(response["X-RateLimit-Reset"]),
    )


def test_every_api_response_says_the_limit_what_is_left_and_when_it_resets(api, alice):
    first = api.get("/api/v1/products/", **alice.auth)
    limit, remaining, reset = rate_headers(first)
    assert (first.status_code, limit, remaining) == (200, "60", "59")  # the Free plan: 60 a minute
    assert 1 <= reset <= 60
    for expected in range(58, -1, -1):
        response = api.get("/api/v1/products/", **alice.auth)
        assert response.status_code == 200
        assert rate_headers(response) == ("60", str(expected), reset)
    refused = api.get("/api/v1/products/", **alice.auth)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["details"] == {"limit": 60, "retry_after": reset}
    assert refused["Retry-After"] == str(reset)
    assert rate_headers(refused) == ("60", "0", reset)


def test_a_new_window_starts_afresh(api, alice, frozen_window):
    for _ in range(60):
        api.get("/api/v1/tenant/", **alice.auth)
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 429
    frozen_window["now"] += 60
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert (response.status_code, response["X-RateLimit-Remaining"]) == (200, "59")


def test_errors_and_refusals_are_counted_and_carry_the_headers_too(api, alice):
    missing = api.get("/api/v1/products/no-such-sku/", **alice.auth)
    invalid = api.post("/api/v1/quote/", {"visitor_id": ""}, format="json", **alice.auth)
    assert (missing.status_code, missing["X-RateLimit-Remaining"]) == (404, "59")
    assert (invalid.status_code, invalid["X-RateLimit-Remaining"]) == (400, "58")


def test_each_key_and_each_tenant_has_its_own_allowance(api, alice, charlie):
    for _ in range(60):
        api.get("/api/v1/tenant/", **alice.auth)
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 429
    other = api.get("/api/v1/tenant/", **charlie.auth)
    assert (other.status_code, other["X-RateLimit-Remaining"]) == (200, "59")


def test_an_upgrade_raises_the_limit_on_the_next_request(api, alice, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/tenant/", **alice.auth)["X-RateLimit-Limit"] == "60"
    with django_capture_on_commit_callbacks(execute=True):
        account_plan_set(tenant=alice.tenant, plan_code="pro")
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert rate_headers(response)[:2] == ("300", "299")  # a new rate is a new counter


def test_a_staff_override_applies_at_once(api, alice, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/tenant/", **alice.auth)["X-RateLimit-Limit"] == "60"  # cached now
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.requests_per_minute_override = 2
    account.override_reason = "Abusive polling, ticket 1234"
    with django_capture_on_commit_callbacks(execute=True):
        account.save()
    assert [api.get("/api/v1/tenant/", **alice.auth).status_code for _ in range(3)] == [200, 200, 429]


def test_a_plan_edited_in_admin_applies_to_its_tenants_at_once(
    api, alice, django_capture_on_commit_callbacks
):
    assert api.get("/api/v1/tenant/", **alice.auth)["X-RateLimit-Limit"] == "60"
    free = Plan.objects.get(code="free")
    free.requests_per_minute = 90
    with django_capture_on_commit_callbacks(execute=True):
        free.save()
    assert api.get("/api/v1/tenant/", **alice.auth)["X-RateLimit-Limit"] == "90"


def test_calls_without_a_valid_key_are_limited_by_ip_address(api, alice):
    for _ in range(60):
        api.get("/api/v1/tenant/", HTTP_AUTHORIZATION="Bearer pl_madeup12_" + "x" * 40)
    anonymous = api.get("/api/v1/tenant/")
    assert (anonymous.status_code, anonymous.json()["code"]) == (429, "rate_limited")
    # The real key is counted on its own, not with the address's failures.
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 200


def test_the_web_ui_calling_the_api_is_limited_per_person_at_the_plan_rate(client, alice):
    client.force_login(alice.membership.user)
    client.get(reverse("dashboard"))
    response = client.get("/api/v1/tenant/")
    assert response.status_code == 200
    assert rate_headers(response)[:2] == ("60", "59")


def test_pages_outside_the_api_carry_no_rate_headers(client):
    assert "X-RateLimit-Limit" not in client.get(reverse("login"))


def test_an_enterprise_tenant_without_a_rate_is_not_limited(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        account_plan_set(tenant=alice.tenant, plan_code="enterprise")
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


@pytest.mark.django_db(transaction=True)
def test_parallel_clients_together_never_get_more_than_the_limit(live_server, alice):
    """Eight clients fire 96 requests at once over HTTP against a limit of 50."""
    if connection.vendor != "postgresql":
        pytest.skip("the live server shares one in-memory SQLite connection between its threads")
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.requests_per_minute_override, account.override_reason = 50, "concurrency test"
    account.save()
    start = threading.Barrier(8)

    def client(_: int) -> list[tuple[int, str]]:
        session = requests.Session()
        session.headers["Authorization"] = alice.auth["HTTP_AUTHORIZATION"]
        start.wait()
        out = []
        for _ in range(12):
            r = session.get(f"{live_server.url}/api/v1/tenant/", timeout=30)
            out.append((r.status_code, r.headers.get("X-RateLimit-Remaining", r.text[:300])))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [item for batch in pool.map(client, range(8)) for item in batch]
    served = sorted(int(remaining) for status, remaining in results if status == 200)
    assert len(results) == 96
    assert {status for status, _ in results} <= {200, 429}, results
    assert served == list(range(50))  # exactly 50 served, each with its own count
    assert sum(status == 429 for status, _ in results) == 46
