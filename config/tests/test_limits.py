"""Input limits: every refusal a 4xx with a code and a message, never a 500, nothing valid lost."""

import json

import pytest

from config import parsers
from experiments import ingest
from experiments import services as experiment_services
from pricing import api as pricing_api
from pricing import services as pricing_services
from pricing.models import Product
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}


def post_json(api, party, path, body):
    return api.post(path, body, format="json", **party.auth)


@pytest.fixture
def tea(alice):
    return pricing_services.product_create(tenant=alice.tenant, **TEA)


@pytest.fixture
def running(alice, tea):
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant,
        product=tea,
        key="tea-price",
        name="Tea price",
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "12.00", "weight": "0.5"},
        ],
    )
    return experiment_services.experiment_start(experiment=experiment)


# --- Body size ------------------------------------------------------------------------


def test_an_api_body_over_the_limit_is_a_413_with_its_code(api, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    events = [{"type": "conversion", "visitor_id": f"v{i}", "product": "tea"} for i in range(50)]
    response = post_json(api, alice, "/api/v1/events/", {"events": events})
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "request_too_large"
    assert body["details"] == {"limit_bytes": 1000}
    assert "1000 bytes" in body["message"]


def test_the_quote_refuses_a_body_over_the_limit_before_pricing(api, alice, tea, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = {"visitor_id": "v" * 150, "products": ["tea"]}
    response = post_json(api, alice, "/api/v1/quote/", body)
    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")


def test_a_form_over_the_limit_gets_a_friendly_413_page(client, alice, settings):
    log_in(client, alice.user, alice.tenant)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/products/new/", {**TEA, "name": "x" * 2000})
    assert response.status_code == 413
    assert "too much at once" in response.text
    assert not Product.objects.for_tenant(alice.tenant).exists()


def test_the_default_limit_takes_a_full_batch_of_events_at_every_fields_longest(settings):
    event = {
        "type": "conversion",
        "visitor_id": "v" * 200,
        "idempotency_key": "k" * 200,
        "product": "p" * 64,
        "revenue": "999999999999.99",
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
    }
    size = len(json.dumps({"events": [event] * ingest.MAX_EVENTS}).encode())
    assert size < settings.DATA_UPLOAD_MAX_MEMORY_SIZE


# --- JSON shape and batch sizes -------------------------------------------------------


def test_deeply_nested_json_is_a_parse_error_not_a_500(api, alice):
    deep = "[" * 50_000 + "]" * 50_000
    for path in ("/api/v1/events/", "/api/v1/quote/", "/api/v1/products/"):
        response = api.post(path, deep, content_type="application/json", **alice.auth)
        assert (response.status_code, response.json()["code"]) == (400, "parse_error"), path


def test_json_nested_past_the_limit_is_refused_and_at_the_limit_taken(api, alice):
    def nested(depth):
        value = []
        for _ in range(depth - 1):
            value = [value]
        return value

    too_deep = {"events": [{"type": "conversion", "extra": nested(parsers.MAX_JSON_DEPTH)}]}
    response = post_json(api, alice, "/api/v1/events/", too_deep)
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    fine = {"events": [{"type": "conversion", "extra": nested(parsers.MAX_JSON_DEPTH - 3)}]}
    assert post_json(api, alice, "/api/v1/events/", fine).status_code == 200


def test_an_events_batch_over_the_limit_is_refused_with_its_code(api, alice):
    events = [{"type": "conversion", "visitor_id": "v", "product": "tea"}] * (ingest.MAX_EVENTS + 1)
    response = post_json(api, alice, "/api/v1/events/", {"events": events})
    assert response.status_code == 400
    assert response.json()["code"] == "batch_too_large"
    assert response.json()["details"] == {"field": "events", "limit": ingest.MAX_EVENTS}


def test_a_quote_for_too_many_products_is_refused_with_its_code(api, alice, tea):
    body = {"visitor_id": "v", "products": ["tea"] * (pricing_api.QUOTE_MAX_PRODUCTS + 1)}
    response = post_json(api, alice, "/api/v1/quote/", body)
    assert (response.status_code, response.json()["code"]) == (400, "batch_too_large")


def test_an_experiment_with_too_many_variants_is_refused_with_its_code(api, alice, tea):
    variants = [{"key": f"v{i}", "price": "1.00", "weight": "0.01"} for i in range(500)]
    body = {"key": "big", "name": "Big", "product": "tea", "variants": variants}
    response = post_json(api, alice, "/api/v1/experiments/", body)
    assert (response.status_code, response.json()["code"]) == (400, "batch_too_large")


# --- Amounts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price",
    ["1e3", "1E3", "NaN", "Infinity", "-Infinity", "1_000", "\u0661\u0662", "9.90.1", 1e16, "0x10", "1" * 40],
)
def test_prices_in_anything_but_plain_decimals_are_refused(api, alice, price):
    response = post_json(api, alice, "/api/v1/products/", {**TEA, "base_price": price})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert "base_price" in body["details"]
    assert not Product.objects.for_tenant(alice.tenant).exists()


@pytest.mark.parametrize(
    ("price", "stored"), [("9.90", "9.90"), (9.9, "9.90"), (12, "12.00"), ("0.5", "0.50"), (".5", "0.50")]
)
def test_plain_prices_as_strings_or_numbers_are_taken(api, alice, price, stored):
    response = post_json(api, alice, "/api/v1/products/", {**TEA, "base_price": price})
    assert response.status_code == 201, response.content
    assert response.json()["base_price"] == stored


@pytest.mark.parametrize("written", ["1e3", "1E1", "1e-1", "19.999999999999999999", "1.0e2"])
def test_json_numbers_are_judged_as_written_not_as_floats(api, alice, written):
    # As floats, 1e3 would read "1000.0" and 19.999999999999999999 "20.0": both would pass.
    body = '{"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": ' + written + "}"
    response = api.post("/api/v1/products/", body, content_type="application/json", **alice.auth)
    assert response.status_code == 400, response.content
    assert "base_price" in response.json()["details"]
    assert not Product.objects.for_tenant(alice.tenant).exists()


def test_a_json_number_revenue_with_an_exponent_is_rejected_alone(api, alice, running):
    body = (
        '{"events": [{"type": "conversion", "visitor_id": "a", "product": "tea", "revenue": 1e3},'
        ' {"type": "conversion", "visitor_id": "b", "product": "tea", "revenue": 10.5}]}'
    )
    response = api.post("/api/v1/events/", body, content_type="application/json", **alice.auth)
    answer = response.json()
    assert answer["accepted"] == 1
    assert [(e["index"], e["code"]) for e in answer["errors"]] == [(0, "invalid_revenue")]


def test_prices_past_the_largest_or_with_too_many_decimals_are_refused(api, alice):
    for price, words in (("1000000000000", "at most"), ("9.999", "decimal places"), ("-1", "zero or more")):
        response = post_json(api, alice, "/api/v1/products/", {**TEA, "base_price": price})
        assert response.status_code == 400
        assert words in str(response.json()["details"]["base_price"])


def test_an_event_with_an_exponent_revenue_is_rejected_alone(api, alice, running):
    events = [
        {"type": "conversion", "visitor_id": "a", "product": "tea", "revenue": "1e3"},
        {"type": "conversion", "visitor_id": "b", "product": "tea", "revenue": "NaN"},
        {"type": "conversion", "visitor_id": "c", "product": "tea", "revenue": "10.00"},
    ]
    response = post_json(api, alice, "/api/v1/events/", {"events": events})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (0, "invalid_revenue"),
        (1, "invalid_revenue"),
    ]


