import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import apikeys, services
from tenants.models import ApiKey, Scope
from tenants.tests.factories import api_key_for

pytestmark = pytest.mark.django_db


def test_key_authenticates_and_sees_its_tenant(api, alice):
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == alice.tenant.slug
    assert body["status"] == "active"
    assert body["via"] == "api_key"
    assert body["scopes"] == ["admin", "read", "write"]


def test_no_credentials_get_401_with_code(api):
    response = api.get("/api/v1/tenant/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Bearer pl_abcdefgh_" + "x" * 40, "Bearer", "Bearer a b", "Bearer ünïcode"],
)
def test_bad_keys_get_401_invalid_api_key(api, alice, header):
    response = api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_a_key_with_a_wrong_secret_for_a_real_prefix_is_refused(api, alice):
    forged = alice.key.prefix + "_" + "A" * 40
    response = api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_revoked_key_gets_401_at_once(api, alice, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 200  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/api-keys/{alice.key.pk}/", **alice.auth)
    assert response.status_code == 204
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 401
    assert response.json() == {
        "code": "api_key_revoked",
        "message": "This API key has been revoked.",
        "details": None,
    }
    alice.key.refresh_from_db()
    assert alice.key.revoked_at is not None


def test_suspended_tenant_gets_403_and_reactivation_restores_access(
    api, alice, django_capture_on_commit_callbacks
):
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_suspend(tenant=alice.tenant)
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_suspended"
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_reactivate(tenant=alice.tenant)
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 200


def test_list_shows_only_own_keys(api, alice, charlie):
    api_key_for(charlie.tenant, name="Charlie's second key")
    response = api.get("/api/v1/api-keys/", **alice.auth)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["prefix"] for row in rows] == [alice.key.prefix]
    assert all("secret" not in row and "key_hash" not in row for row in rows)


def test_another_tenants_key_is_404_and_untouched(api, alice, charlie):
    url = f"/api/v1/api-keys/{charlie.key.pk}/"
    for response in (api.get(url, **alice.auth), api.delete(url, **alice.auth)):
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "message": "Not found.", "details": None}
    charlie.key.refresh_from_db()
    assert charlie.key.revoked_at is None
    assert api.get("/api/v1/tenant/", **charlie.auth).status_code == 200


def test_non_numeric_id_is_a_json_404(api, alice):
    response = api.get("/api/v1/api-keys/abc/", **alice.auth)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_admin_only_key_issues_keys_with_the_scopes_it_holds(api, alice):
    _, secret = api_key_for(alice.tenant, scopes=[Scope.READ, Scope.ADMIN])
    response = api.post("/api/v1/api-keys/", {"name": "Reader"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 201
    assert response.json()["scopes"] == ["read"]


def test_create_returns_the_secret_once_and_it_works(api, alice):
    response = api.post("/api/v1/api-keys/", {"name": "Storefront", "scopes": ["read"]}, **alice.auth)
    assert response.status_code == 201
    created = response.json()
    assert created["scopes"] == ["read"]
    assert created["secret"].startswith(created["prefix"] + "_")
    listed = api.get(f"/api/v1/api-keys/{created['id']}/", **alice.auth).json()
    assert "secret" not in listed
    new_auth = {"HTTP_AUTHORIZATION": f"Bearer {created['secret']}"}
    assert api.get("/api/v1/tenant/", **new_auth).json()["scopes"] == ["read"]
    # A read-only key can look but not write.
    response = api.post("/api/v1/api-keys/", {"name": "x"}, **new_auth)
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_create_defaults_to_read_and_write(api, alice):
    response = api.post("/api/v1/api-keys/", {"name": "Server"}, **alice.auth)
    assert response.json()["scopes"] == ["read", "write"]


def test_a_key_cannot_grant_scopes_it_does_not_hold(api, alice):
    _, secret = api_key_for(alice.tenant, scopes=[Scope.READ, Scope.ADMIN])
    response = api.post(
        "/api/v1/api-keys/",
        {"name": "Sneaky", "scopes": ["read", "write"]},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert "write" in body["details"]["scopes"][0]
    assert not ApiKey.objects.for_tenant(alice.tenant).filter(name="Sneaky").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "scopes": []}, "scopes"),
        ({"name": "ok", "scopes": ["root"]}, "scopes"),
        ({"name": "ok", "scopes": "read"}, "scopes"),
    ],
)
def test_invalid_create_gets_400_with_the_field(api, alice, payload, field):
    response = api.post("/api/v1/api-keys/", payload, format="json", **alice.auth)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["details"]


