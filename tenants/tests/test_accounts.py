import pytest
from django.urls import reverse

from tenants.models import Membership, Role, Tenant, User
from tenants.tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tenants.tests.helpers import log_in_staff

pytestmark = pytest.mark.django_db

SIGNUP = {
    "name": "Ada Shopkeeper",
    "email": "Ada@Example.com",
    "password": "a-long-and-unusual-passphrase",
    "tenant_name": "Ada's Tea Shop",
}


def test_signup_creates_the_tenant_and_its_owner_and_logs_in(client):
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    user = User.objects.get(email="ada@example.com")
    tenant = Tenant.objects.get(name="Ada's Tea Shop")
    assert tenant.slug == "adas-tea-shop"
    assert tenant.status == Tenant.Status.ACTIVE
    membership = Membership.objects.for_tenant(tenant).get()
    assert (membership.user, membership.role) == (user, Role.OWNER)
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    assert "Ada&#x27;s Tea Shop" in page.text


def test_signup_with_a_taken_email_shows_the_error_next_to_the_field(client):
    UserFactory(email="ada@example.com")
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 200
    assert "already exists" in response.text
    assert Tenant.objects.count() == 0


def test_signup_refuses_a_weak_password(client):
    response = client.post(reverse("signup"), {**SIGNUP, "password": "password"})
    assert response.status_code == 200
    assert "too common" in response.text
    assert not User.objects.filter(email="ada@example.com").exists()


def test_two_signups_with_the_same_shop_name_get_distinct_slugs(client):
    client.post(reverse("signup"), SIGNUP)
    client.logout()
    client.post(reverse("signup"), {**SIGNUP, "email": "bob@example.com"})
    slugs = sorted(Tenant.objects.values_list("slug", flat=True))
    assert len(slugs) == 2 and slugs[0] == "adas-tea-shop" and slugs[1].startswith("adas-tea-shop-")