def test_a_price_form_with_an_exponent_shows_the_field_error(client, alice, tea):
    log_in(client, alice.user, alice.tenant)
    response = client.post("/products/tea/edit/", {"name": "Tea", "price": "1e3"})
    assert response.status_code == 400  # the pages answer an invalid form with 400 and the form
    assert "plain decimal number" in response.text
    tea.refresh_from_db()
    assert str(tea.base_price) == "10.0000"


@pytest.mark.parametrize("weight", ["NaN", "0.123456", "1e-1"])
def test_weights_the_column_cannot_hold_are_refused_by_the_service(alice, tea, weight):
    from django.core.exceptions import ValidationError

    variants = [
        {"key": "control", "price": "10.00", "weight": weight, "is_control": True},
        {"key": "higher", "price": "12.00", "weight": "0.5"},
    ]
    with pytest.raises(ValidationError):
        experiment_services.experiment_create(
            tenant=alice.tenant, product=tea, key="w", name="W", variants=variants
        )


# --- Strings --------------------------------------------------------------------------


def test_a_nul_byte_in_a_string_is_a_400_not_a_database_error(api, alice, tea):
    created = post_json(api, alice, "/api/v1/products/", {**TEA, "sku": "mug", "name": "Mug\x00"})
    assert (created.status_code, created.json()["code"]) == (400, "validation_error")
    assert "name" in created.json()["details"]
    quoted = api.get("/api/v1/quote/", {"visitor_id": "a\x00b", "product": "tea"}, **alice.auth)
    assert quoted.status_code == 400
    quoted = post_json(api, alice, "/api/v1/quote/", {"visitor_id": "a\x00b", "products": ["tea"]})
    assert quoted.status_code == 400
    key = post_json(api, alice, "/api/v1/api-keys/", {"name": "ci\x00"})
    assert key.status_code == 400


