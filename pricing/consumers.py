from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.observability import request_id_from, request_id_set
from pricing import hub, live, realtime

# A client may filter to this many skus; more is the whole catalogue.
MAX_SKU_FILTER = 500
# No channel-layer alias by this name exists: a connection gets no layer channel of its
# own, since the process's hub (pricing.hub) subscribes to the tenant's group for it.
NO_LAYER = "pricelab-feeds-use-the-hub"


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other WebSocket path: a clear close code instead of a server error."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404, reason="not_found")


class PriceFeedConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/prices/``: the tenant's price changes, live.

    Query: ``skus=a,b`` to filter, ``since=<version>`` to replay what was missed,
    ``token=`` for a browser token, ``tenant=<slug>`` to insist on a tenant.
    """

    group: str | None = None
    channel_layer_alias = NO_LAYER
    _held: list[dict[str, Any]] | None = None  # live events that came while connecting

    async def connect(self) -> None:
        # The handshake's X-Request-ID (or a new one) names this connection in logs and Sentry.
        headers = dict(self.scope.get("headers", []))
        request_id_set(request_id_from(headers.get(b"x-request-id", b"").decode("latin-1") or None))
        # Accept first, so a refusal reaches the client as a readable close code.
        await self.accept()
        listener = await database_sync_to_async(realtime.authenticate)(self.scope)
        if listener.tenant is None:
            await self.close(code=listener.close_code, reason=listener.reason)
            return
        params = realtime.query(self.scope)
        skus = {s for s in params.get("skus", "").split(",") if s} or None
        try:
            since = int(params["since"]) if "since" in params else None
        except ValueError:
            since = -1  # refused below, as SSE refuses it
        if (skus and len(skus) > MAX_SKU_FILTER) or (since is not None and since < 0):
            await self.close(code=4400, reason="invalid_parameters")
            return
        self.skus = skus
        self.api_key_id = listener.api_key_id
        self.user_id = listener.user_id
        self.group = live.group_name(listener.tenant.pk)
        # Join before reading the log: a change committed in between arrives both ways, and
        # the version check drops the second copy. Live events are held until the replay
        # is out, so that a client sees versions in order.
        self._held = []
        await hub.hub().join(self.group, self)
        version, missed = await database_sync_to_async(live.feed_start)(listener.tenant.pk, since, skus)
        self.last_version = since if since is not None else version
        await self.send_json(
            {
                "type": "subscribed",
                "tenant": listener.tenant.slug,
                "version": version,
                "skus": sorted(skus or []),
            }
        )
        for event in missed:
            await self._deliver(event)
        if len(missed) >= live.REPLAY_LIMIT:
            await self.send_json({"type": "replay.truncated", "version": self.last_version})
        while self._held:
            await self._deliver(self._held.pop(0))
        self._held = None  # no await since the last check: nothing can slip in between

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await hub.hub().leave(self.group, self)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "version": self.last_version})

    async def access_withdrawn(self, message: dict[str, Any]) -> None:
        if live.withdrawal_applies(message, api_key_id=self.api_key_id, user_id=self.user_id):
            code = (
                realtime.CLOSE_UNAUTHENTICATED
                if message["reason"] in ("api_key_revoked", "password_changed")  # signed out
                else realtime.CLOSE_FORBIDDEN
            )
            await self.close(code=code, reason=message["reason"])

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the hub should write this live event to the connection now."""
        if self._held is not None:
            self._held.append(event)
            return False
        return self._fresh(event)

    def _fresh(self, event: dict[str, Any]) -> bool:
        if event["version"] <= self.last_version:
            return False
        self.last_version = event["version"]
        return self.skus is None or event["sku"] in self.skus

    async def _deliver(self, event: dict[str, Any]) -> None:
        if self._fresh(event):
            await self.send_json(event)