def test_login_by_email_in_any_case(client):
    user = MembershipFactory().user
    response = client.post(reverse("login"), {"username": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_wrong_password_is_refused(client):
    user = MembershipFactory().user
    response = client.post(reverse("login"), {"username": user.email, "password": "nope"})
    assert response.status_code == 200
    assert "correct email and password" in response.text


def test_dashboard_needs_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_in_two_tenants_switches_between_them(client):
    user = UserFactory()
    first = MembershipFactory(user=user, tenant=TenantFactory(name="Alpha Shop")).tenant
    second = MembershipFactory(user=user, tenant=TenantFactory(name="Beta Shop"), role=Role.VIEWER).tenant
    client.force_login(user)
    assert "<h1>Alpha Shop</h1>" in client.get(reverse("dashboard")).text
    response = client.post(reverse("tenant_switch"), {"tenant_id": second.pk})
    assert response.status_code == 302
    page = client.get(reverse("dashboard")).text
    assert "<h1>Beta Shop</h1>" in page and "your role: viewer" in page
    assert client.get("/api/v1/tenant/").json()["slug"] == second.slug
    client.post(reverse("tenant_switch"), {"tenant_id": first.pk})
    assert client.get("/api/v1/tenant/").json()["slug"] == first.slug


def test_switching_to_a_tenant_you_are_not_in_is_404(client):
    user = MembershipFactory().user
    outsider = TenantFactory()
    client.force_login(user)
    assert client.post(reverse("tenant_switch"), {"tenant_id": outsider.pk}).status_code == 404
    assert client.post(reverse("tenant_switch"), {"tenant_id": "x"}).status_code == 404
    assert client.get("/api/v1/tenant/").json()["slug"] != outsider.slug


def test_removed_member_loses_the_tenant_on_the_next_request(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    assert client.get("/api/v1/tenant/").status_code == 200
    Membership.objects.for_tenant(membership.tenant).filter(pk=membership.pk).delete()
    response = client.get("/api/v1/tenant/")
    assert response.status_code == 403
    assert response.json()["code"] == "no_tenant"


def test_user_without_a_tenant_is_sent_to_create_one(client):
    client.force_login(UserFactory())
    response = client.get(reverse("dashboard"))
    assert response["Location"] == reverse("tenant_new")
    response = client.post(reverse("tenant_new"), {"name": "Second Venture"})
    assert response.status_code == 302
    tenant = Tenant.objects.get(name="Second Venture")
    assert Membership.objects.for_tenant(tenant).get().role == Role.OWNER


def test_suspended_tenant_members_are_refused_in_the_ui(client):
    membership = MembershipFactory(tenant=TenantFactory(status=Tenant.Status.SUSPENDED))
    client.force_login(membership.user)
    assert client.get(reverse("dashboard")).status_code == 403
    response = client.get("/api/v1/tenant/")
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_suspended"


def test_login_is_rate_limited_per_ip(client, settings):
    settings.AUTH_RATE_LIMIT = "5/m"
    settings.AXES_FAILURE_LIMIT = 100  # the per-account lockout has tests of its own
    user = MembershipFactory().user
    codes = [
        client.post(reverse("login"), {"username": user.email, "password": "wrong"}).status_code
        for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    # Another address is not affected.
    other = client.post(
        reverse("login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="10.9.8.7"
    )
    assert other.status_code == 302


def test_customers_never_reach_admin(client):
    client.force_login(MembershipFactory().user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_suspend_a_tenant_from_admin_and_its_key_stops(client, api, django_capture_on_commit_callbacks):
    from tenants.tests.factories import api_key_for

    staff = UserFactory(is_staff=True, is_superuser=True)
    tenant = TenantFactory(name="Rogue Shop")
    _, secret = api_key_for(tenant)
    assert api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    log_in_staff(client, staff)
    listing = client.get("/admin/tenants/tenant/?status__exact=active&q=Rogue")
    assert listing.status_code == 200 and "Rogue Shop" in listing.text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [tenant.pk]}
        )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED
    response = api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.json()["code"] == "tenant_suspended"


def test_staff_see_keys_by_prefix_and_revoke_them(client, django_capture_on_commit_callbacks):
    from tenants.tests.factories import api_key_for

    staff = UserFactory(is_staff=True, is_superuser=True)
    tenant = MembershipFactory().tenant
    key, secret = api_key_for(tenant, name="Leaked key")
    log_in_staff(client, staff)
    listing = client.get("/admin/tenants/apikey/")
    assert key.prefix in listing.text and secret not in listing.text
    detail = client.get(f"/admin/tenants/apikey/{key.pk}/change/")
    assert detail.status_code == 200 and key.key_hash not in detail.text
    assert client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_member_removed_from_the_chosen_tenant_is_not_moved_to_another(client):
    user = UserFactory()
    kept = MembershipFactory(user=user, tenant=TenantFactory(name="Alpha Shop"))
    left = MembershipFactory(user=user, tenant=TenantFactory(name="Beta Shop"))
    client.force_login(user)
    client.post(reverse("tenant_switch"), {"tenant_id": left.tenant_id})
    Membership.objects.for_tenant(left.tenant).filter(pk=left.pk).delete()
    response = client.post("/api/v1/api-keys/", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "no_tenant"
    page = client.get(reverse("dashboard"), follow=True)
    assert "no longer a member" in page.text
    assert f"<h1>{kept.tenant.name}</h1>" in page.text


def test_a_huge_tenant_id_is_404_not_500(client):
    client.force_login(MembershipFactory().user)
    assert client.post(reverse("tenant_switch"), {"tenant_id": "9" * 30}).status_code == 404


def test_admin_login_is_rate_limited(client, settings):
    settings.AUTH_RATE_LIMIT = "5/m"
    codes = [
        client.post("/admin/login/", {"username": "a@b.c", "password": "wrong"}).status_code for _ in range(6)
    ]
    assert codes[-1] == 429


def test_staff_admin_pages_of_every_model_render(client):
    from experiments import services as experiment_services
    from experiments.tests.conftest import VARIANTS
    from pricing import services as pricing_services
    from tenants.tests.factories import api_key_for

    tenant = MembershipFactory().tenant
    api_key_for(tenant)
    product = pricing_services.product_create(
        tenant=tenant, sku="p", name="P", currency="EUR", base_price="1"
    )
    experiment_services.experiment_create(
        tenant=tenant, product=product, key="e", name="E", variants=VARIANTS
    )
    log_in_staff(client, UserFactory(is_staff=True, is_superuser=True))
    for model in [
        "tenants/tenant",
        "tenants/membership",
        "tenants/apikey",
        "tenants/user",
        "pricing/product",
        "experiments/experiment",
        "experiments/exposure",
        "experiments/conversion",
    ]:
        listing = client.get(f"/admin/{model}/")
        assert listing.status_code == 200, model
    assert client.get(f"/admin/pricing/product/{product.pk}/change/").status_code == 200
