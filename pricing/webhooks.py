"""Outbound webhooks: signed POSTs of a tenant's events to its endpoints.

Reliability by outbox: a price change writes its deliveries in its own transaction, so
an event committed is an event owed. Each delivery is tried at once after commit and
then by a sweep every minute, with exponential backoff over more than a day; every
attempt is recorded. A delivery is claimed with a conditional UPDATE before it is sent,
so two workers never send it at the same time, and receivers dedupe on the event id,
which never changes across retries or redeliveries.

Signature (documented in the README): header ``Pricelab-Signature: t=<unix time>,v1=<hex>``
where ``hex = HMAC-SHA256(secret, f"{t}.{raw body}")``. For a while after the secret is
rolled, a second ``v1=`` made with the previous secret follows the first.
"""

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor, actor_for
from audit.services import audit_record, diff, snapshot
from pricing.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant

logger = logging.getLogger(__name__)

EVENT_TYPES = ("price.changed",)
SIGNATURE_HEADER = "Pricelab-Signature"
# Seconds to wait for a receiver. A slow receiver holds one worker slot this long at most;
# every delivery is its own task, so it cannot hold up the others' deliveries.
TIMEOUT_SECONDS = 10
# Waits before each retry: 30 s doubling to 12 h, 10 attempts over about 28 hours.
BACKOFF = [
    timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
    timedelta(hours=1), timedelta(hours=2), timedelta(hours=4), timedelta(hours=8), timedelta(hours=12),
]  # fmt: skip
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a claimed delivery is reserved for the worker that claimed it.
CLAIM_SECONDS = TIMEOUT_SECONDS * 3
ERROR_CHARS = 500


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could point anywhere, including our own network


_opener = urllib.request.build_opener(_NoRedirects)


def url_refusal(url: str) -> str | None:
    """Why a URL may not receive webhooks, or None. Private and loopback targets are
    refused outside DEBUG: a webhook must not become a way into our own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use an http or https URL."
    if settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError):
        return "The host name does not resolve."
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return "The URL points at a private, loopback or reserved address."
    return None


# What the audit log keeps of an endpoint; never its signing secret.
_AUDITED_FIELDS = ("url", "description", "event_types", "active")


@transaction.atomic
def endpoint_create(
    *, tenant: Tenant, url: str, event_types: list[str], description: str = "", by: Actor | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint. Returns it with its signing secret, which is shown only now."""
    refusal = url_refusal(url)
    if refusal:
        raise ValidationError({"url": refusal})
    unknown = set(event_types) - set(EVENT_TYPES)
    if not event_types or unknown:
        raise ValidationError({"event_types": f"Choose from {', '.join(EVENT_TYPES)}."})
    secret = _secret_new()
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant, url=url, event_types=sorted(set(event_types)), description=description, secret=secret
    )
    audit_record(
        tenant=tenant,
        actor=actor_for(by=by),
        action="webhook.endpoint_created",
        target=endpoint,
        after=snapshot(endpoint, _AUDITED_FIELDS),
    )
    return endpoint, secret


# How long the previous secret may keep signing after a roll: a day by default, long
# enough to deploy the new one; at most a week, after which the old secret must be gone.
ROLL_KEEP_PREVIOUS_HOURS = 24
ROLL_KEEP_PREVIOUS_HOURS_MAX = 7 * 24


def _secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def endpoint_secret_roll(
    *, endpoint: WebhookEndpoint, keep_previous_hours: int = ROLL_KEEP_PREVIOUS_HOURS, by: Actor | None = None
) -> str:
    """Give an endpoint a new signing secret, shown only now; the current one keeps signing
    beside it for ``keep_previous_hours`` (0: stops at once). A second roll within that
    time ends the older secret: only one previous secret signs."""
    if not 0 <= keep_previous_hours <= ROLL_KEEP_PREVIOUS_HOURS_MAX:
        raise ValidationError(
            {"keep_previous_hours": f"Choose from 0 to {ROLL_KEEP_PREVIOUS_HOURS_MAX} hours."}
        )
    now = timezone.now()
    if keep_previous_hours:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(hours=keep_previous_hours)
    else:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
    endpoint.secret = _secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit_record(
        tenant=endpoint.tenant_id,
        actor=actor_for(by=by),
        action="webhook.secret_rolled",
        target=endpoint,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
    )
    return endpoint.secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    description: str | None = None,
    active: bool | None = None,
    by: Actor | None = None,
) -> WebhookEndpoint:
    """Relabel, pause or resume an endpoint; a paused one's queued deliveries wait untried."""
    before = snapshot(endpoint, _AUDITED_FIELDS)
    changed = []
    if description is not None:
        endpoint.description = description
        changed.append("description")
    if active is not None:
        endpoint.active = active
        changed.append("active")
    if changed:
        endpoint.save(update_fields=changed)
    old, new = diff(before, snapshot(endpoint, _AUDITED_FIELDS))
    if new:
        audit_record(
            tenant=endpoint.tenant_id,
            actor=actor_for(by=by),
            action="webhook.endpoint_updated",
            target=endpoint,
            before=old,
            after=new,
        )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, by: Actor | None = None) -> None:
    """Remove an endpoint with its deliveries and attempts; what it was still owed is never sent."""
    audit_record(
        tenant=endpoint.tenant_id,
        actor=actor_for(by=by),
        action="webhook.endpoint_deleted",
        target=endpoint,
        before=snapshot(endpoint, _AUDITED_FIELDS),
    )
    endpoint.delete()