def test_malformed_json_gets_400_parse_error(api, alice):
    response = api.generic(
        "POST", "/api/v1/api-keys/", "{not json", content_type="application/json", **alice.auth
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_the_secret_is_stored_nowhere_in_the_database(api, alice, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post("/api/v1/api-keys/", {"name": "Checkout"}, **alice.auth)
    secret = response.json()["secret"]
    secret_part = secret.split("_")[-1]
    api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    dumped = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dumped.extend(repr(row) for row in cursor.fetchall())
    everything = "\n".join(dumped)
    assert alice.key.prefix in everything  # the dump really holds the keys table
    assert secret_part not in everything
    assert secret_part not in caplog.text


def test_warm_authentication_makes_no_query(alice):
    assert apikeys.lookup(alice.secret) is not None  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        record = apikeys.lookup(alice.secret)
    assert record.tenant_id == alice.tenant.pk
    assert len(queries) == 0


def test_last_used_is_recorded_at_most_once_a_minute(api, alice, django_capture_on_commit_callbacks):
    assert alice.key.last_used_at is None
    api.get("/api/v1/tenant/", **alice.auth)
    alice.key.refresh_from_db()
    first = alice.key.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/api-keys/", **alice.auth)
    assert not any("UPDATE" in q["sql"] and "last_used_at" in q["sql"] for q in queries)
    alice.key.refresh_from_db()
    assert alice.key.last_used_at == first


def test_session_user_uses_the_api_with_role_scopes(api, alice):
    api.force_login(alice.user)
    body = api.get("/api/v1/tenant/").json()
    assert body["via"] == "session"
    assert body["slug"] == alice.tenant.slug


def test_viewer_session_cannot_create_keys(api, alice):
    from tenants.tests.factories import MembershipFactory

    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user
    api.force_login(viewer)
    assert api.get("/api/v1/api-keys/").status_code == 200
    response = api.post("/api/v1/api-keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_a_revoke_racing_a_cache_miss_cannot_resurrect_the_key(alice, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from tenants.apikeys import KeyRecord

    stale = KeyRecord.of(ApiKey.objects.for_tenant(alice.tenant).select_related("tenant").get())
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(api_key=alice.key)
    # The slow request that read the key before the revoke now tries to cache it.
    cache.add(f"apikey:{alice.key.prefix}", stale, 300)
    assert apikeys.lookup(alice.secret).revoked


def test_a_deleted_tenants_keys_stop_at_once(api, alice, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/tenant/", **alice.auth).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_delete(tenant=alice.tenant)
    response = api.get("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


@pytest.mark.parametrize("cursor", ["cD1hYmMmcj0w", "not*base64", "cj1ub3RhbnVtYmVy"])
def test_a_forged_cursor_is_400_not_500(api, alice, cursor):
    # "p=abc&r=0" and "r=notanumber", base64-encoded, and something that is not base64.
    response = api.get(f"/api/v1/api-keys/?cursor={cursor}", **alice.auth)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_pages_walk_the_whole_list(api, alice):
    for i in range(4):
        api_key_for(alice.tenant, name=f"k{i}")
    seen, url = [], "/api/v1/api-keys/?limit=2"
    while url:
        body = api.get(url, **alice.auth).json()
        seen += [row["name"] for row in body["results"]]
        url = body["next"]
    assert seen == ["k3", "k2", "k1", "k0", "Test key"]
