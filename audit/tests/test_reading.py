"""Who reads the log: owners and admins their own tenant's (API and page), staff every
tenant's in admin; nobody else, and nobody edits it."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEntry
from billing.groups import FINANCE, STAFF
from pricing import services as pricing_services
from tenants import services as tenant_services
from tenants.models import Role, Scope
from tenants.tests.factories import MembershipFactory, UserFactory, api_key_for
from tenants.tests.helpers import log_in, log_in_staff

pytestmark = pytest.mark.django_db

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}


@pytest.fixture
def history(alice):
    """Alice's shop: a product, two price changes by Alice, a key revoked by staff."""
    tea = pricing_services.product_create(tenant=alice.tenant, changed_by=alice.user, **TEA)
    for price in ("11.00", "12.00"):
        pricing_services.price_change(product=tea, price=price, source="manual", changed_by=alice.user)
    staff = UserFactory(is_staff=True, email="operator@pricelab.test")
    key, _ = api_key_for(alice.tenant, name="Old")
    tenant_services.api_key_revoke(api_key=key, by=Actor.staff(staff))
    return tea


def test_an_owner_reads_the_log_newest_first_over_the_api(api, alice, history):
    response = api.get("/api/v1/audit/", **alice.auth)
    assert response.status_code == 200
    body = response.json()
    actions = [e["action"] for e in body["results"]]
    assert actions[:4] == ["apikey.revoked", "apikey.created", "price.changed", "price.changed"]
    latest_price = body["results"][2]
    assert latest_price["actor"] == {"kind": "user", "label": alice.user.email, "id": alice.user.pk}
    assert latest_price["object"] == {"type": "product", "id": str(history.pk), "label": "tea (Tea)"}
    assert (latest_price["before"], latest_price["after"]) == (
        {"base_price": "11.00"},
        {"base_price": "12.00"},
    )


def test_staff_are_shown_to_customers_as_pricelab_staff_without_address(api, alice, history):
    entry = api.get("/api/v1/audit/?action=apikey.revoked", **alice.auth).json()["results"][0]
    assert entry["actor"] == {"kind": "staff", "label": "Pricelab staff", "id": None}
    assert entry["ip_address"] is None and entry["user_agent"] == ""
    assert api.get("/api/v1/audit/?actor=operator@pricelab.test", **alice.auth).json()["results"] == []


def test_the_api_filters_by_action_family_actor_object_and_dates_and_paginates(api, alice, history):
    def results(query):
        response = api.get(f"/api/v1/audit/?{query}", **alice.auth)
        assert response.status_code == 200, response.json()
        return response.json()

    assert len(results("action=price.changed")["results"]) == 2
    assert {e["action"] for e in results("action=product.")["results"]} == {"product.created"}
    assert len(results(f"actor={alice.user.email.upper()}")["results"]) == 3
    assert len(results(f"object_type=product&object_id={history.pk}")["results"]) == 3
    assert results("actor_kind=staff")["results"][0]["action"] == "apikey.revoked"
    assert results("since=2999-01-01T00:00:00Z")["results"] == []
    assert len(results("until=2999-01-01T00:00:00Z")["results"]) >= 5
    first = results("limit=2")
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"], **alice.auth).json()
    assert {e["id"] for e in second["results"]}.isdisjoint({e["id"] for e in first["results"]})


def test_bad_filters_are_a_400_with_the_error_shape(api, alice):
    for query in ("since=yesterday", "actor_kind=robot", "action=" + "x" * 65, "cursor=forged"):
        response = api.get(f"/api/v1/audit/?{query}", **alice.auth)
        assert response.status_code == 400, query
        assert response.json()["code"] in ("validation_error", "invalid_cursor")


