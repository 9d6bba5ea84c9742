"""Publishable keys quote and track only; secret keys are refused from web pages; a page may
use a publishable key only from an origin its tenant lists."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing import services as pricing_services
from tenants import apikeys, services
from tenants.models import ApiKey, KeyKind

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def tea(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return pricing_services.product_create(
            tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
        )


@pytest.fixture
def publishable(alice, django_capture_on_commit_callbacks):
    """Alice's publishable key, with her shop's origin allowed."""
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
        _key, secret = services.api_key_create(
            tenant=alice.tenant, name="Storefront", kind=KeyKind.PUBLISHABLE
        )
    return secret


def quote(api, secret, **headers):
    return api.post(
        "/api/v1/quote/",
        {"visitor_id": "ada", "products": ["tea"]},
        format="json",
        **bearer(secret),
        **headers,
    )


def events(api, secret, **headers):
    body = {"events": [{"type": "exposure", "visitor_id": "ada", "product": "tea", "idempotency_key": "e1"}]}
    return api.post("/api/v1/events/", body, format="json", **bearer(secret), **headers)


def test_publishable_keys_look_different_and_hold_no_scopes(alice, publishable):
    key = ApiKey.objects.for_tenant(alice.tenant).get(kind=KeyKind.PUBLISHABLE)
    assert publishable.startswith("pk_") and key.prefix.startswith("pk_")
    assert key.scopes == []
    assert alice.secret.startswith("pl_")  # existing keys stay secret keys


def test_a_publishable_key_quotes_from_an_allowed_origin(api, tea, publishable):
    response = quote(api, publishable, HTTP_ORIGIN=SHOP)
    assert response.status_code == 200
    assert response.json()["items"][0]["price"] == "10.00"
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_a_publishable_key_quotes_from_a_server_without_origin(api, tea, publishable):
    assert quote(api, publishable).status_code == 200


def test_a_publishable_key_sends_events(api, tea, publishable):
    response = events(api, publishable, HTTP_ORIGIN=SHOP)
    assert response.status_code == 200, response.json()
    # Let in: each item is judged on its own (this one names no running experiment).
    assert {"accepted", "duplicates", "rejected", "errors"} == set(response.json())
    assert response["Access-Control-Allow-Origin"] == SHOP


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/tenant/"),
        ("get", "/api/v1/products/"),
        ("post", "/api/v1/products/"),
        ("get", "/api/v1/api-keys/"),
        ("post", "/api/v1/api-keys/"),
        ("get", "/api/v1/experiments/"),
        ("post", "/api/v1/realtime/tokens/"),
        ("get", "/api/v1/webhooks/"),
        ("patch", "/api/v1/tenant/"),
    ],
)
def test_a_publishable_key_may_do_nothing_else(api, publishable, method, path):
    response = getattr(api, method)(path, {}, format="json", **bearer(publishable))
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "publishable_key_not_allowed"
    assert "quote" in body["message"]


def test_a_publishable_key_from_an_origin_not_listed_is_refused(api, tea, publishable):
    for origin in ["https://evil.example", "null", "https://shop.example.com.evil.example"]:
        response = quote(api, publishable, HTTP_ORIGIN=origin)
        assert response.status_code == 403
        assert response.json()["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response


def test_another_tenants_origin_does_not_admit_alices_publishable_key(api, tea, publishable, charlie):
    services.tenant_origins_set(tenant=charlie.tenant, origins=["https://charlie.example"])
    response = quote(api, publishable, HTTP_ORIGIN="https://charlie.example")
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response


def test_a_secret_key_from_a_web_page_is_refused(api, alice, tea):
    services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    for call in (quote, events):
        response = call(api, alice.secret, HTTP_ORIGIN=SHOP)
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "secret_key_from_browser"
        assert "publishable key" in body["message"]
        assert alice.secret not in str(body)
    assert api.get("/api/v1/tenant/", HTTP_ORIGIN=SHOP, **alice.auth).status_code == 403


def test_a_secret_key_from_pricelabs_own_pages_is_accepted(api, alice):
    # The API docs' "Try it out" runs on Pricelab's own origin.
    response = api.get("/api/v1/tenant/", HTTP_ORIGIN="http://testserver", **alice.auth)
    assert response.status_code == 200


def test_a_secret_key_from_a_server_still_works(api, alice, tea):
    assert quote(api, alice.secret).status_code == 200


def test_a_warm_publishable_quote_from_a_browser_makes_no_query(api, tea, publishable):
    assert quote(api, publishable, HTTP_ORIGIN=SHOP).status_code == 200  # warms key and config
    with CaptureQueriesContext(connection) as queries:
        response = quote(api, publishable, HTTP_ORIGIN=SHOP)
    assert response.status_code == 200
    assert [q["sql"] for q in queries] == []


def test_a_new_origin_applies_to_the_next_request(
    api, alice, tea, publishable, django_capture_on_commit_callbacks
):
    assert quote(api, publishable, HTTP_ORIGIN="https://new.example.com").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP, "https://new.example.com"])
    assert quote(api, publishable, HTTP_ORIGIN="https://new.example.com").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[])
    assert quote(api, publishable, HTTP_ORIGIN=SHOP).status_code == 403


def test_the_cached_record_carries_kind_and_origins(alice, publishable):
    record = apikeys.lookup(publishable)
    assert record.kind == KeyKind.PUBLISHABLE
    assert record.allowed_origins == frozenset({SHOP})


# --- Creating keys -------------------------------------------------------------------


def test_the_api_creates_and_lists_publishable_keys(api, alice):
    response = api.post(
        "/api/v1/api-keys/", {"name": "Web", "kind": "publishable"}, format="json", **alice.auth
    )
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "publishable" and body["secret"].startswith("pk_") and body["scopes"] == []
    listed = api.get("/api/v1/api-keys/", **alice.auth).json()["results"]
    assert {key["prefix"]: key["kind"] for key in listed} == {
        body["prefix"]: "publishable",
        alice.key.prefix: "secret",
    }


def test_a_key_without_a_kind_is_a_secret_key(api, alice):
    response = api.post("/api/v1/api-keys/", {"name": "Server"}, format="json", **alice.auth)
    assert response.status_code == 201
    assert response.json()["kind"] == "secret" and response.json()["secret"].startswith("pl_")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Web", "kind": "publishable", "scopes": ["read"]}, "scopes"),
        ({"name": "Web", "kind": "public"}, "kind"),
    ],
)
def test_bad_key_kinds_get_400(api, alice, body, field):
    response = api.post("/api/v1/api-keys/", body, format="json", **alice.auth)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["details"]


def test_the_service_refuses_scopes_on_a_publishable_key(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.api_key_create(tenant=alice.tenant, name="x", kind=KeyKind.PUBLISHABLE, scopes=["read"])
