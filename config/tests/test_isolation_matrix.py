"""The isolation matrix: tenant A, with full credentials, tries every route that names an
object with tenant B's object, by every method the route accepts, and gets 404; B's rows are
unchanged afterwards.

The routes come from walking the URL resolver, not from a list kept by hand: a route with a
path parameter that is neither in MATRIX (how to name B's object for it) nor in NOT_TENANT_
OBJECTS (why it names no tenant's object) fails ``test_every_route_with_a_parameter_is_in_the_
matrix``. Add the new route to MATRIX, never to the exemptions to make the test pass.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from conftest import Party
from experiments import services as experiment_services
from pricing import services as pricing_services
from pricing.models import WebhookDelivery, WebhookEndpoint
from tenants import services as tenant_services
from tenants.models import Tenant
from tenants.scoping import TenantOwnedModel
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

# Routes with parameters that name no tenant's object, and why.
NOT_TENANT_OBJECTS = {
    "^api/(?P<path>.*)$": "the JSON 404 for every unknown /api/ path",
    "password-reset/<uidb64>/<token>/": "a signed reset token for a user, not a tenant's object",
    "invitations/<str:token>/": "a bearer token for a person outside the tenant, who is to join it",
}
# Django admin is for staff only (tested below: a tenant owner never gets in).
ADMIN_PREFIX = "admin/"


@dataclass
class Route:
    pattern: str  # as written in the URLconfs, prefixes joined
    name: str | None
    methods: list[str]
    api: bool


def _methods(callback: Any) -> list[str]:
    # HEAD is GET without the body, OPTIONS names no object. (DRF adds "head" to a
    # viewset's actions on its first request, so it is dropped here too.)
    actions = getattr(callback, "actions", None)  # a DRF viewset's route: method -> action
    if actions:
        names = list(actions)
    else:
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view is None:
            return ["GET", "POST"]  # a function view: try both
        names = [m for m in view.http_method_names if hasattr(view, m)]
    return sorted(m.upper() for m in names if m not in ("head", "options"))


def _walk(patterns: list, prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            pattern = entry.pattern
            takes_parameters = bool(getattr(pattern, "converters", None)) or bool(pattern.regex.groupindex)
            if takes_parameters:
                route = prefix + str(pattern)
                yield Route(route, entry.name, _methods(entry.callback), route.startswith("api/"))


def routes_with_parameters() -> dict[str, Route]:
    return {
        route.pattern: route
        for route in _walk(get_resolver().url_patterns)
        if not route.pattern.startswith(ADMIN_PREFIX)
    }


@dataclass
class World:
    """Tenant B with one of everything a route can name."""

    party: Party
    objects: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> Tenant:
        return self.party.tenant


def _build_world(django_capture_on_commit_callbacks) -> World:
    b = World(Party())
    tenant = b.tenant
    with django_capture_on_commit_callbacks(execute=False):
        product = pricing_services.product_create(
            tenant=tenant, sku="b-tea", name="B's tea", currency="EUR", base_price="10.00"
        )
        experiment = experiment_services.experiment_create(
            tenant=tenant,
            product=product,
            key="b-price",
            name="B's price test",
            variants=[
                {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
                {"key": "higher", "price": "12.00", "weight": "0.5"},
            ],
        )
        experiment_services.experiment_start(experiment=experiment)
        # Straight to the row: the service would resolve the host name, which is not the point here.
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant, url="https://b.example.com/hook", event_types=["price.changed"], secret="s" * 64
        )
        delivery = WebhookDelivery.objects.create(
            tenant=tenant,
            endpoint=endpoint,
            event_id=uuid.uuid4(),
            event_type="price.changed",
            payload={"sku": "b-tea"},
        )
        member = MembershipFactory(tenant=tenant, role="member")
        invitation, _ = tenant_services.invitation_create(
            tenant=tenant, email="newcomer@example.com", role="member", invited_by=b.party.user
        )
    b.objects.update(
        product=product,
        experiment=experiment,
        endpoint=endpoint,
        delivery=delivery,
        api_key=b.party.key,
        member=member,
        invitation=invitation,
    )
    return b


# How to name B's object for each route, and what a change would send (so that a route
# that forgot the tenant would really change something, which the snapshot would see).
Kwargs = Callable[[World], dict[str, Any]]
product: Kwargs = lambda b: {"sku": b.objects["product"].sku}  # noqa: E731
experiment: Kwargs = lambda b: {"key": b.objects["experiment"].key}  # noqa: E731
endpoint: Kwargs = lambda b: {"pk": b.objects["endpoint"].pk}  # noqa: E731
delivery: Kwargs = lambda b: {"pk": b.objects["endpoint"].pk, "delivery_id": b.objects["delivery"].pk}  # noqa: E731

MATRIX: dict[str, tuple[Kwargs, dict[str, Any]]] = {
    # API (A's full-scope key)
    "api/v1/api-keys/<int:pk>/": (lambda b: {"pk": b.objects["api_key"].pk}, {}),
    "api/v1/products/<sku:sku>/": (product, {"PATCH": {"name": "taken", "base_price": "1.00"}}),
    "api/v1/products/<sku:sku>/prices/": (product, {}),
    "api/v1/webhooks/<int:pk>/": (endpoint, {"PATCH": {"active": False}}),
    "api/v1/webhooks/<int:pk>/deliveries/": (endpoint, {}),
    "api/v1/webhooks/<int:pk>/roll-secret/": (endpoint, {"POST": {"keep_previous_hours": 0}}),
    "api/v1/webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/": (delivery, {}),
    "api/v1/experiments/<slug:key>/": (experiment, {"PATCH": {"name": "taken"}}),
    "api/v1/experiments/<slug:key>/archive/": (experiment, {}),
    "api/v1/experiments/<slug:key>/complete/": (experiment, {"POST": {"winner": "higher"}}),
    "api/v1/experiments/<slug:key>/pause/": (experiment, {}),
    "api/v1/experiments/<slug:key>/results/": (experiment, {}),
    "api/v1/experiments/<slug:key>/start/": (experiment, {}),
    # Pages (A's owner, logged in)
    "products/^(?P<sku>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/$": (product, {}),
    "products/^(?P<sku>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/edit/$": (
        product,
        {"POST": {"name": "taken", "price": "1.00"}},
    ),
    "products/^(?P<sku>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/active/$": (product, {"POST": {"active": "false"}}),
    "webhooks/<int:pk>/": (endpoint, {}),
    "webhooks/<int:pk>/edit/": (endpoint, {"POST": {"description": "taken"}}),
    "webhooks/<int:pk>/active/": (endpoint, {"POST": {"active": "false"}}),
    "webhooks/<int:pk>/roll-secret/": (endpoint, {"POST": {"keep_previous_hours": "0"}}),
    "webhooks/<int:pk>/delete/": (endpoint, {}),
    "webhooks/<int:pk>/deliveries/<int:delivery_id>/": (delivery, {}),
    "webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/": (delivery, {}),
    "experiments/<slug:key>/": (experiment, {}),
    "experiments/<slug:key>/edit/": (experiment, {"POST": {"name": "taken"}}),
    "experiments/<slug:key>/results/": (experiment, {}),
    "experiments/<slug:key>/start/": (experiment, {}),
    "experiments/<slug:key>/pause/": (experiment, {}),
    "experiments/<slug:key>/complete/": (experiment, {"POST": {"winner": "higher", "rollout": "on"}}),
    "experiments/<slug:key>/archive/": (experiment, {}),
    "keys/<int:pk>/revoke/": (lambda b: {"pk": b.objects["api_key"].pk}, {}),
    "team/members/<int:pk>/role/": (lambda b: {"pk": b.objects["member"].pk}, {"POST": {"role": "owner"}}),
    "team/members/<int:pk>/remove/": (lambda b: {"pk": b.objects["member"].pk}, {}),
    "team/invitations/<int:pk>/resend/": (lambda b: {"pk": b.objects["invitation"].pk}, {}),
    "team/invitations/<int:pk>/cancel/": (lambda b: {"pk": b.objects["invitation"].pk}, {}),
}


def snapshot(tenant: Tenant) -> dict[str, list[dict]]:
    """Every row tenant B owns, and its tenant row: what must not change."""
    rows = {"tenant": list(Tenant.objects.filter(pk=tenant.pk).values())}
    for model in apps.get_models():
        if issubclass(model, TenantOwnedModel):
            rows[model._meta.label] = list(model.objects.for_tenant(tenant).order_by("pk").values())
    return rows


def test_every_route_with_a_parameter_is_in_the_matrix():
    found = set(routes_with_parameters())
    unknown = found - set(MATRIX) - set(NOT_TENANT_OBJECTS)
    assert not unknown, (
        "Routes that take a parameter but are not in the isolation matrix; add each to MATRIX "
        f"with how to name tenant B's object: {sorted(unknown)}"
    )
    stale = (set(MATRIX) | set(NOT_TENANT_OBJECTS)) - found
    assert not stale, f"MATRIX or NOT_TENANT_OBJECTS name routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("pattern", sorted(MATRIX))
def test_tenant_a_cannot_reach_tenant_bs_object(pattern, django_capture_on_commit_callbacks):
    route = routes_with_parameters().get(pattern)
    assert route is not None, f"no route {pattern}"
    assert route.name, f"{pattern} has no name to reverse"
    b = _build_world(django_capture_on_commit_callbacks)
    a = Party()
    kwargs, bodies = MATRIX[pattern]
    url = reverse(route.name, kwargs=kwargs(b))
    if route.api:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {a.secret}")
    else:
        client = log_in(Client(), a.user, a.tenant)
    before = snapshot(b.tenant)
    for method in route.methods:
        body = bodies.get(method, {})
        send = getattr(client, method.lower())
        with django_capture_on_commit_callbacks(execute=True):
            if route.api:
                response = send(url, body, format="json") if method != "GET" else send(url)
            else:
                response = send(url, body) if method != "GET" else send(url)
        assert response.status_code == 404, (method, url, response.status_code)
        if route.api:
            assert response.json()["code"] == "not_found"
    assert snapshot(b.tenant) == before


def test_the_owner_of_its_own_object_gets_past_the_same_routes(django_capture_on_commit_callbacks):
    """The matrix's 404s are about the tenant, not broken URLs: B's owner can read B's objects."""
    b = _build_world(django_capture_on_commit_callbacks)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {b.party.secret}")
    pages = log_in(Client(), b.party.user, b.tenant)
    routes = routes_with_parameters()
    for pattern, (kwargs, _) in MATRIX.items():
        route = routes[pattern]
        if "GET" not in route.methods:
            continue
        response = (api if route.api else pages).get(reverse(route.name, kwargs=kwargs(b)))
        assert response.status_code in (200, 302, 303), (pattern, response.status_code)


def test_a_tenant_owner_never_gets_into_the_staff_admin(client, alice, charlie):
    log_in(client, alice.user, alice.tenant)
    response = client.get(f"/admin/pricing/webhookendpoint/{charlie.tenant.pk}/change/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