def test_a_nul_byte_in_a_form_is_a_field_error(client, alice):
    log_in(client, alice.user, alice.tenant)
    response = client.post("/products/new/", {**TEA, "name": "Tea\x00"})
    assert response.status_code == 400
    assert "Null characters are not allowed" in response.text
    assert not Product.objects.for_tenant(alice.tenant).exists()


def test_a_nul_byte_in_an_api_key_is_a_401_not_a_500(api):
    response = api.get("/api/v1/tenant/", HTTP_AUTHORIZATION="Bearer pl_live_\x00abcdef")
    assert response.status_code == 401
    assert response.json()["code"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/products/", {**TEA, "name": "x" * 201}, "name"),
        ("/api/v1/api-keys/", {"name": "x" * 101}, "name"),
        ("/api/v1/webhooks/", {"url": "https://example.com/" + "x" * 500}, "url"),
        ("/api/v1/webhooks/", {"url": "https://example.com/", "description": "x" * 201}, "description"),
    ],
)
def test_strings_over_their_column_are_refused_per_field(api, alice, path, body, field):
    response = post_json(api, alice, path, body)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_webhook_event_types_over_the_limit_are_refused(api, alice):
    body = {"url": "https://example.com/hook", "event_types": ["price.changed"] * 1000}
    response = post_json(api, alice, "/api/v1/webhooks/", body)
    assert (response.status_code, list(response.json()["details"])) == (400, ["event_types"])


# --- SKUs -----------------------------------------------------------------------------


def test_skus_differing_only_in_case_are_one_sku(api, alice):
    assert post_json(api, alice, "/api/v1/products/", {**TEA, "sku": "ABC"}).status_code == 201
    response = post_json(api, alice, "/api/v1/products/", {**TEA, "sku": "abc"})
    assert response.status_code == 400
    assert "'ABC' already exists" in response.json()["details"]["sku"][0]
    assert list(Product.objects.for_tenant(alice.tenant).values_list("sku", flat=True)) == ["ABC"]


def test_another_tenant_may_use_the_same_sku_in_any_case(api, alice, charlie):
    assert post_json(api, alice, "/api/v1/products/", {**TEA, "sku": "ABC"}).status_code == 201
    assert post_json(api, charlie, "/api/v1/products/", {**TEA, "sku": "abc"}).status_code == 201


def test_the_database_refuses_a_case_variant_that_slips_past_the_check(alice):
    from django.db import IntegrityError, transaction

    Product.objects.create(tenant=alice.tenant, sku="ABC", name="A", currency="EUR", base_price=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(tenant=alice.tenant, sku="abc", name="a", currency="EUR", base_price=1)


def test_the_product_form_shows_a_case_variant_sku_as_a_field_error(client, alice, tea):
    log_in(client, alice.user, alice.tenant)
    response = client.post("/products/new/", {**TEA, "sku": "TEA"})
    assert response.status_code == 400
    assert "differing only in case" in response.text


# --- Answers in the API's shape -------------------------------------------------------


def test_a_post_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(client):
    response = client.patch("/api/v1/webhooks/not-an-id/", {}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_csrf_failure_under_the_api_answers_json(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    log_in(client, alice.user, alice.tenant)
    response = client.post(
        "/api/v1/webhooks/", {"url": "https://example.com/"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"]


def test_a_chunked_body_without_a_length_is_refused_not_read_as_empty(api, alice):
    response = api.post(
        "/api/v1/products/",
        TEA,
        format="json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
        **alice.auth,
    )
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert not Product.objects.for_tenant(alice.tenant).exists()