def test_an_outsider_sees_none_of_our_entries_over_the_api_or_the_page(api, client, alice, charlie, history):
    body = api.get("/api/v1/audit/", **charlie.auth).json()
    ours = set(AuditEntry.objects.for_tenant(alice.tenant).values_list("id", flat=True))
    assert ours and not ours & {e["id"] for e in body["results"]}
    assert (
        api.get(f"/api/v1/audit/?object_type=product&object_id={history.pk}", **charlie.auth).json()[
            "results"
        ]
        == []
    )
    log_in(client, charlie.user, charlie.tenant)
    page = client.get(reverse("audit_log"))
    assert page.status_code == 200
    assert "tea (Tea)" not in page.content.decode()
    assert f'data-entry="{max(ours)}"' not in page.content.decode()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_read_the_log(api, client, alice, history, role):
    person = MembershipFactory(tenant=alice.tenant, role=role).user
    log_in(client, person, alice.tenant)
    response = client.get("/api/v1/audit/")
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    assert client.get(reverse("audit_log")).status_code == 403
    assert "Audit log" not in client.get(reverse("dashboard")).content.decode()


def test_a_key_without_the_admin_scope_cannot_read_the_log(api, alice):
    _, secret = api_key_for(alice.tenant, scopes=(Scope.READ, Scope.WRITE))
    response = api.get("/api/v1/audit/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"


def test_an_admin_reads_the_page_with_filters_and_pages(client, alice, history):
    admin = MembershipFactory(tenant=alice.tenant, role=Role.ADMIN).user
    log_in(client, admin, alice.tenant)
    page = client.get(reverse("audit_log"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Audit log" in text and "Base price changed" in text and "Pricelab staff" in text
    assert "operator@pricelab.test" not in text
    assert "<script>" not in text.split("</header>")[-1] and "style=" not in text
    filtered = client.get(reverse("audit_log"), {"action": "apikey.revoked"})
    assert [e.action for e in filtered.context["entries"]] == ["apikey.revoked"]
    assert "<td>API key revoked" in filtered.content.decode()
    assert client.get(reverse("audit_log"), {"since": "not a date"}).status_code == 400


def test_the_page_goes_back_in_time_by_older_and_newer_links(client, alice, history, monkeypatch):
    from audit import views

    monkeypatch.setattr(views, "ENTRIES_PER_PAGE", 2)
    log_in(client, alice.user, alice.tenant)
    first = client.get(reverse("audit_log"))
    older = first.context["older"]
    assert older and not first.context["newer"]
    second = client.get(reverse("audit_log") + "?" + older)
    first_ids = {e.pk for e in first.context["entries"]}
    second_ids = {e.pk for e in second.context["entries"]}
    assert len(second_ids) == 2 and first_ids.isdisjoint(second_ids) and max(second_ids) < min(first_ids)
    back = client.get(reverse("audit_log") + "?" + second.context["newer"])
    assert {e.pk for e in back.context["entries"]} == first_ids


def test_staff_see_every_tenants_entries_in_admin_and_cannot_change_or_delete_them(
    client, alice, charlie, history
):
    pricing_services.product_create(tenant=charlie.tenant, **{**TEA, "sku": "cocoa", "name": "Cocoa"})
    staff = UserFactory(is_staff=True, is_superuser=True)
    log_in_staff(client, staff)
    listing = client.get(reverse("admin:audit_auditentry_changelist"), {"q": "cocoa"})
    assert listing.status_code == 200 and "cocoa (Cocoa)" in listing.content.decode()
    by_tenant = client.get(
        reverse("admin:audit_auditentry_changelist"), {"tenant__id__exact": alice.tenant.pk}
    )
    assert by_tenant.status_code == 200 and "cocoa" not in by_tenant.content.decode()
    entry = AuditEntry.objects.for_tenant(alice.tenant).filter(action="price.changed").first()
    change_url = reverse("admin:audit_auditentry_change", args=[entry.pk])
    assert client.get(change_url).status_code == 200  # readable
    assert client.post(change_url, {"action": "price.forged"}).status_code == 403
    assert (
        client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    bulk = client.post(
        reverse("admin:audit_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.action == "price.changed"
    assert AuditEntry.objects.for_tenant(alice.tenant).filter(pk=entry.pk).exists()


@pytest.mark.parametrize("group", [FINANCE, STAFF])
def test_finance_and_staff_groups_read_the_log_in_admin(client, alice, history, group):
    person = UserFactory(is_staff=True)
    person.groups.add(Group.objects.get(name=group))
    log_in_staff(client, person)
    listing = client.get(reverse("admin:audit_auditentry_changelist"))
    assert listing.status_code == 200 and "apikey.revoked" in listing.content.decode()
    entry = AuditEntry.objects.for_tenant(alice.tenant).first()
    assert (
        client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
