"""The one module that talks to Stripe.

Everything else in Pricelab asks this module and gets plain dicts back (stripe-python 16's
objects are not dicts), or one of two exceptions: :class:`BillingUnavailable` when Stripe
is not configured or cannot be reached, :class:`BillingRefused` when Stripe answered with
a refusal. Their messages are written here, from Stripe's error code and request id only,
so that no key, and nothing Stripe echoed back, reaches a page, a log or a database row.
"""

import functools
import json
import logging
from datetime import datetime
from typing import Any, NoReturn

import stripe
from django.conf import settings

from billing.models import BillingAccount, Plan

logger = logging.getLogger(__name__)

# stripe-python retries connection errors, 409 and 5xx with exponential backoff; two
# retries ride out a blip without holding a web request for long.
MAX_NETWORK_RETRIES = 2
# (connect, read) seconds. stripe-python's default read timeout is 80 s, too long for a
# person waiting on a checkout button.
TIMEOUT_SECONDS = (5, 30)
# Customers, subscriptions and invoices listed per page.
PAGE_SIZE = 100


class BillingError(Exception):
    """A Stripe call that did not succeed; ``code`` is machine-readable, the message is for people."""

    code = "billing_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BillingUnavailable(BillingError):
    """Stripe is not configured here, or could not be reached: try again later."""

    code = "billing_unavailable"


class BillingRefused(BillingError):
    """Stripe answered and refused the request (an unknown id, a bad parameter)."""

    code = "billing_refused"


