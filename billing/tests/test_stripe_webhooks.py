"""Stripe's webhook, end to end: signed deliveries over HTTP, processing in (eager) Celery,
Stripe's current objects fetched from the stand-in, limits read back from the API."""

import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing import stripe_gateway, subscriptions
from billing.models import BillingAccount, Invoice, Notice, StripeEvent, Subscription
from billing.services import account_ensure
from billing.stripe_tasks import stripe_event_process
from billing.tests.stripe_standin import (  # noqa: F401 (the fixture)
    PRICE_IDS,
    WEBHOOK_URL,
    deliver,
    stripe_standin_fixture,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """Deliver an event and run what its commit queues (the processing task, eagerly)."""

    def send(event, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(client, event, **kwargs)
        return response

    return send


def customer_of(party) -> str:
    return stripe_gateway.customer_ensure(account_ensure(tenant=party.tenant))


def account_of(party) -> BillingAccount:
    return BillingAccount.objects.for_tenant(party.tenant).select_related("plan").get()


def usage_limit(api, party) -> tuple[str, int]:
    body = api.get("/api/v1/usage/", **party.auth).json()
    return body["plan"], body["limit"]


def pro_subscription(standin, party, **kwargs) -> dict:
    metadata = {"tenant_id": str(party.tenant.pk)}
    return standin.subscription_put(
        customer=customer_of(party), price=PRICE_IDS["pro"], metadata=metadata, **kwargs
    )


# --- Refusals: nothing stored -------------------------------------------------------------------


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, stripe_standin, alice):
    sub = pro_subscription(stripe_standin, alice)
    event = stripe_standin.event("customer.subscription.created", sub)
    response = deliver(client, event, secret="whsec_someone_else")
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    assert not StripeEvent.objects.exists() and not Subscription.objects.for_tenant(alice.tenant).exists()


def test_a_stale_signature_is_refused_and_nothing_is_stored(client, stripe_standin, alice):
    event = stripe_standin.event("customer.subscription.created", pro_subscription(stripe_standin, alice))
    response = deliver(client, event, timestamp=int(time.time()) - 301)  # tolerance is 300 s
    assert response.status_code == 400
    assert response.json()["code"] == "signature_expired"
    assert not StripeEvent.objects.exists()


def test_a_missing_signature_a_tampered_body_and_bad_json_are_refused(client, stripe_standin, alice):
    event = stripe_standin.event("customer.subscription.created", pro_subscription(stripe_standin, alice))
    body, header = stripe_standin.sign(event)
    missing = client.post(WEBHOOK_URL, data=body, content_type="application/json")
    tampered = client.post(
        WEBHOOK_URL, data=body.replace("active", "trialing"), content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )  # fmt: skip
    not_json = deliver(client, "{not json")
    not_an_event = deliver(client, json.dumps({"id": "evt_1"}))
    codes = [r.json()["code"] for r in (missing, tampered, not_json, not_an_event)]
    assert codes == ["signature_missing", "signature_invalid", "invalid_json", "invalid_event"]
    assert {r.status_code for r in (missing, tampered, not_json, not_an_event)} == {400}
    assert all(set(r.json()) >= {"code", "message"} for r in (missing, not_json))
    assert not StripeEvent.objects.exists()


def test_without_a_signing_secret_the_webhook_answers_503_so_stripe_retries(client, stripe_standin, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = deliver(client, stripe_standin.event("invoice.paid", {"id": "in_1"}))
    assert response.status_code == 503 and response.json()["code"] == "webhook_not_configured"
    assert "whsec" not in response.text
    assert not StripeEvent.objects.exists()


# --- Checkout: the tier and the limits change at once -------------------------------------------


def test_checkout_completion_upgrades_the_tier_and_raises_the_limits_at_once(
    api, stripe_standin, alice, send
):
    assert usage_limit(api, alice) == ("free", 1_000)
    session = stripe_gateway.checkout_session_create(
        account_ensure(tenant=alice.tenant), account_of(alice).plan.__class__.objects.get(code="pro"),
        "https://pricelab.test/billing/?checkout=success", "https://pricelab.test/billing/",
    )  # fmt: skip
    stripe_standin.checkout_complete(session["id"])
    # The payload says nothing useful: what counts is what Stripe answers when asked.
    response = send(stripe_standin.event("checkout.session.completed", {"id": session["id"]}))
    assert response.status_code == 200
    assert usage_limit(api, alice) == ("pro", 100_000)
    account = account_of(alice)
    assert (account.plan.code, account.subscription_status) == ("pro", "active")
    sub = Subscription.objects.for_tenant(alice.tenant).get()
    assert (sub.stripe_price_id, sub.unit_amount, sub.interval) == ("price_test_pro", 2900, "month")
    assert sub.plan.code == "pro"
    assert sub.current_period_end - sub.current_period_start == timedelta(days=30)
    event = StripeEvent.objects.get()
    assert (event.status, event.tenant_id, event.attempts) == ("processed", alice.tenant.pk, 1)
    assert [m.subject for m in mail.outbox] == ["Your Pro subscription is confirmed"]
    assert alice.user.email in mail.outbox[0].to and "100,000 metered units" in mail.outbox[0].body


def test_the_tenant_is_found_by_metadata_when_the_customer_is_not_linked_yet(stripe_standin, alice, send):
    customer = stripe_standin.customer_put(tenant_id=alice.tenant.pk)["id"]
    sub = stripe_standin.subscription_put(customer=customer, price=PRICE_IDS["starter"])
    send(stripe_standin.event("customer.subscription.created", sub))
    account = account_of(alice)
    assert (account.plan.code, account.stripe_customer_id) == ("starter", customer)


# --- Duplicates and order ---------------------------------------------------------------------


def test_a_duplicate_event_is_stored_once_and_applied_once(stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice)
    event = stripe_standin.event("customer.subscription.created", sub)
    first, second = send(event), send(event)
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1 and StripeEvent.objects.get().attempts == 1
    assert len(stripe_standin.requests("GET", "/v1/subscriptions/")) == 1  # not processed again
    assert Notice.objects.for_tenant(alice.tenant).filter(kind="subscription_confirmed").count() == 1
    assert len(mail.outbox) == 1


def test_duplicated_and_reordered_events_end_in_stripes_state(stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice)
    created = stripe_standin.event("customer.subscription.created", sub)
    past_due = stripe_standin.event("customer.subscription.updated", {**sub, "status": "past_due"})
    downgraded = stripe_standin.event("customer.subscription.updated", {**sub, "status": "active"})
    # In Stripe the subscription went past due, then was paid and moved to Starter.
    stripe_standin.subscription_set(sub["id"], status="active", price=PRICE_IDS["starter"])
    for event in (downgraded, created, past_due, created, downgraded, past_due):
        assert send(event).status_code == 200
    row = Subscription.objects.for_tenant(alice.tenant).get()
    account = account_of(alice)
    assert (row.status, row.stripe_price_id) == ("active", "price_test_starter")
    assert (account.plan.code, account.subscription_status) == ("starter", "active")
    assert account.past_due_since is None
    assert StripeEvent.objects.count() == 3


def test_an_unknown_event_type_is_stored_and_ignored(stripe_standin, send):
    response = send(stripe_standin.event("plan.created", stripe_standin.resource("plan")))
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == "ignored"
    assert stripe_standin.requests() == []


def test_an_event_about_a_customer_that_is_no_tenant_of_ours_is_ignored(stripe_standin, send):
    stranger = stripe_standin.customer_put()["id"]
    sub = stripe_standin.subscription_put(customer=stranger)
    send(stripe_standin.event("customer.subscription.updated", sub))
    event = StripeEvent.objects.get()
    assert event.status == "ignored" and event.tenant is None and "no tenant" in event.last_error
    assert not Subscription.objects.unscoped().exists()


# --- Past due, grace, cancellation ----------------------------------------------------------------


def test_past_due_keeps_the_tier_then_free_after_the_grace_period(api, stripe_standin, alice, send, settings):
    sub = pro_subscription(stripe_standin, alice)
    send(stripe_standin.event("customer.subscription.created", sub))
    stripe_standin.subscription_set(sub["id"], status="past_due")
    send(stripe_standin.event("customer.subscription.updated", sub))
    account = account_of(alice)
    assert (account.plan.code, account.subscription_status) == ("pro", "past_due")
    assert account.past_due_since is not None
    assert subscriptions.grace_expire() == 0  # still within grace
    assert usage_limit(api, alice) == ("pro", 100_000)

    BillingAccount.objects.for_tenant(alice.tenant).update(
        past_due_since=timezone.now() - timedelta(days=settings.BILLING_GRACE_DAYS, minutes=1)
    )
    assert subscriptions.grace_expire() == 1
    assert usage_limit(api, alice) == ("free", 1_000)
    assert account_of(alice).subscription_status == "past_due"
    assert subscriptions.grace_expire() == 0  # twice is harmless

    # Paid at last: the tier comes back, and the grace clock is reset.
    stripe_standin.subscription_set(sub["id"], status="active")
    send(stripe_standin.event("customer.subscription.updated", sub))
    account = account_of(alice)
    assert (account.plan.code, account.past_due_since) == ("pro", None)


def test_a_deleted_subscription_moves_to_free_with_one_cancellation_email(api, stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice)
    send(stripe_standin.event("customer.subscription.created", sub))
    mail.outbox.clear()
    stripe_standin.subscription_set(sub["id"], status="canceled")
    deleted = stripe_standin.event("customer.subscription.deleted", sub)
    send(deleted)
    send(deleted)
    send(stripe_standin.event("customer.subscription.deleted", sub))  # redelivered under a new id
    assert usage_limit(api, alice) == ("free", 1_000)
    assert account_of(alice).subscription_status == "canceled"
    assert [m.subject for m in mail.outbox] == ["Your Pro subscription is cancelled"]
    assert "1,000 metered units and 60 API requests" in mail.outbox[0].body


def test_payment_failed_emails_once_even_if_the_event_arrives_twice(stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice)
    send(stripe_standin.event("customer.subscription.created", sub))
    mail.outbox.clear()
    stripe_standin.subscription_set(sub["id"], status="past_due")
    invoice = stripe_standin.invoice_put(subscription=sub["id"], status="open")
    event = stripe_standin.event("invoice.payment_failed", invoice)
    send(event)
    send(event)
    send(stripe_standin.event("invoice.payment_failed", invoice))  # a second delivery, new event id
    assert [m.subject for m in mail.outbox] == [f"Payment failed for {alice.tenant.name}"]
    body = mail.outbox[0].body
    assert "29.00 USD" in body and invoice["hosted_invoice_url"] in body
    row = Invoice.objects.for_tenant(alice.tenant).get()
    assert (row.status, row.stripe_subscription_id, row.amount_due) == ("open", sub["id"], 2900)
    account = account_of(alice)
    assert (account.plan.code, account.subscription_status) == ("pro", "past_due")


def test_a_payment_failure_already_resolved_in_stripe_sends_no_email(stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice)
    send(stripe_standin.event("customer.subscription.created", sub))
    mail.outbox.clear()
    invoice = stripe_standin.invoice_put(subscription=sub["id"], status="paid")  # paid on the retry
    send(stripe_standin.event("invoice.payment_failed", {**invoice, "status": "open"}))
    assert mail.outbox == []
    assert Invoice.objects.for_tenant(alice.tenant).get().status == "paid"


def test_an_invoice_paid_brings_a_past_due_tenant_back(stripe_standin, alice, send):
    sub = pro_subscription(stripe_standin, alice, status="past_due")
    send(stripe_standin.event("customer.subscription.updated", sub))
    assert account_of(alice).past_due_since is not None
    stripe_standin.subscription_set(sub["id"], status="active")
    send(stripe_standin.event("invoice.paid", stripe_standin.invoice_put(subscription=sub["id"])))
    account = account_of(alice)
    assert (account.plan.code, account.subscription_status, account.past_due_since) == ("pro", "active", None)


# --- Failures and retries ---------------------------------------------------------------------


def test_a_failing_event_records_the_error_and_a_retry_after_the_fix_processes_it(
    stripe_standin, alice, send, django_capture_on_commit_callbacks
):
    sub = pro_subscription(stripe_standin, alice)
    stripe_standin.fail("GET", "/v1/subscriptions/", status=500, times=100)
    response = send(stripe_standin.event("customer.subscription.created", sub))
    assert response.status_code == 200  # stored; the failure is the task's business
    event = StripeEvent.objects.get()
    # Eager Celery hands the first retry back instead of running it; a worker retries
    # with backoff through the broker, as configured here:
    assert (event.status, event.attempts) == ("failed", 1)
    assert stripe_event_process.max_retries == 8 and stripe_event_process.retry_backoff
    assert "BillingUnavailable" in event.last_error and "HTTP 500" in event.last_error
    assert "sk_test" not in event.last_error and "whsec" not in event.last_error
    assert account_of(alice).plan.code == "free"

    stripe_standin.heal()
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions.event_retry(event=event)
    event.refresh_from_db()
    assert (event.status, event.last_error, event.attempts) == ("processed", "", 2)
    assert account_of(alice).plan.code == "pro"


def test_an_unreachable_stripe_fails_the_event_without_leaking_the_key(stripe_standin, alice, send, settings):
    sub = pro_subscription(stripe_standin, alice)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    send(stripe_standin.event("customer.subscription.created", sub))
    event = StripeEvent.objects.get()
    assert event.status == "failed" and "could not be reached" in event.last_error
    assert settings.STRIPE_SECRET_KEY not in event.last_error


def test_pending_events_whose_enqueue_was_lost_are_swept(
    stripe_standin, alice, django_capture_on_commit_callbacks
):
    payload = stripe_standin.event("customer.subscription.created", pro_subscription(stripe_standin, alice))
    event, created = subscriptions.event_record(payload=payload)
    assert created and event.status == "pending"  # its on-commit enqueue never ran
    assert subscriptions.events_sweep() == 0  # too fresh to be called lost
    StripeEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.events_sweep() == 1
    event.refresh_from_db()
    assert event.status == "processed"


def test_an_event_that_failed_on_an_unreachable_stripe_is_retried_by_the_sweep_with_backoff(
    stripe_standin, alice, send, settings, django_capture_on_commit_callbacks
):
    sub = pro_subscription(stripe_standin, alice)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # a real stripe-python call to a closed port
    assert send(stripe_standin.event("customer.subscription.created", sub)).status_code == 200
    event = StripeEvent.objects.get()
    assert (event.status, event.attempts) == ("failed", 1)
    assert account_of(alice).plan.code == "free"
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.events_sweep() == 0  # its next try is not due yet

    settings.STRIPE_API_BASE = stripe_standin.url  # Stripe is back
    StripeEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.events_sweep() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert account_of(alice).plan.code == "pro"


def test_the_sweep_leaves_refused_events_and_events_out_of_attempts_to_finance(
    stripe_standin, alice, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(days=30)
    payload = stripe_standin.event("customer.subscription.created", pro_subscription(stripe_standin, alice))
    refused, _ = subscriptions.event_record(payload=payload)
    StripeEvent.objects.filter(pk=refused.pk).update(
        status="failed", attempts=1, received_at=long_ago, last_error="BillingRefused: No such subscription"
    )
    spent, _ = subscriptions.event_record(payload={**payload, "id": "evt_spent"})
    StripeEvent.objects.filter(pk=spent.pk).update(
        status="failed",
        attempts=subscriptions.EVENT_SWEEP_MAX_ATTEMPTS,
        received_at=long_ago,
        last_error="BillingUnavailable: Stripe could not be reached",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.events_sweep() == 0
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"failed"}
