from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from pricing import live, realtime

# A client may filter to this many skus; more is the whole catalogue.
MAX_SKU_FILTER = 500


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

    async def connect(self) -> None:
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
        # Join before reading the log: a change committed in between arrives both ways,
        # and the version check below drops the second copy.
        await self.channel_layer.group_add(self.group, self.channel_name)
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

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "version": self.last_version})

    async def access_withdrawn(self, message: dict[str, Any]) -> None:
        if live.withdrawal_applies(message, api_key_id=self.api_key_id, user_id=self.user_id):
            code = (
                realtime.CLOSE_UNAUTHENTICATED
                if message["reason"] == "api_key_revoked"
                else realtime.CLOSE_FORBIDDEN
            )
            await self.close(code=code, reason=message["reason"])

    async def price_changed(self, message: dict[str, Any]) -> None:
        await self._deliver(message["event"])

    async def _deliver(self, event: dict[str, Any]) -> None:
        if event["version"] <= self.last_version:
            return
        self.last_version = event["version"]
        if self.skus is None or event["sku"] in self.skus:
            await self.send_json(event)
