"""Each kind of change leaves one entry with the right actor, before and after; a change
that is rolled back leaves none; no entry ever holds a secret."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.actors import Actor
from audit.models import AppendOnlyError, AuditEntry
from billing.models import BillingAccount, Plan
from billing.services import account_ensure
from billing.tests.stripe_standin import (  # noqa: F401 (the fixture)
    PRICE_IDS,
    deliver,
    stripe_standin_fixture,
)
from experiments import services as experiment_services
from pricing import services as pricing_services
from pricing.models import Product
from tenants import services as tenant_services
from tenants.models import ApiKey, Invitation, Membership, Role
from tenants.tests.factories import MembershipFactory, UserFactory
from tenants.tests.helpers import log_in, log_in_staff, password_works

pytestmark = pytest.mark.django_db

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}
VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


def entries(tenant, action=None):
    found = AuditEntry.objects.for_tenant(tenant).order_by("id")
    return list(found.filter(action=action) if action else found)


def only(tenant, action):
    found = entries(tenant, action)
    assert len(found) == 1, [e.action for e in entries(tenant)]
    return found[0]


@pytest.fixture
def tea(alice):
    return pricing_services.product_create(tenant=alice.tenant, **TEA)


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True, email="operator@pricelab.test")
    log_in_staff(client, staff)
    client.staff = staff
    return client


# --- Prices ---------------------------------------------------------------------------------


def test_a_price_change_over_the_api_records_the_key_the_old_and_new_price_and_the_request(api, alice, tea):
    response = api.patch(
        "/api/v1/products/tea/",
        {"base_price": "12.50"},
        format="json",
        HTTP_USER_AGENT="shop-backend/2.1",
        HTTP_X_REQUEST_ID="req-1234abcd",
        REMOTE_ADDR="203.0.113.9",
        **alice.auth,
    )
    assert response.status_code == 200
    entry = only(alice.tenant, "price.changed")
    assert (entry.actor_kind, entry.actor_label, entry.actor_api_key_id) == (
        "api_key",
        alice.key.prefix,
        alice.key.pk,
    )
    assert (entry.before, entry.after) == ({"base_price": "10.00"}, {"base_price": "12.50"})
    assert (entry.object_type, entry.object_id, entry.object_label) == ("product", str(tea.pk), "tea (Tea)")
    assert (entry.request_id, entry.ip_address, entry.user_agent) == (
        "req-1234abcd",
        "203.0.113.9",
        "shop-backend/2.1",
    )
    assert response["X-Request-ID"] == "req-1234abcd"


def test_a_price_edit_on_the_page_records_the_person(client, alice, tea):
    log_in(client, alice.user, alice.tenant)
    response = client.post(reverse("product_edit", args=["tea"]), {"name": "Green tea", "price": "11.00"})
    assert response.status_code == 302
    price = only(alice.tenant, "price.changed")
    assert (price.actor_kind, price.actor_label, price.actor_user_id) == (
        "user",
        alice.user.email,
        alice.user.pk,
    )
    renamed = only(alice.tenant, "product.updated")
    assert (renamed.before, renamed.after) == ({"name": "Tea"}, {"name": "Green tea"})
    assert len(price.request_id) == 32  # none came in: one was made


def test_an_unchanged_price_records_nothing(alice, tea):
    pricing_services.price_change(product=tea, price="10.00", source="manual", changed_by=alice.user)
    assert entries(alice.tenant, "price.changed") == []


def test_a_rolled_back_change_leaves_no_entry(alice, tea):
    with pytest.raises(RuntimeError), transaction.atomic():
        pricing_services.price_change(product=tea, price="99.00", source="manual", changed_by=alice.user)
        raise RuntimeError("the rest of the change failed")
    assert entries(alice.tenant, "price.changed") == []
    assert Product.objects.for_tenant(alice.tenant).get().base_price == 10


def test_a_refused_price_edit_leaves_no_entry(client, alice, tea):
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=tea, key="tea-price", name="Tea price", variants=VARIANTS
    )
    experiment_services.experiment_start(experiment=experiment)
    log_in(client, alice.user, alice.tenant)
    response = client.post(reverse("product_edit", args=["tea"]), {"name": "Tea", "price": "11.00"})
    assert response.status_code == 409
    assert entries(alice.tenant, "price.changed") == []


# --- Experiments --------------------------------------------------------------------------


def test_the_experiment_lifecycle_records_each_step_with_its_actor(api, alice, tea):
    body = {"key": "tea-price", "name": "Tea price", "product": "tea", "variants": VARIANTS}
    assert api.post("/api/v1/experiments/", body, format="json", **alice.auth).status_code == 201
    changed = {"variants": [VARIANTS[0], {**VARIANTS[1], "price": "13.00"}]}
    assert (
        api.patch("/api/v1/experiments/tea-price/", changed, format="json", **alice.auth).status_code == 200
    )
    for step in ("start", "pause", "start"):
        assert api.post(f"/api/v1/experiments/tea-price/{step}/", **alice.auth).status_code == 200
    complete = {"winner": "higher", "rollout": True}
    assert (
        api.post("/api/v1/experiments/tea-price/complete/", complete, format="json", **alice.auth).status_code
        == 200
    )
    assert api.post("/api/v1/experiments/tea-price/archive/", **alice.auth).status_code == 200

    log = [e for e in entries(alice.tenant) if e.object_type == "experiment"]
    assert [e.action for e in log] == [
        "experiment.created", "experiment.updated", "experiment.started", "experiment.paused",
        "experiment.resumed", "experiment.completed", "experiment.archived",
    ]  # fmt: skip
    assert {(e.actor_kind, e.actor_label) for e in log} == {("api_key", alice.key.prefix)}
    created, updated, started, paused, _, completed, archived = log
    assert created.after["variants"][1] == {
        "key": "higher", "price": "12.00", "weight": "0.50000", "is_control": False,
    }  # fmt: skip
    assert (
        updated.before["variants"][1]["price"] == "12.00" and updated.after["variants"][1]["price"] == "13.00"
    )
    assert set(updated.after) == {"variants"}  # only what changed
    assert (started.before, started.after) == ({"status": "draft"}, {"status": "running"})
    assert (paused.before, paused.after) == ({"status": "running"}, {"status": "paused"})
    assert completed.after == {"status": "completed", "winner": "higher", "rollout": True}
    assert (archived.before, archived.after) == ({"status": "completed"}, {"status": "archived"})
    # The rollout changed the price, by the same key.
    rollout = only(alice.tenant, "price.changed")
    assert (rollout.after, rollout.actor_label) == ({"base_price": "13.00"}, alice.key.prefix)


def test_an_automatic_pause_is_recorded_as_pricelabs_own(alice, tea):
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=tea, key="tea-price", name="Tea price", variants=VARIANTS
    )
    experiment_services.experiment_start(experiment=experiment, changed_by=alice.user)
    experiment_services.experiment_pause(experiment=experiment)  # as the beat task calls it
    paused = only(alice.tenant, "experiment.paused")
    assert (paused.actor_kind, paused.actor_label) == ("system", "system")


# --- Keys, members, invitations -------------------------------------------------------------


def test_issuing_and_revoking_a_key_records_both_without_the_secret(api, alice):
    response = api.post(
        "/api/v1/api-keys/", {"name": "Checkout", "scopes": ["read"]}, format="json", **alice.auth
    )
    assert response.status_code == 201
    secret, key_id = response.json()["secret"], response.json()["id"]
    (created,) = [e for e in entries(alice.tenant, "apikey.created") if e.object_id == str(key_id)]
    new_key = ApiKey.objects.for_tenant(alice.tenant).get(pk=key_id)
    assert created.after == {
        "name": "Checkout",
        "prefix": new_key.prefix,
        "kind": "secret",
        "scopes": ["read"],
    }
    assert (created.actor_kind, created.actor_label) == ("api_key", alice.key.prefix)
    assert api.delete(f"/api/v1/api-keys/{key_id}/", **alice.auth).status_code == 204
    revoked = only(alice.tenant, "apikey.revoked")
    assert revoked.before == {"revoked_at": None} and revoked.after["revoked_at"]
    assert revoked.object_label == f"Checkout ({new_key.prefix}…)"
    dumped = json.dumps([[e.before, e.after, e.object_label] for e in entries(alice.tenant)])
    assert secret not in dumped and new_key.key_hash not in dumped


def test_changing_a_role_and_removing_a_member_record_who_did_it(client, alice):
    bob = MembershipFactory(tenant=alice.tenant, role=Role.MEMBER, user__email="bob@example.com")
    log_in(client, alice.user, alice.tenant)
    assert client.post(reverse("member_role", args=[bob.pk]), {"role": "admin"}).status_code == 302
    role = only(alice.tenant, "member.role_changed")
    assert (role.before, role.after, role.object_label) == (
        {"role": "member"},
        {"role": "admin"},
        "bob@example.com",
    )
    assert role.actor_label == alice.user.email
    assert client.post(reverse("member_remove", args=[bob.pk])).status_code == 302
    removed = only(alice.tenant, "member.removed")
    assert (removed.before, removed.after, removed.actor_label) == ({"role": "admin"}, None, alice.user.email)


def test_an_invitation_is_recorded_without_its_token(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    log_in(client, alice.user, alice.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("team"), {"email": "new@example.com", "role": "viewer"})
    assert response.status_code == 302
    sent = only(alice.tenant, "invitation.sent")
    assert (sent.after["email"], sent.after["role"], sent.actor_label) == (
        "new@example.com",
        "viewer",
        alice.user.email,
    )
    token = mailoutbox[0].body.split("/invitations/")[1].split("/")[0]
    invitation = Invitation.objects.for_tenant(alice.tenant).get()
    dumped = json.dumps([e.after for e in entries(alice.tenant)])
    assert token not in dumped and invitation.token_hash not in dumped


# --- Webhook endpoints ----------------------------------------------------------------------


def test_webhook_endpoint_changes_are_recorded_without_the_signing_secret(api, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["price.changed"], "description": "Shop"}
    response = api.post("/api/v1/webhooks/", body, format="json", **alice.auth)
    assert response.status_code == 201
    endpoint_id, secret = response.json()["id"], response.json()["secret"]
    assert (
        api.patch(
            f"/api/v1/webhooks/{endpoint_id}/", {"active": False}, format="json", **alice.auth
        ).status_code
        == 200
    )
    assert api.delete(f"/api/v1/webhooks/{endpoint_id}/", **alice.auth).status_code == 204
    created, updated, deleted = (
        only(alice.tenant, f"webhook.endpoint_{verb}") for verb in ("created", "updated", "deleted")
    )
    assert created.after == {
        "url": "http://127.0.0.1:9/hook", "description": "Shop", "event_types": ["price.changed"],
        "active": True,
    }  # fmt: skip
    assert (updated.before, updated.after) == ({"active": True}, {"active": False})
    assert deleted.before["url"] == "http://127.0.0.1:9/hook" and deleted.after is None
    assert {e.actor_label for e in (created, updated, deleted)} == {alice.key.prefix}
    assert secret not in json.dumps([[e.before, e.after] for e in entries(alice.tenant)])


# --- Plans: from Stripe and from staff --------------------------------------------------------


def test_a_plan_change_from_a_stripe_event_is_recorded_as_stripes(
    client, stripe_standin, alice, django_capture_on_commit_callbacks
):
    from billing import stripe_gateway

    customer = stripe_gateway.customer_ensure(account_ensure(tenant=alice.tenant))
    sub = stripe_standin.subscription_put(
        customer=customer, price=PRICE_IDS["pro"], metadata={"tenant_id": str(alice.tenant.pk)}
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, stripe_standin.event("customer.subscription.created", sub))
    assert response.status_code == 200
    entry = only(alice.tenant, "plan.changed")
    assert (entry.actor_kind, entry.actor_label) == ("stripe", "stripe")
    assert entry.before == {"plan": "free", "subscription_status": ""}
    assert entry.after == {"plan": "pro", "subscription_status": "active"}


def test_a_plan_override_in_admin_is_recorded_as_the_staff_member(staff_client, alice):
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    enterprise = Plan.objects.get(code="enterprise")
    url = reverse("admin:billing_billingaccount_change", args=[account.pk])
    response = staff_client.post(
        url,
        {
            "plan": enterprise.pk,
            "monthly_units_override": "",
            "requests_per_minute_override": "",
            "override_reason": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    entry = only(alice.tenant, "plan.changed")
    assert (entry.actor_kind, entry.actor_label, entry.actor_user_id) == (
        "staff",
        "operator@pricelab.test",
        staff_client.staff.pk,
    )
    assert (entry.before, entry.after) == (
        {"plan": Plan.objects.get(code="free").pk},
        {"plan": enterprise.pk},
    )


def test_editing_a_plans_terms_in_admin_is_recorded_for_no_tenant(staff_client):
    starter = Plan.objects.get(code="starter")
    url = reverse("admin:billing_plan_change", args=[starter.pk])
    form = {
        "code": starter.code, "name": starter.name, "monthly_price": "12.00",
        "monthly_units": starter.monthly_units, "requests_per_minute": starter.requests_per_minute,
        "overage": "", "position": starter.position,
        "public": "on" if starter.public else "",
    }  # fmt: skip
    if starter.overage:
        form["overage"] = "on"
    assert staff_client.post(url, form).status_code == 302
    entry = AuditEntry.objects.unscoped().get(action="plan.edited")
    assert entry.tenant_id is None and entry.actor_kind == "staff"
    assert (entry.before, entry.after) == ({"monthly_price": "9.00"}, {"monthly_price": "12.00"})


def test_staff_actions_in_admin_record_the_staff_member(staff_client, alice):
    url = reverse("admin:tenants_tenant_changelist")
    staff_client.post(url, {"action": "suspend", "_selected_action": [alice.tenant.pk]})
    suspended = only(alice.tenant, "tenant.suspended")
    assert (suspended.actor_kind, suspended.before, suspended.after) == (
        "staff",
        {"status": "active"},
        {"status": "suspended"},
    )
    staff_client.post(
        reverse("admin:tenants_apikey_changelist"), {"action": "revoke", "_selected_action": [alice.key.pk]}
    )
    assert only(alice.tenant, "apikey.revoked").actor_label == "operator@pricelab.test"


def test_a_role_changed_by_staff_in_the_tenants_admin_page_is_recorded(staff_client, alice):
    joined = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    bob = MembershipFactory(tenant=alice.tenant, role=Role.MEMBER, created_at=joined)
    url = reverse("admin:tenants_membership_change", args=[bob.pk])
    with timezone.override(UTC):
        form = {"user": bob.user.pk, "tenant": alice.tenant.pk, "role": "viewer"}
        response = staff_client.post(url, {**form, "created_at_0": "2026-01-05", "created_at_1": "09:30:00"})
    assert response.status_code == 302, response.content[:1500]
    entry = only(alice.tenant, "member.role_changed")
    assert (entry.before, entry.after, entry.actor_kind) == ({"role": "member"}, {"role": "viewer"}, "staff")
    assert Membership.objects.for_tenant(alice.tenant).get(pk=bob.pk).role == "viewer"


# --- Append-only --------------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted_through_the_orm_or_sql(alice, tea):
    pricing_services.price_change(product=tea, price="11.00", source="manual", changed_by=alice.user)
    entry = only(alice.tenant, "price.changed")
    entry.action = "price.forged"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.for_tenant(alice.tenant).update(action="price.forged")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.for_tenant(alice.tenant).delete()
    for sql in ("UPDATE audit_auditentry SET action = 'x'", "DELETE FROM audit_auditentry"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert only(alice.tenant, "price.changed").action == "price.changed"


def test_a_tenants_log_outlives_the_tenant(alice, tea):
    pricing_services.price_change(product=tea, price="11.00", source="manual", changed_by=alice.user)
    staff, tenant_id = UserFactory(is_staff=True), alice.tenant.pk
    tenant_services.tenant_delete(tenant=alice.tenant, by=Actor.staff(staff))
    kept = AuditEntry.objects.for_tenant(tenant_id).values_list("action", flat=True)
    assert {"price.changed", "tenant.deleted"} <= set(kept)


def test_a_password_staff_set_in_admin_goes_through_the_service_and_names_the_staff(staff_client, alice):
    person = alice.user
    phone = Client()
    log_in(phone, person, alice.tenant)
    url = reverse("admin:auth_user_password_change", args=[person.pk])
    new = "an-operator-chosen-passphrase"
    response = staff_client.post(url, {"password1": new, "password2": new, "usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.unscoped().get(action="user.password_changed")
    assert (entry.tenant_id, entry.object_id, entry.actor_label) == (
        None,
        str(person.pk),
        "operator@pricelab.test",
    )
    assert password_works(person.email, new)
    # The person's other sessions ended with the old password, as with their own change.
    gone = phone.get(reverse("dashboard"))
    assert gone.status_code == 302 and gone["Location"].startswith(reverse("login"))
    # Staff's own session goes on.
    assert staff_client.get(reverse("admin:index")).status_code == 200


def test_staff_turning_password_sign_in_off_is_recorded_and_ends_the_persons_sessions(
    staff_client, alice, django_capture_on_commit_callbacks, monkeypatch
):
    person = alice.user
    phone = log_in(Client(), person, alice.tenant)
    closed = []
    monkeypatch.setattr(
        tenant_services.live, "access_withdrawn", lambda tenant_id, **kw: closed.append((tenant_id, kw))
    )
    url = reverse("admin:auth_user_password_change", args=[person.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"usable_password": "false", "unset-password": "1"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert not person.has_usable_password()
    entry = AuditEntry.objects.unscoped().get(action="user.password_disabled")
    assert (entry.tenant_id, entry.object_id, entry.actor_label) == (
        None,
        str(person.pk),
        "operator@pricelab.test",
    )
    assert closed == [(alice.tenant.pk, {"user_id": person.pk, "reason": "password_changed"})]
    gone = phone.get(reverse("dashboard"))
    assert gone.status_code == 302 and gone["Location"].startswith(reverse("login"))
