"""A Stripe stand-in at the HTTP boundary, for tests.

No machine here reaches Stripe, so tests talk to a real local HTTP server that answers
the endpoints billing.stripe_gateway uses, with Stripe's own example objects
(``fixtures3.json`` from stripe/openapi, what Stripe's mock server answers with), copied
and adjusted: ids, customer, status, price, periods, metadata. stripe-python does the
real work on both sides: it encodes the requests this server parses, decodes the answers,
and signs the webhook payloads tests post.

It keeps customers, subscriptions, invoices and sessions in memory, replays a POST whose
Idempotency-Key it has seen (as Stripe does), drops a meter event whose identifier it has
seen, records every request, and can be told to fail a path a number of times.

Use it in a test module with::

    from billing.tests.stripe_standin import stripe_standin_fixture  # noqa: F401

and a ``stripe_standin`` argument.
"""

import copy
import itertools
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe
from django.conf import settings

from billing import stripe_gateway

SECRET_KEY = "sk_test_placeholder"
WEBHOOK_SECRET = "whsec_test_placeholder"
PRICE_IDS = {"starter": "price_test_starter", "pro": "price_test_pro"}
UNIT_AMOUNTS = {"price_test_starter": 900, "price_test_pro": 2900}
MONTH_SECONDS = 30 * 24 * 3600


def fixtures_path() -> Path:
    default = Path(settings.BASE_DIR).parent / "shared" / "stripe" / "fixtures3.json"
    return Path(os.environ.get("STRIPE_FIXTURES", default))


