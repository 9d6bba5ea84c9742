from decimal import Decimal

import pytest

from pricing import config, services
from pricing.models import PricePoint, Product
from pricing.money import MoneyError, parse_amount

pytestmark = pytest.mark.django_db

TEA = {"sku": "tea-1kg", "name": "Tea, 1 kg", "currency": "eur", "base_price": "24.90"}


def test_money_respects_each_currencys_minor_units():
    assert parse_amount("24.9", "EUR") == Decimal("24.90")
    assert parse_amount(1200, "JPY") == Decimal("1200")
    assert parse_amount("1.250", "KWD") == Decimal("1.250")
    for bad, currency in [("24.999", "EUR"), ("12.5", "JPY"), ("-1", "EUR"), ("abc", "EUR"), ("NaN", "EUR")]:
        with pytest.raises(MoneyError):
            parse_amount(bad, currency)
    assert parse_amount("1.250", "IQD") == Decimal("1.250")  # ISO says 3 places (CLDR says 0)
    for code in ("ABC", "DEM", "XAU"):  # unknown, withdrawn, a metal
        with pytest.raises(MoneyError, match="ISO 4217"):
            parse_amount("1", code)


def test_create_records_the_first_price(api, alice):
    response = api.post("/api/v1/products/", TEA, **alice.auth)
    assert response.status_code == 201, response.json()
    assert response.json()["base_price"] == "24.90"
    assert response.json()["currency"] == "EUR"
    history = api.get("/api/v1/products/tea-1kg/prices/", **alice.auth).json()["results"]
    assert [(p["price"], p["source"]) for p in history] == [("24.90", "api")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sku": "has space"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "ABC"}, "base_price"),
        ({"base_price": "24.999"}, "base_price"),
        ({"base_price": -3}, "base_price"),
        ({"base_price": True}, "base_price"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_products_get_400_with_the_field(api, alice, change, field):
    response = api.post("/api/v1/products/", {**TEA, **change}, **alice.auth)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Product.objects.for_tenant(alice.tenant).exists()


def test_a_duplicate_sku_is_400_and_another_tenant_may_use_it(api, alice, charlie):
    assert api.post("/api/v1/products/", TEA, **alice.auth).status_code == 201
    response = api.post("/api/v1/products/", TEA, **alice.auth)
    assert response.status_code == 400
    assert "sku" in response.json()["details"]
    assert api.post("/api/v1/products/", TEA, **charlie.auth).status_code == 201


def test_price_change_updates_the_product_and_the_history(api, alice):
    api.post("/api/v1/products/", TEA, **alice.auth)
    response = api.patch("/api/v1/products/tea-1kg/", {"base_price": "26.50"}, **alice.auth)
    assert response.status_code == 200
    assert response.json()["base_price"] == "26.50"
    api.patch("/api/v1/products/tea-1kg/", {"base_price": "26.50"}, **alice.auth)  # no change
    prices = [p["price"] for p in api.get("/api/v1/products/tea-1kg/prices/", **alice.auth).json()["results"]]
    assert prices == ["26.50", "24.90"]


def test_a_refused_price_change_names_the_field_the_request_sent(api, alice):
    api.post("/api/v1/products/", TEA, **alice.auth)
    response = api.patch("/api/v1/products/tea-1kg/", {"base_price": "-1"}, **alice.auth)
    assert response.status_code == 400
    assert list(response.json()["details"]) == ["base_price"]


def test_session_edits_are_recorded_as_manual_with_the_person(api, alice):
    api.post("/api/v1/products/", TEA, **alice.auth)
    api.force_login(alice.user)
    api.patch("/api/v1/products/tea-1kg/", {"base_price": "19.00"})
    latest = api.get("/api/v1/products/tea-1kg/prices/").json()["results"][0]
    assert (latest["source"], latest["changed_by"]) == ("manual", alice.user.email)


def test_history_filters_by_time_and_refuses_bad_times(api, alice):
    product = services.product_create(tenant=alice.tenant, **TEA)
    first = PricePoint.objects.for_tenant(alice.tenant).get()
    services.price_change(product=product, price="30.00", source=PricePoint.Source.API)
    url = "/api/v1/products/tea-1kg/prices/"
    since = first.valid_from.isoformat().replace("+00:00", "Z")
    assert len(api.get(url, {"since": since}, **alice.auth).json()["results"]) == 2
    until = api.get(url, {"until": since}, **alice.auth).json()["results"]
    assert until == []
    response = api.get(url, {"since": "yesterday"}, **alice.auth)
    assert response.status_code == 400 and "since" in response.json()["details"]


def test_another_tenants_products_are_invisible_and_untouchable(api, alice, charlie):
    api.post("/api/v1/products/", {**TEA, "sku": "secret-sku"}, **charlie.auth)
    assert api.get("/api/v1/products/", **alice.auth).json()["results"] == []
    for response in (
        api.get("/api/v1/products/secret-sku/", **alice.auth),
        api.get("/api/v1/products/secret-sku/prices/", **alice.auth),
        api.patch("/api/v1/products/secret-sku/", {"base_price": "0.01"}, **alice.auth),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert Product.objects.for_tenant(charlie.tenant).get().base_price == Decimal("24.90")


def test_a_read_only_key_cannot_change_prices(api, alice):
    from tenants.tests.factories import api_key_for

    api.post("/api/v1/products/", TEA, **alice.auth)
    _, secret = api_key_for(alice.tenant, scopes=["read"])
    response = api.patch(
        "/api/v1/products/tea-1kg/", {"base_price": "1.00"}, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_a_price_change_moves_the_config_version_after_commit(alice, django_capture_on_commit_callbacks):
    product = services.product_create(tenant=alice.tenant, **TEA)
    before = config.version(alice.tenant.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.price_change(product=product, price="1.00", source=PricePoint.Source.API)
    assert config.version(alice.tenant.pk) == before  # nothing announced before commit
    for callback in callbacks:
        callback()
    assert config.version(alice.tenant.pk) != before
