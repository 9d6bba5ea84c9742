"""Allowed origins: what is accepted, who may change them (API and page), and the CORS
answers a browser gets for them."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tenants import services
from tenants.models import KeyKind, Tenant
from tenants.origins import MAX_ALLOWED_ORIGINS, origin_normalise, origins_normalise
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://Shop.Example.com", SHOP),
        ("https://shop.example.com:443", SHOP),
        ("https://shop.example.com/", SHOP),
        ("  https://shop.example.com  ", SHOP),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://bücher.de", "https://xn--bcher-kva.de"),
    ],
)
def test_origins_are_stored_as_browsers_send_them(given, stored):
    assert origin_normalise(given) == stored


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("http://shop.example.com", "origin_not_https"),
        ("https://shop.example.com/checkout", "origin_has_path"),
        ("https://shop.example.com?x=1", "origin_has_path"),
        ("https://*.example.com", "origin_wildcard"),
        ("*", "origin_wildcard"),
        ("ftp://shop.example.com", "invalid_origin"),
        ("shop.example.com", "invalid_origin"),
        ("https://user:pw@shop.example.com", "invalid_origin"),
        ("https://shop..example.com", "invalid_origin"),
        ("null", "invalid_origin"),
        ("", "invalid_origin"),
    ],
)
def test_what_is_not_an_https_origin_is_refused_with_a_reason(given, code):
    with pytest.raises(ValidationError) as caught:
        origin_normalise(given)
    assert caught.value.code == code


def test_duplicates_collapse_and_the_list_has_a_limit():
    assert origins_normalise([SHOP, "https://SHOP.example.com:443"]) == [SHOP]
    many = [f"https://s{n}.example.com" for n in range(MAX_ALLOWED_ORIGINS + 1)]
    with pytest.raises(ValidationError):
        origins_normalise(many)


# --- API -------------------------------------------------------------------------------


def test_an_admin_key_sets_the_origins_through_the_api(api, alice):
    response = api.patch(
        "/api/v1/tenant/",
        {"allowed_origins": ["https://Shop.example.com/", "http://localhost:3000"]},
        format="json",
        **alice.auth,
    )
    assert response.status_code == 200
    assert response.json()["allowed_origins"] == [SHOP, "http://localhost:3000"]
    assert api.get("/api/v1/tenant/", **alice.auth).json()["allowed_origins"] == [
        SHOP,
        "http://localhost:3000",
    ]


def test_bad_origins_get_400_with_the_reason(api, alice):
    response = api.patch(
        "/api/v1/tenant/",
        {"allowed_origins": ["http://shop.example.com", "https://*.x.com"]},
        format="json",
        **alice.auth,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert "https" in " ".join(body["details"]["allowed_origins"])
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == []


def test_other_tenant_fields_cannot_be_changed_here(api, alice):
    response = api.patch(
        "/api/v1/tenant/", {"allowed_origins": [], "name": "Mine"}, format="json", **alice.auth
    )
    assert response.status_code == 400
    assert "name" in response.json()["details"]


def test_a_key_without_admin_cannot_set_origins(api, alice):
    _, secret = services.api_key_create(tenant=alice.tenant, name="rw", scopes=["read", "write"])
    response = api.patch(
        "/api/v1/tenant/", {"allowed_origins": [SHOP]}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_an_outsider_sets_only_their_own_origins(api, alice, charlie):
    response = api.patch("/api/v1/tenant/", {"allowed_origins": [SHOP]}, format="json", **charlie.auth)
    assert response.status_code == 200
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == []
    assert Tenant.objects.get(pk=charlie.tenant.pk).allowed_origins == [SHOP]
    assert "allowed_origins" in api.get("/api/v1/tenant/", **alice.auth).json()


# --- The page ---------------------------------------------------------------------------


def test_an_owner_sets_origins_on_the_keys_page(alice):
    client = log_in(Client(), alice.user, alice.tenant)
    response = client.post(
        reverse("allowed_origins"),
        {"origins": "https://Shop.example.com\n\nhttp://localhost:3000\n"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Saved: 2 allowed origins" in response.text
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == [SHOP, "http://localhost:3000"]
    assert SHOP in client.get(reverse("api_keys")).text


def test_the_page_explains_a_refused_origin(alice):
    client = log_in(Client(), alice.user, alice.tenant)
    response = client.post(reverse("allowed_origins"), {"origins": "https://shop.example.com/checkout"})
    assert response.status_code == 400
    assert "no path" in response.text
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == []


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_the_origins_but_cannot_change_them(alice, role):
    services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    someone = MembershipFactory(tenant=alice.tenant, role=role).user
    client = log_in(Client(), someone, alice.tenant)
    page = client.get(reverse("api_keys")).text
    assert SHOP in page and "Save origins" not in page
    assert client.post(reverse("allowed_origins"), {"origins": ""}).status_code == 403
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == [SHOP]


def test_an_outsider_changes_only_their_own_workspace_from_the_page(alice, charlie):
    client = log_in(Client(), charlie.user, charlie.tenant)
    assert client.post(reverse("allowed_origins"), {"origins": SHOP}).status_code == 302
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == []
    # Charlie cannot act in Alice's workspace by choosing it in his session.
    client = log_in(Client(), charlie.user, alice.tenant)
    assert client.post(reverse("allowed_origins"), {"origins": SHOP}).status_code == 403
    assert Tenant.objects.get(pk=alice.tenant.pk).allowed_origins == []


def test_the_keys_page_creates_a_publishable_key_and_shows_its_kind(alice):
    client = log_in(Client(), alice.user, alice.tenant)
    response = client.post(
        reverse("api_keys"), {"name": "Web", "kind": "publishable", "scopes": ["read", "write"]}
    )
    assert response.status_code == 200
    assert 'value="pk_' in response.text
    assert "Publishable" in response.text and "quote, events" in response.text
    key = alice.tenant.apikeys.get(name="Web")
    assert key.kind == KeyKind.PUBLISHABLE and key.scopes == []


# --- CORS --------------------------------------------------------------------------------


def preflight(api, origin, path="/api/v1/quote/"):
    return api.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_a_preflight_from_a_listed_origin_is_answered(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    response = preflight(api, SHOP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert {"authorization", "content-type"} <= set(response["Access-Control-Allow-Headers"].split(", "))
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "origin" in response["Vary"].lower()
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_from_an_unlisted_origin_gets_no_cors_headers(api, alice):
    services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    response = preflight(api, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


def test_a_removed_origin_stops_being_admitted(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    assert preflight(api, SHOP)["Access-Control-Allow-Origin"] == SHOP
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_origins_set(tenant=alice.tenant, origins=[])
    assert "Access-Control-Allow-Origin" not in preflight(api, SHOP)


def test_ui_pages_get_no_cors_headers_even_for_a_listed_origin(alice):
    services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    response = Client().get("/login/", HTTP_ORIGIN=SHOP)
    assert "Access-Control-Allow-Origin" not in response


def test_a_bad_key_from_a_listed_origin_can_read_its_401(api, alice):
    services.tenant_origins_set(tenant=alice.tenant, origins=[SHOP])
    response = api.post(
        "/api/v1/quote/",
        {},
        format="json",
        HTTP_ORIGIN=SHOP,
        HTTP_AUTHORIZATION="Bearer pk_abcdefgh_" + "x" * 40,
    )
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_a_publishable_key_is_created_for_its_own_tenant_only(api, alice, charlie):
    response = api.post(
        "/api/v1/api-keys/", {"name": "Web", "kind": "publishable"}, format="json", **charlie.auth
    )
    assert response.status_code == 201
    assert not alice.tenant.apikeys.filter(kind=KeyKind.PUBLISHABLE).exists()