def sign(signing_secrets: list[str], timestamp: int, body: bytes) -> str:
    """The signature header's value: one ``v1=`` per secret, the current secret's first."""
    signed = f"{timestamp}.".encode() + body
    digests = (hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in signing_secrets)
    return f"t={timestamp}," + ",".join(f"v1={digest}" for digest in digests)


def event_enqueue(*, tenant_id: int, event_type: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Owe this event to every endpoint that wants it (inside the event's transaction)."""
    endpoints = [
        e
        for e in WebhookEndpoint.objects.for_tenant(tenant_id).filter(active=True)
        if event_type in e.event_types
    ]
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    created = timezone.now().isoformat().replace("+00:00", "Z")
    payload = {"id": str(event_id), "type": event_type, "created": created, "data": data}
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            tenant_id=tenant_id, endpoint=e, event_id=event_id, event_type=event_type, payload=payload
        )
        for e in endpoints
    )
    for delivery in deliveries:
        transaction.on_commit(functools.partial(_enqueue, delivery.pk))
    return deliveries


def _enqueue(delivery_id: int) -> None:
    from pricing.tasks import webhook_deliver

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Embedded mode: an eager task would POST inside the request that changed the
        # price. The scheduler's sweep delivers within seconds instead.
        return
    try:
        webhook_deliver.delay(delivery_id)
    except Exception:  # the sweep will find it
        logger.exception("could not enqueue webhook delivery %s", delivery_id)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.unscoped()
        .filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__active=True,
        )
        .update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.unscoped().select_related("endpoint").get(pk=delivery_id)


def deliver(*, delivery_id: int) -> WebhookAttempt | None:
    """Try one due delivery once; None if it is not due or another worker has it."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    endpoint = delivery.endpoint
    request = urllib.request.Request(  # noqa: S310  (scheme checked by url_refusal)
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Pricelab-Webhooks/1",
            "Pricelab-Event-Id": str(delivery.event_id),
            "Pricelab-Event-Type": delivery.event_type,
            SIGNATURE_HEADER: sign(endpoint.signing_secrets(), timestamp, body),
        },
    )
    started = time.monotonic()
    status_code, error = None, ""
    refusal = url_refusal(endpoint.url)  # again: the name may resolve elsewhere by now
    if refusal:
        error = refusal
    else:
        try:
            with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                status_code = response.status
        except urllib.error.HTTPError as failure:
            status_code = failure.code
        except (urllib.error.URLError, TimeoutError, OSError) as failure:
            error = str(getattr(failure, "reason", failure))
    latency = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if not ok and not error:
        error = f"HTTP {status_code}"
    return _record(delivery, ok=ok, status_code=status_code, latency_ms=latency, error=error)


@transaction.atomic
def _record(
    delivery: WebhookDelivery, *, ok: bool, status_code: int | None, latency_ms: int, error: str
) -> WebhookAttempt:
    now = timezone.now()
    attempt = WebhookAttempt.objects.create(
        tenant_id=delivery.tenant_id,
        delivery=delivery,
        attempted_at=now,
        succeeded=ok,
        response_status=status_code,
        latency_ms=latency_ms,
        error=error[:ERROR_CHARS],
    )
    delivery.attempts += 1
    if ok:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    return attempt


@transaction.atomic
def redeliver(*, delivery: WebhookDelivery, by: Actor | None = None) -> WebhookDelivery:
    """Send a delivery again now (same event id), whatever its status."""
    WebhookDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
    )
    audit_record(
        tenant=delivery.tenant_id,
        actor=actor_for(by=by),
        action="webhook.redelivered",
        target=("webhookdelivery", delivery.pk, f"{delivery.event_type} {delivery.event_id}"),
        before={"status": delivery.status, "attempts": delivery.attempts},
    )
    transaction.on_commit(functools.partial(_enqueue, delivery.pk))
    delivery.refresh_from_db()
    return delivery


def due_deliveries(limit: int = 500) -> list[int]:
    """Deliveries whose time has come, oldest first (the sweep's work list)."""
    return list(
        WebhookDelivery.objects.unscoped()
        # A disabled endpoint's deliveries wait, untried, until it is enabled again.
        .filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(), endpoint__active=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
