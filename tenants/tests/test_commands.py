from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.models import ApiKey, Membership, Role, Tenant, User
from tenants.tests.factories import TenantFactory, UserFactory
from tenants.tests.helpers import password_works

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_tenant_create_makes_a_new_owner_with_a_printed_password(client):
    lines = run("tenant_create", "--name", "Nordic Outdoor", "--owner-email", "Ola@Example.com")
    assert lines[0] == "tenant: nordic-outdoor"
    password = lines[-1].removeprefix("password: ")
    tenant = Tenant.objects.get(slug="nordic-outdoor")
    owner = Membership.objects.for_tenant(tenant).get(role=Role.OWNER).user
    assert owner.email == "ola@example.com"
    assert password_works("ola@example.com", password)


def test_tenant_create_for_an_existing_user_prints_no_password():
    user = UserFactory()
    lines = run("tenant_create", "--name", "Second Shop", "--owner-email", user.email)
    assert not any(line.startswith("password") for line in lines)
    assert Membership.objects.for_tenant(Tenant.objects.get(name="Second Shop")).get().user == user


def test_tenant_create_refuses_an_invalid_email():
    with pytest.raises(CommandError):
        run("tenant_create", "--name", "X", "--owner-email", "not-an-email")


def test_apikey_create_prints_the_secret_alone_on_the_last_line(api):
    tenant = TenantFactory()
    lines = run("apikey_create", "--tenant", tenant.slug, "--name", "Checkout", "--scopes", "read")
    secret = lines[-1]
    assert secret.startswith("pl_") and " " not in secret
    response = api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["scopes"] == ["read"]


def test_apikey_create_refuses_unknown_tenant_and_scope():
    tenant = TenantFactory()
    with pytest.raises(CommandError, match="No tenant"):
        run("apikey_create", "--tenant", "nope", "--name", "x")
    with pytest.raises(CommandError, match="Choose one or more"):
        run("apikey_create", "--tenant", tenant.slug, "--name", "x", "--scopes", "root")
    assert not ApiKey.objects.for_tenant(tenant).exists()


def test_seed_demo_prints_working_credentials_and_rotates_its_key(client, api, settings):
    settings.DEBUG = True
    first = "\n".join(run("seed_demo"))
    second = "\n".join(run("seed_demo"))
    secret_1 = first.split("Bearer ")[1].split('"')[0]
    secret_2 = second.split("Bearer ")[1].split('"')[0]
    password = second.split("demo@pricelab.local / ")[1].split()[0]
    assert password_works("demo@pricelab.local", password)
    assert api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret_2}").status_code == 200
    assert api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret_1}").status_code == 401
    assert Tenant.objects.filter(name="Demo Shop").count() == 1
    assert User.objects.get(email="admin@pricelab.local").is_staff
    quote = api.post(
        "/api/v1/quote/",
        {"visitor_id": "v1", "products": ["tea-1kg"]},
        HTTP_AUTHORIZATION=f"Bearer {secret_2}",
    ).json()["items"][0]
    assert quote["experiment"] == "tea-price" and quote["price"] in ("24.90", "27.90")
    assert "simulate_traffic --experiment tea-price" in second


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        run("seed_demo")
