"""``GET /api/v1/prices/stream``: the live price feed as Server-Sent Events.

The same events as ``/ws/prices/``, for clients that cannot hold a WebSocket. Each
event's ``id`` is its version, so a reconnecting ``EventSource`` resumes by itself with
``Last-Event-ID`` (or send ``?since=<version>``). Authenticate as for the WebSocket:
``Authorization: Bearer <key>``, a ``?token=`` from ``POST /api/v1/realtime/tokens/``,
or the web session. Served by the ASGI (realtime) process.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from config.api import error_body
from pricing import live, realtime
from pricing.consumers import MAX_SKU_FILTER

# Proxies drop connections that stay silent; a comment line every so often keeps it open.
KEEPALIVE_SECONDS = 15
_STATUS = {realtime.CLOSE_UNAUTHENTICATED: 401, realtime.CLOSE_FORBIDDEN: 403}


def _frame(event: dict[str, Any], name: str | None = None) -> str:
    lines = []
    if "version" in event and event.get("type") == "price.changed":
        lines.append(f"id: {event['version']}")
    lines.append(f"event: {name or event['type']}")
    lines.append(f"data: {json.dumps(event, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


async def _events(
    tenant_id: int,
    slug: str,
    since: int | None,
    skus: set[str] | None,
    api_key_id: int | None,
    user_id: int | None = None,
) -> AsyncIterator[str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = live.group_name(tenant_id)
    await layer.group_add(group, channel)
    receiving: asyncio.Future | None = None
    try:
        version, missed = await sync_to_async(live.feed_start)(tenant_id, since, skus)
        last = since if since is not None else version
        hello = {"type": "subscribed", "tenant": slug, "version": version, "skus": sorted(skus or [])}
        yield _frame(hello)
        for event in missed:
            last = event["version"]
            yield _frame(event)
        receiving = asyncio.ensure_future(layer.receive(channel))
        while True:
            # Wait without cancelling the receive: the pub/sub layer unsubscribes a channel
            # whose receive is cancelled, and a message could slip through meanwhile.
            done, _ = await asyncio.wait({receiving}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ": keepalive\n\n"
                continue
            message = receiving.result()
            if message.get("type") == "access.withdrawn" and live.withdrawal_applies(
                message, api_key_id=api_key_id, user_id=user_id
            ):
                yield _frame({"type": "access.withdrawn", "reason": message["reason"]})
                return  # the key was revoked, the person removed or the tenant suspended: it ends
            receiving = asyncio.ensure_future(layer.receive(channel))
            event = message.get("event") or {}
            if event.get("version", 0) <= last:
                continue
            last = event["version"]
            if skus is None or event["sku"] in skus:
                yield _frame(event)
    finally:
        if receiving is not None:
            receiving.cancel()
        await layer.group_discard(group, channel)


async def price_stream(request: HttpRequest) -> HttpResponse:
    """The tenant's price changes as ``text/event-stream``."""
    if request.method != "GET":
        return JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'), status=405
        )
    scope = {
        # What realtime.authenticate needs to know it is an HTTP request from a page (the
        # secret-key-from-a-browser check) and this site's own origin.
        "type": "http",
        "scheme": request.scheme,
        "headers": [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in request.headers.items()],
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1", "replace"),
        "user": await request.auser(),
        "session": request.session,
    }
    listener = await sync_to_async(realtime.authenticate)(scope)
    if listener.tenant is None:
        message = {"not_authenticated": "Send 'Authorization: Bearer <api key>', a token, or log in."}
        body = error_body(
            listener.reason,
            listener.message or message.get(listener.reason, listener.reason.replace("_", " ")),
        )
        return JsonResponse(body, status=_STATUS.get(listener.close_code, 403))
    params = realtime.query(scope)
    skus = {s for s in params.get("skus", "").split(",") if s} or None
    resume = request.headers.get("Last-Event-ID") or params.get("since")
    try:
        since = int(resume) if resume is not None else None
    except ValueError:
        since = -1
    if (since is not None and since < 0) or (skus and len(skus) > MAX_SKU_FILTER):
        return JsonResponse(
            error_body("invalid_parameters", "since must be a version; at most 500 skus."), status=400
        )
    response = StreamingHttpResponse(
        _events(listener.tenant.pk, listener.tenant.slug, since, skus, listener.api_key_id, listener.user_id),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response
