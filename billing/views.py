"""Billing pages (plan, usage, invoices, checkout, portal) and Stripe's webhook endpoint."""

import contextlib
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from billing import stripe_gateway as gateway
from billing import subscriptions
from billing.models import Invoice, Subscription
from billing.selectors import plans_offered, usage_meter
from billing.services import account_ensure, format_cents
from config.api import error_body
from tenants.mixins import TenantScopedViewMixin
from tenants.models import Scope

# Invoices listed on the billing page: two years of monthly ones.
INVOICES_SHOWN = 24
# Subscription statuses with a plan being paid for: plan changes go through the portal.
SUBSCRIBED = {Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE}


def _billing_url(query: str = "") -> str:
    """An absolute URL of the billing page, for Stripe to send the customer back to."""
    return f"{settings.SITE_URL}{reverse('billing')}{query}"


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # after a POST, the browser follows with a GET
    return response


class BillingView(TenantScopedViewMixin, TemplateView):
    """The tenant's plan, this month's usage against it, its invoices and plan choices."""

    template_name = "billing/billing.html"
    scoped_model = Invoice

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        checkout = request.GET.get("checkout")
        if checkout == "success":
            session_id = request.GET.get("session_id", "")
            applied = False
            if session_id and Scope.ADMIN in self.access.scopes:
                # Ahead of the webhook, so the new plan shows on this very page; if Stripe
                # cannot be asked now, the webhook applies it shortly.
                with contextlib.suppress(gateway.BillingError):
                    applied = subscriptions.checkout_return(tenant=self.access.tenant, session_id=session_id)
            messages.success(
                request,
                "Thank you: your new plan is active."
                if applied
                else "Thank you. Your plan changes as soon as Stripe confirms the payment, "
                "usually within seconds.",
            )
            return HttpResponseRedirect(reverse("billing"))
        if checkout == "cancel":
            messages.info(request, "Checkout was cancelled: nothing changed.")
            return HttpResponseRedirect(reverse("billing"))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        tenant = self.access.tenant
        account = account_ensure(tenant=tenant)
        current = subscriptions.subscription_current(tenant=tenant)
        return super().get_context_data(
            account=account,
            plan=account.plan,
            subscription=current,
            subscribed=current is not None and current.status in SUBSCRIBED,
            subscription_amount=(
                format_cents(current.unit_amount * current.quantity, current.currency) if current else None
            ),
            usage=usage_meter(tenant=tenant),
            plans=plans_offered(),
            invoices=[
                (invoice, format_cents(invoice.total, invoice.currency))
                for invoice in self.get_queryset().order_by("-created", "-id")[:INVOICES_SHOWN]
            ],
            can_manage=Scope.ADMIN in self.access.scopes,
            billing_configured=gateway.is_configured(),
            grace_days=settings.BILLING_GRACE_DAYS,
            **kwargs,
        )


def _refusal(error: gateway.BillingError) -> str:
    """What a person reads when a Stripe call failed: Stripe's reason, and what it means for them."""
    if isinstance(error, gateway.BillingUnavailable) and error.code == "billing_unavailable":
        return (
            f"{error.message} Nothing was charged and your plan is unchanged. "
            "Please try again in a few minutes."
        )
    return error.message


class CheckoutView(TenantScopedViewMixin, View):
    """Send an owner or admin to Stripe Checkout for a paid plan."""

    scoped_model = Subscription
    required_scope = Scope.ADMIN
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        account = account_ensure(tenant=self.access.tenant)
        try:
            url = subscriptions.checkout_start(
                account=account,
                plan_code=request.POST.get("plan", ""),
                success_url=_billing_url("?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
                cancel_url=_billing_url("?checkout=cancel"),
            )
        except gateway.BillingError as error:
            messages.error(request, _refusal(error))
            return _see_other(reverse("billing"))
        return _see_other(url)


class PortalView(TenantScopedViewMixin, View):
    """Send an owner or admin to Stripe's Customer Portal (plan, card, invoices, cancel)."""

    scoped_model = Subscription
    required_scope = Scope.ADMIN
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        account = account_ensure(tenant=self.access.tenant)
        try:
            url = subscriptions.portal_start(account=account, return_url=_billing_url())
        except gateway.BillingError as error:
            messages.error(request, _refusal(error))
            return _see_other(reverse("billing"))
        return _see_other(url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Stripe's events: verified, stored once by id, processed in the background.

    Nothing is fetched from Stripe here, so the answer is quick; a duplicate answers 200
    and changes nothing.
    """
    try:
        payload = gateway.event_construct(request.body, request.headers.get("Stripe-Signature"))
    except gateway.WebhookInvalid as error:
        return JsonResponse(error_body(error.code, error.message), status=400)
    except gateway.BillingUnavailable as error:
        # Not configured here yet: 503 makes Stripe deliver it again later.
        return JsonResponse(error_body(error.code, error.message), status=503)
    event, created = subscriptions.event_record(payload=payload)
    return JsonResponse({"received": True, "duplicate": not created, "event": event.stripe_id})
