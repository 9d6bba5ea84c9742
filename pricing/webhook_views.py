"""The webhooks pages: endpoints, their deliveries with every attempt, and redelivery.

They follow the API's rules (pricing/webhook_api.py): anyone in the tenant may look;
adding, editing (description and active, as PATCH allows), deleting and redelivering
need the ``admin`` scope. The signing secret is shown once, in the response that
created the endpoint, and is never put in the session.
"""

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, TemplateView

from audit.actors import actor_of
from pricing import selectors, webhooks
from pricing.models import WebhookDelivery, WebhookEndpoint
from pricing.webhook_forms import EVENT_TYPE_HELP, EndpointDescriptionForm, EndpointForm, SecretRollForm
from tenants.mixins import TenantScopedViewMixin
from tenants.models import Scope

# The window of the "recent health" counts: a day shows a broken receiver without
# drowning it in last month's successes.
HEALTH_WINDOW = timedelta(hours=24)
# Deliveries per page: a busy endpoint gets hundreds a day; 50 rows still read at a glance.
DELIVERIES_PER_PAGE = 50
# How often an open page asks for fresh deliveries (htmx polling).
POLL_SECONDS = 5


def _short(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _with_health(view: TenantScopedViewMixin, endpoints: QuerySet) -> QuerySet:
    return selectors.webhook_endpoints_with_health(
        endpoints=endpoints, tenant=view.access.tenant, since=timezone.now() - HEALTH_WINDOW
    )


def _common(view: TenantScopedViewMixin) -> dict[str, Any]:
    now = timezone.now()
    return {
        "can_manage": Scope.ADMIN in view.access.scopes,
        "signature_header": webhooks.SIGNATURE_HEADER,
        "health_hours": int(HEALTH_WINDOW.total_seconds() // 3600),
        "poll_seconds": POLL_SECONDS,
        "now": now,
        "a_minute_ago": now - timedelta(minutes=1),
        # The receiver's side of the contract, from the service's own constants.
        "retry": {
            "timeout": webhooks.TIMEOUT_SECONDS,
            "schedule": ", ".join(_short(wait) for wait in webhooks.BACKOFF),
            "attempts": webhooks.MAX_ATTEMPTS,
        },
    }


class WebhookListView(TenantScopedViewMixin, TemplateView):
    """The tenant's endpoints and how their deliveries went lately."""

    template_name = "webhooks/list.html"
    scoped_model = WebhookEndpoint

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return _with_health(self, queryset).order_by("-created_at", "-id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(endpoints=list(self.get_queryset()), **_common(self), **kwargs)


class WebhookCreateView(TenantScopedViewMixin, FormView):
    """Add an endpoint and show its signing secret in this response only."""

    template_name = "webhooks/new.html"
    scoped_model = WebhookEndpoint
    required_scope = Scope.ADMIN
    form_class = EndpointForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**_common(self), **kwargs)
        checkboxes = context["form"]["event_types"]
        context["event_types"] = [(box, EVENT_TYPE_HELP.get(box.data["value"], "")) for box in checkboxes]
        return context

    def form_valid(self, form: EndpointForm) -> HttpResponse:
        if not form.claim():
            messages.info(self.request, "That endpoint was already added; its secret was shown once.")
            return redirect("webhooks")
        fields = {name: value for name, value in form.cleaned_data.items() if name != "submission"}
        try:
            endpoint, secret = webhooks.endpoint_create(
                tenant=self.access.tenant, by=actor_of(self.access), **fields
            )
        except ValidationError as error:
            form.release()
            form.add_error(None, error)  # a dict of errors lands on its fields (url, event_types)
            return self.form_invalid(form)
        response = render(
            self.request,
            "webhooks/created.html",
            {"endpoint": endpoint, "secret": secret, **_common(self)},
        )
        response["Cache-Control"] = "no-store"
        return response

    def form_invalid(self, form: EndpointForm) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WebhookDetailView(TenantScopedViewMixin, TemplateView):
    """One endpoint: its settings, health and deliveries, newest first (live while on page 1)."""

    template_name = "webhooks/detail.html"
    scoped_model = WebhookEndpoint

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return _with_health(self, queryset)

    def get_template_names(self) -> list[str]:
        return ["webhooks/_deliveries.html"] if self.request.htmx else [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        endpoint = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        page = Paginator(selectors.webhook_deliveries(endpoint=endpoint), DELIVERIES_PER_PAGE).get_page(
            self.request.GET.get("page")
        )
        return super().get_context_data(endpoint=endpoint, page=page, **_common(self), **kwargs)


class _EndpointFormView(TenantScopedViewMixin, FormView):
    """A form about one endpoint, for those who may change endpoints."""

    scoped_model = WebhookEndpoint
    required_scope = Scope.ADMIN

    @cached_property
    def endpoint(self) -> WebhookEndpoint:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(endpoint=self.endpoint, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WebhookEditView(_EndpointFormView):
    """Relabel an endpoint (its description: what the API's PATCH allows besides active)."""

    template_name = "webhooks/edit.html"
    form_class = EndpointDescriptionForm

    def get_initial(self) -> dict[str, Any]:
        return {"description": self.endpoint.description}

    def form_valid(self, form: EndpointDescriptionForm) -> HttpResponse:
        endpoint = webhooks.endpoint_update(
            endpoint=self.endpoint, description=form.cleaned_data["description"], by=actor_of(self.access)
        )
        messages.success(self.request, f"Saved the description of {endpoint.url}.")
        return redirect("webhook_detail", pk=endpoint.pk)


class WebhookSecretRollView(_EndpointFormView):
    """Roll an endpoint's signing secret and show the new one in this response only."""

    template_name = "webhooks/roll.html"
    form_class = SecretRollForm

    def form_valid(self, form: SecretRollForm) -> HttpResponse:
        if not form.claim():
            messages.info(self.request, "That secret was already rolled; the new one was shown once.")
            return redirect("webhook_detail", pk=self.endpoint.pk)
        secret = webhooks.endpoint_secret_roll(
            endpoint=self.endpoint,
            keep_previous_hours=form.cleaned_data["keep_previous_hours"],
            by=actor_of(self.access),
        )
        context = {"endpoint": self.endpoint, "secret": secret, "rolled": True, **_common(self)}
        response = render(self.request, "webhooks/created.html", context)
        response["Cache-Control"] = "no-store"
        return response


class _EndpointActionView(TenantScopedViewMixin, View):
    """A POST that changes one endpoint; a GET just leads back to the endpoint's page."""

    scoped_model = WebhookEndpoint
    required_scope = Scope.ADMIN

    def get_endpoint(self) -> WebhookEndpoint:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return redirect("webhook_detail", pk=self.get_endpoint().pk)


class WebhookActiveView(_EndpointActionView):
    """Disable an endpoint (no new events) or enable it again."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = self.get_endpoint()
        choice = request.POST.get("active")
        if choice not in ("true", "false"):
            raise BadRequest("active must be true or false")
        webhooks.endpoint_update(endpoint=endpoint, active=choice == "true", by=actor_of(self.access))
        if endpoint.active:
            messages.success(request, f"Enabled {endpoint.url}: new events are sent to it again.")
        else:
            messages.success(request, f"Disabled {endpoint.url}: new events are no longer sent to it.")
        return redirect("webhook_detail", pk=endpoint.pk)


class WebhookDeleteView(_EndpointActionView):
    """Delete an endpoint with its delivery history; what it was still owed is never sent."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = self.get_endpoint()
        url = endpoint.url
        webhooks.endpoint_delete(endpoint=endpoint, by=actor_of(self.access))
        messages.success(request, f"Deleted the endpoint {url} and its delivery history.")
        return redirect("webhooks")


class _DeliveryMixin(TenantScopedViewMixin):
    """Deliveries of the endpoint named in the URL (both must be the tenant's, or 404)."""

    scoped_model = WebhookDelivery

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(endpoint_id=self.kwargs["pk"]).select_related("endpoint")

    def get_delivery(self) -> WebhookDelivery:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["delivery_id"])


class WebhookDeliveryView(_DeliveryMixin, TemplateView):
    """One delivery: its payload and every attempt, refreshed while it is still owed."""

    template_name = "webhooks/delivery.html"

    def get_template_names(self) -> list[str]:
        return ["webhooks/_attempts.html"] if self.request.htmx else [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        delivery = self.get_delivery()
        return super().get_context_data(
            delivery=delivery,
            endpoint=delivery.endpoint,
            attempts=list(selectors.webhook_attempts(delivery=delivery)),
            payload=json.dumps(delivery.payload, indent=2, ensure_ascii=False),
            **_common(self),
            **kwargs,
        )


class WebhookRedeliverView(_DeliveryMixin, View):
    """Send a delivery again now, with the same event id."""

    required_scope = Scope.ADMIN

    def get(self, request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
        delivery = self.get_delivery()
        return redirect("webhook_delivery", pk=delivery.endpoint_id, delivery_id=delivery.pk)

    def post(self, request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
        delivery = webhooks.redeliver(delivery=self.get_delivery(), by=actor_of(self.access))
        messages.success(
            request,
            f"Redelivery of event {delivery.event_id} queued: it is sent again within seconds, "
            f"with the same event id.",
        )
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("webhook_delivery", kwargs={"pk": pk, "delivery_id": delivery.pk})
        return redirect(back)