@dataclass
class Call:
    """One request as the stand-in received it."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    times: int


@dataclass
class _State:
    customers: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    checkout_sessions: dict[str, dict] = field(default_factory=dict)
    portal_sessions: dict[str, dict] = field(default_factory=dict)
    meter_events: dict[str, dict] = field(default_factory=dict)  # by identifier


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        if key.endswith("[]"):
            parts.append("")  # expand[]=x: an append
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                node.setdefault("__list__", []).append(value)
                break
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if "__list__" in node:
        return node["__list__"]
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


class _NotFound(Exception):
    pass


class StripeStandin:
    """State and behaviour of the stand-in; its HTTP server runs in a thread."""

    def __init__(self, fixtures: dict[str, Any]) -> None:
        self.resources = fixtures["resources"]
        self.state = _State()
        self.calls: list[Call] = []
        self._idempotent: dict[str, tuple[dict, int, dict]] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # --- server lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, answer = standin.handle(
                    self.command,
                    parts.path,
                    parse_form(parse_qsl(parts.query, keep_blank_values=True))
                    if self.command in ("GET", "DELETE")
                    else parse_form(parse_qsl(body, keep_blank_values=True)),
                    dict(self.headers.items()),
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_standin_{next(standin._ids)}")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests assert on standin.calls instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- building Stripe objects ------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    def resource(self, name: str) -> dict[str, Any]:
        """A fresh copy of Stripe's example object of this resource."""
        return copy.deepcopy(self.resources[name])

    def customer_put(self, *, tenant_id: Any = None, customer_id: str | None = None) -> dict[str, Any]:
        customer = self.resource("customer")
        customer.update(
            id=customer_id or self._new_id("cus"),
            created=int(time.time()),
            metadata={"tenant_id": str(tenant_id)} if tenant_id is not None else {},
            discount=None,
        )
        with self._lock:
            self.state.customers[customer["id"]] = customer
        return copy.deepcopy(customer)

    def subscription_put(
        self,
        *,
        customer: str,
        price: str = PRICE_IDS["pro"],
        status: str = "active",
        subscription_id: str | None = None,
        metadata: dict[str, str] | None = None,
        period_start: int | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """Store a subscription as Stripe would have it after checkout or a portal change."""
        now = int(time.time())
        start = period_start or now
        sub = self.resource("subscription")
        sub_id = subscription_id or self._new_id("sub")
        item = sub["items"]["data"][0]
        item.update(
            id=self._new_id("si"),
            subscription=sub_id,
            quantity=1,
            created=start,
            current_period_start=start,
            current_period_end=start + MONTH_SECONDS,
        )
        item["price"].update(
            id=price,
            unit_amount=UNIT_AMOUNTS.get(price, 1000),
            unit_amount_decimal=str(UNIT_AMOUNTS.get(price, 1000)),
            created=start,
        )
        item["price"]["recurring"].update(interval="month", interval_count=1)
        sub["items"]["url"] = f"/v1/subscription_items?subscription={sub_id}"
        sub.update(
            id=sub_id,
            customer=customer,
            status=status,
            metadata=metadata or {},
            created=created or start,
            start_date=start,
            billing_cycle_anchor=start,
            cancel_at=None,
            cancel_at_period_end=False,
            canceled_at=None,
            ended_at=None,
            trial_start=None,
            trial_end=None,
            latest_invoice=None,
            pending_update=None,
        )
        if status == "canceled":
            sub.update(canceled_at=now, ended_at=now)
        with self._lock:
            self.state.subscriptions[sub_id] = sub
        return copy.deepcopy(sub)

    def subscription_set(self, subscription_id: str, *, price: str | None = None, **changes: Any) -> dict:
        """Change a stored subscription, as a portal change or Stripe's dunning would."""
        with self._lock:
            sub = self.state.subscriptions[subscription_id]
            if price is not None:
                sub["items"]["data"][0]["price"].update(id=price, unit_amount=UNIT_AMOUNTS.get(price, 1000))
            if changes.get("status") == "canceled":
                now = int(time.time())
                changes = {"canceled_at": now, "ended_at": now, **changes}
            sub.update(changes)
            return copy.deepcopy(sub)

    def invoice_put(
        self,
        *,
        subscription: str,
        status: str = "paid",
        amount: int | None = None,
        invoice_id: str | None = None,
    ) -> dict[str, Any]:
        """Store an invoice of a stored subscription (paid, or open after a failed payment)."""
        with self._lock:
            sub = self.state.subscriptions[subscription]
        amount = amount if amount is not None else sub["items"]["data"][0]["price"]["unit_amount"]
        invoice = self.resource("invoice")
        invoice_id = invoice_id or self._new_id("in")
        now = int(time.time())
        invoice.update(
            id=invoice_id,
            customer=sub["customer"],
            subscription=None,  # this API version names it under parent.subscription_details
            status=status,
            number=f"STANDIN-{next(self._ids):04d}",
            amount_due=amount,
            amount_paid=amount if status == "paid" else 0,
            amount_remaining=0 if status == "paid" else amount,
            total=amount,
            subtotal=amount,
            created=now,
            period_start=now - MONTH_SECONDS,
            period_end=now,
            attempted=True,
            attempt_count=1,
            hosted_invoice_url=f"https://invoice.stripe.test/i/{invoice_id}",
            invoice_pdf=f"https://pay.stripe.test/invoice/{invoice_id}/pdf",
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": subscription, "metadata": sub["metadata"]},
            },
        )
        invoice["lines"]["data"] = []
        invoice["lines"]["url"] = f"/v1/invoices/{invoice_id}/lines"
        with self._lock:
            self.state.invoices[invoice_id] = invoice
        return copy.deepcopy(invoice)

    def checkout_complete(self, session_id: str, *, status: str = "active") -> dict[str, Any]:
        """The customer paid on Stripe's page: the session completes with a new subscription."""
        with self._lock:
            session = self.state.checkout_sessions[session_id]
            sub = self.subscription_put(
                customer=session["customer"],
                price=session["_line_items"][0]["price"],
                status=status,
                metadata=session["_subscription_metadata"],
            )
            session.update(status="complete", payment_status="paid", subscription=sub["id"])
        return sub

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """A webhook event as Stripe sends it, shaped from Stripe's example event."""
        event = self.resource("event")
        event.update(
            id=event_id or self._new_id("evt"),
            type=event_type,
            created=int(time.time()),
            api_version=stripe.api_version,
            data={"object": _public(obj)},
            request={"id": None, "idempotency_key": None},
        )
        return event

    @staticmethod
    def sign(event: dict[str, Any] | str, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET):
        """The body and Stripe-Signature header of a webhook delivery."""
        body = event if isinstance(event, str) else json.dumps(event)
        return body, stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)

    # --- test controls and observations ------------------------------------------------------

    def fail(self, method: str, path_prefix: str, *, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with an error."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), path_prefix, status, times))

    def heal(self) -> None:
        with self._lock:
            self._failures.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """The requests received, optionally of one method and under one path."""
        method = method.upper() if method else None
        with self._lock:
            return [
                c
                for c in self.calls
                if method in (None, c.method) and (path is None or c.path.startswith(path))
            ]

    @property
    def meter_events(self) -> list[dict[str, Any]]:
        """The meter events Stripe counted (a duplicate identifier counts once)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self.state.meter_events.values()]

    # --- the HTTP API --------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, headers: dict[str, str]) -> tuple[int, dict]:
        key = headers.get("Idempotency-Key")
        with self._lock:
            self.calls.append(Call(method, path, params, key))
            if headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                return 401, _error("authentication_error", "Invalid API Key provided.", code="invalid_key")
            for failure in self._failures:
                if failure.times > 0 and failure.method == method and path.startswith(failure.path_prefix):
                    failure.times -= 1
                    return failure.status, _error("api_error", "The stand-in was told to fail this request.")
            if method == "POST" and key in self._idempotent:
                previous, status, answer = self._idempotent[key]
                if previous != params:
                    return 400, _error("idempotency_error", "Keys for idempotent requests can only be used "
                                       "with the same parameters they were first used with.")  # fmt: skip
                return status, answer
            try:
                status, answer = self._route(method, path, params)
            except _NotFound as missing:
                message = f"No such object: '{missing}'"
                status, answer = 404, _error("invalid_request_error", message, code="resource_missing")
            if method == "POST" and key:
                self._idempotent[key] = (params, status, answer)
            return status, answer

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        state = self.state
        routes = [
            ("POST", r"/v1/customers", self._customer_create),
            ("GET", r"/v1/customers/(?P<id>[^/]+)", lambda p, id: self._get(state.customers, id)),
            ("POST", r"/v1/checkout/sessions", self._checkout_create),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._checkout_get),
            ("POST", r"/v1/billing_portal/sessions", self._portal_create),
            ("GET", r"/v1/subscriptions", self._subscriptions_list),
            ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", lambda p, id: self._get(state.subscriptions, id)),
            ("GET", r"/v1/invoices", self._invoices_list),
            ("GET", r"/v1/invoices/(?P<id>[^/]+)", lambda p, id: self._get(state.invoices, id)),
            ("POST", r"/v1/billing/meter_events", self._meter_event_create),
        ]
        for route_method, pattern, view in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                return 200, view(params, **match.groupdict())
        raise _NotFound(path)

    @staticmethod
    def _get(store: dict[str, dict], object_id: str) -> dict:
        if object_id not in store:
            raise _NotFound(object_id)
        return _public(store[object_id])

    def _customer_create(self, params: dict) -> dict:
        customer = self.customer_put()
        with self._lock:
            stored = self.state.customers[customer["id"]]
            stored.update(name=params.get("name"), metadata=params.get("metadata", {}))
            return copy.deepcopy(stored)

    def _checkout_create(self, params: dict) -> dict:
        if params.get("customer") not in self.state.customers:
            raise _NotFound(params.get("customer"))
        session = self.resource("checkout.session")
        session_id = self._new_id("cs_test")
        session.update(
            id=session_id,
            mode=params.get("mode"),
            customer=params.get("customer"),
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata", {}),
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            status="open",
            payment_status="unpaid",
            payment_intent=None,
            subscription=None,
            created=int(time.time()),
            url=f"https://checkout.stripe.test/c/pay/{session_id}",
            _line_items=params.get("line_items", []),
            _subscription_metadata=params.get("subscription_data", {}).get("metadata", {}),
        )
        self.state.checkout_sessions[session_id] = session
        return _public(session)

    def _checkout_get(self, params: dict, id: str) -> dict:
        return self._get(self.state.checkout_sessions, id)

    def _portal_create(self, params: dict) -> dict:
        if params.get("customer") not in self.state.customers:
            raise _NotFound(params.get("customer"))
        session = self.resource("billing_portal.session")
        session.update(
            id=self._new_id("bps"),
            customer=params["customer"],
            return_url=params.get("return_url"),
            created=int(time.time()),
            flow=None,
        )
        session["url"] = f"https://billing.stripe.test/p/session/{session['id']}"
        self.state.portal_sessions[session["id"]] = session
        return _public(session)

    def _subscriptions_list(self, params: dict) -> dict:
        status = params.get("status")
        subs = [
            s
            for s in self.state.subscriptions.values()
            if s["customer"] == params.get("customer", s["customer"])
            and (status == "all" or (s["status"] == status if status else s["status"] != "canceled"))
        ]
        return _list(subs, "/v1/subscriptions", int(params.get("limit", 10)))

    def _invoices_list(self, params: dict) -> dict:
        customer = params.get("customer")
        invoices = [i for i in self.state.invoices.values() if customer in (None, i["customer"])]
        return _list(invoices, "/v1/invoices", int(params.get("limit", 10)))

    def _meter_event_create(self, params: dict) -> dict:
        identifier = params.get("identifier") or self._new_id("mev")
        if identifier not in self.state.meter_events:  # Stripe drops a duplicate identifier
            self.state.meter_events[identifier] = {
                **self.resource("billing.meter_event"),
                "event_name": params.get("event_name"),
                "identifier": identifier,
                "payload": params.get("payload", {}),
                "timestamp": int(params.get("timestamp") or time.time()),
                "created": int(time.time()),
            }
        return copy.deepcopy(self.state.meter_events[identifier])


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy without the stand-in's private bookkeeping keys."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _list(items: list[dict], url: str, limit: int) -> dict:
    ordered = sorted(items, key=lambda o: o.get("created") or 0, reverse=True)
    return {"object": "list", "data": [_public(o) for o in ordered[:limit]], "has_more": False, "url": url}


def _error(error_type: str, message: str, *, code: str | None = None) -> dict:
    return {"error": {"type": error_type, "message": message, "code": code}}


@pytest.fixture(name="stripe_standin")
def stripe_standin_fixture(settings, monkeypatch) -> Iterator[StripeStandin]:
    """A running stand-in, with settings pointing Pricelab's Stripe client at it."""
    path = fixtures_path()
    if not path.exists():
        pytest.skip(f"Stripe's fixtures3.json not found at {path} (set STRIPE_FIXTURES)")
    standin = StripeStandin(json.loads(path.read_text()))
    standin.start()
    settings.STRIPE_API_BASE = standin.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_IDS = dict(PRICE_IDS)
    # No network retries (with their sleeps): a failure the stand-in is told to give is
    # seen at once, and each request in the records is one call of ours.
    monkeypatch.setattr(stripe_gateway, "MAX_NETWORK_RETRIES", 0)
    try:
        yield standin
    finally:
        standin.stop()


WEBHOOK_URL = "/billing/stripe/webhook/"


def deliver(client, event: dict | str, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET):
    """POST a signed webhook delivery to Pricelab, as Stripe would."""
    body, header = StripeStandin.sign(event, timestamp=timestamp, secret=secret)
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