class StripeNotFound(BillingRefused):
    """The object does not exist in Stripe (any more)."""

    code = "stripe_not_found"


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _client_for(secret_key: str, api_base: str, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def require_configured() -> None:
    """Raise BillingUnavailable unless a Stripe key is configured."""
    if not is_configured():
        raise BillingUnavailable(
            "Billing is not configured on this server (no Stripe key).", code="billing_not_configured"
        )


def _client() -> stripe.StripeClient:
    require_configured()
    return _client_for(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, MAX_NETWORK_RETRIES)


def _reference(exc: stripe.StripeError) -> str:
    parts = [f"HTTP {exc.http_status}" if exc.http_status else "", exc.code or "", exc.request_id or ""]
    return ", ".join(p for p in parts if p)


def _translate(exc: stripe.StripeError, what: str) -> NoReturn:
    """Our exception for a Stripe one, with a message that carries no secret."""
    reference = _reference(exc)
    suffix = f" ({reference})" if reference else ""
    logger.warning("Stripe call failed: %s: %s%s", what, type(exc).__name__, suffix)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        raise BillingUnavailable(
            f"Stripe refused this server's key while trying to {what}{suffix}.", code="billing_misconfigured"
        ) from None
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        raise BillingUnavailable(f"Stripe could not be reached to {what}{suffix}.") from None
    if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
        raise StripeNotFound(f"Stripe has no such object: could not {what}{suffix}.") from None
    raise BillingRefused(f"Stripe refused to {what}{suffix}.") from None


def _call(what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return method(*args, **kwargs).to_dict()
    except stripe.StripeError as exc:
        _translate(exc, what)


def _list(what: str, service: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        page = service.list(params={"limit": PAGE_SIZE, **params})
        return [item.to_dict() for item in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        _translate(exc, what)


# --- Customers -------------------------------------------------------------------------------


def customer_ensure(account: BillingAccount) -> str:
    """The tenant's one Stripe Customer id, created on first use.

    The idempotency key is derived from the tenant, so two clicks racing each other (or a
    retry after a lost answer) get the same Customer from Stripe instead of two. The id
    is stored only if none was stored meanwhile.
    """
    if account.stripe_customer_id:
        return account.stripe_customer_id
    tenant = account.tenant
    customer = _call(
        "create a customer",
        _client().v1.customers.create,
        params={"name": tenant.name, "metadata": {"tenant_id": str(tenant.pk)}},
        options={"idempotency_key": f"pricelab-customer-{tenant.pk}"},
    )
    BillingAccount.objects.for_tenant(tenant).filter(pk=account.pk, stripe_customer_id="").update(
        stripe_customer_id=customer["id"]
    )
    account.refresh_from_db(fields=["stripe_customer_id"])
    return account.stripe_customer_id


def customer_retrieve(customer_id: str) -> dict[str, Any]:
    return _call("fetch a customer", _client().v1.customers.retrieve, customer_id)


# --- Checkout and the customer portal ----------------------------------------------------------


def checkout_session_create(
    account: BillingAccount, plan: Plan, success_url: str, cancel_url: str
) -> dict[str, Any]:
    """A Checkout Session that subscribes the tenant's Customer to ``plan``.

    The tenant id rides along three ways (client reference, session and subscription
    metadata) so every event about it can be matched to the tenant.
    """
    if not plan.stripe_price_id:
        raise BillingRefused(f"The {plan.name} plan has no Stripe price.", code="plan_not_purchasable")
    customer_id = customer_ensure(account)
    tenant_id = str(account.tenant_id)
    return _call(
        "start a checkout",
        _client().v1.checkout.sessions.create,
        params={
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": plan.stripe_price_id, "quantity": 1}],
            "client_reference_id": tenant_id,
            "metadata": {"tenant_id": tenant_id, "plan": plan.code},
            "subscription_data": {"metadata": {"tenant_id": tenant_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
    )


def checkout_session_retrieve(session_id: str) -> dict[str, Any]:
    return _call("fetch a checkout session", _client().v1.checkout.sessions.retrieve, session_id)


def portal_session_create(account: BillingAccount, return_url: str) -> dict[str, Any]:
    """A Customer Portal session, where the tenant changes plan, card or cancels."""
    if not account.stripe_customer_id:
        raise BillingRefused("There is no subscription to manage yet.", code="no_customer")
    return _call(
        "open the billing portal",
        _client().v1.billing_portal.sessions.create,
        params={"customer": account.stripe_customer_id, "return_url": return_url},
    )


# --- Subscriptions and invoices -----------------------------------------------------------------


def subscription_retrieve(subscription_id: str) -> dict[str, Any]:
    return _call("fetch a subscription", _client().v1.subscriptions.retrieve, subscription_id)


def subscriptions_list(*, customer: str) -> list[dict[str, Any]]:
    """All of a customer's subscriptions, the cancelled ones included."""
    return _list("list subscriptions", _client().v1.subscriptions, {"customer": customer, "status": "all"})


def invoice_retrieve(invoice_id: str) -> dict[str, Any]:
    return _call("fetch an invoice", _client().v1.invoices.retrieve, invoice_id)


def invoices_list(customer: str, *, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """A customer's most recent invoices (one page: the sync needs recent ones only)."""
    try:
        page = _client().v1.invoices.list(params={"customer": customer, "limit": limit})
        return [item.to_dict() for item in page.data]
    except stripe.StripeError as exc:
        _translate(exc, "list invoices")


# --- Usage ---------------------------------------------------------------------------------------


def meter_event_create(
    event_name: str, customer_id: str, value: int, identifier: str, timestamp: datetime
) -> dict[str, Any]:
    """Report ``value`` units for a customer. Stripe drops a second event with the same
    identifier, and the same idempotency key replays the first answer, so a resend after
    a crash counts once."""
    return _call(
        "report usage",
        _client().v1.billing.meter_events.create,
        params={
            "event_name": event_name,
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
            "identifier": identifier,
            "timestamp": int(timestamp.timestamp()),
        },
        options={"idempotency_key": identifier},
    )


# --- Webhooks -----------------------------------------------------------------------------------


class WebhookInvalid(BillingError):
    """A webhook request that is not a verifiable Stripe event (answer 400)."""

    code = "invalid_webhook"


def event_construct(payload: bytes, sig_header: str | None) -> dict[str, Any]:
    """The event in a webhook body, after checking Stripe's signature and its age.

    Raises BillingUnavailable when no signing secret is configured, WebhookInvalid for a
    missing, wrong or stale signature or a body that is not an event.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingUnavailable(
            "Stripe webhooks are not configured on this server.", code="webhook_not_configured"
        )
    if not sig_header:
        raise WebhookInvalid("The Stripe-Signature header is missing.", code="signature_missing")
    try:
        stripe.Webhook.construct_event(payload, sig_header, secret)
    except stripe.SignatureVerificationError as exc:
        if "tolerance" in str(exc):
            raise WebhookInvalid(
                f"The signature is older than {stripe.Webhook.DEFAULT_TOLERANCE} seconds.",
                code="signature_expired",
            ) from None
        raise WebhookInvalid(
            "The Stripe-Signature header does not match this body.", code="signature_invalid"
        ) from None
    except (ValueError, TypeError, AttributeError):
        # Signed by Stripe, yet not a JSON object (json.loads raises ValueError, a JSON
        # array AttributeError inside the library).
        raise WebhookInvalid("The body is not a JSON object.", code="invalid_json") from None
    data = json.loads(payload)  # the body as sent: this is what we store
    obj = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
    if not (isinstance(data.get("id"), str) and isinstance(data.get("type"), str) and isinstance(obj, dict)):
        raise WebhookInvalid("The body is not a Stripe event.", code="invalid_event")
    return data
