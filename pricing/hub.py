"""Live price feeds: one channel-layer subscription per server process and tenant.

In Channels' usual pattern every connection has its own layer channel and joins the
tenant's group itself, so the layer hands each broadcast to each consumer apart: a queue,
task wake-ups, a msgpack decode, a thread hop (Channels closes stale database connections
before every handler) and a json.dumps, per connection. bench/fanout.py measured 0.3 to
0.9 ms of server CPU per connection per broadcast: seconds for 5,000 clients.

Here the process subscribes once per tenant group and relays each broadcast itself: one
decode and one serialisation, then a WebSocket write per connection. A write that has to
wait (a slow client's full buffer) goes on in a task of its own, so it holds up no one else.
Connections hold no layer channel of their own.
"""

import asyncio
import json
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class Member(Protocol):
    """A live connection, as the hub sees it (pricing.consumers.PriceFeedConsumer)."""

    base_send: Any  # the connection's ASGI send

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the connection should get this price event (it now counts as sent)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Handle any other group message (e.g. access.withdrawn) as a consumer does."""


class _Group:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.members: set[Member] = set()
        self.task: asyncio.Task | None = None


class Hub:
    """The live feeds of one event loop."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.groups: dict[str, _Group] = {}
        self.lock = asyncio.Lock()
        self.writes: set[asyncio.Task] = set()  # writes still waiting on a slow client

    async def join(self, group_name: str, member: Member) -> None:
        """Relay the group's messages to ``member`` from now on (subscribed when this returns)."""
        async with self.lock:
            group = self.groups.get(group_name)
            if group is None:
                channel = await self.layer.new_channel()
                await self.layer.group_add(group_name, channel)
                group = self.groups[group_name] = _Group(channel)
                group.task = asyncio.create_task(self._relay(group))
            group.members.add(member)

    async def leave(self, group_name: str, member: Member) -> None:
        """Stop relaying to ``member``; the last member out ends the subscription."""
        async with self.lock:
            group = self.groups.get(group_name)
            if group is None or member not in group.members:
                return
            group.members.discard(member)
            if group.members:
                return
            del self.groups[group_name]
            group.task.cancel()
            await self.layer.group_discard(group_name, group.channel)

    async def _relay(self, group: _Group) -> None:
        while True:
            message = await self.layer.receive(group.channel)
            if message.get("type") == "price.changed":
                event = message["event"]
                frame = {"type": "websocket.send", "text": json.dumps(event)}
                for member in list(group.members):
                    try:
                        if member.wants(event):
                            self._start(member.base_send(frame))
                    except Exception:
                        logger.exception("could not relay price change %s", event.get("version"))
            else:
                for member in list(group.members):
                    self._start(member.dispatch(message))

    def _start(self, coroutine: Any) -> None:
        # Eager: the coroutine runs now, and almost always finishes without suspending
        # (no task scheduling); only a write that must wait becomes a pending task.
        task = asyncio.eager_task_factory(asyncio.get_running_loop(), coroutine)
        if task.done():
            _consume(task)
        else:
            self.writes.add(task)
            task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task) -> None:
        self.writes.discard(task)
        _consume(task)


def _consume(task: asyncio.Task) -> None:
    """Retrieve a finished write's outcome: a client gone meanwhile is not an error."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("live feed write failed: %r", task.exception())


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The running event loop's hub (one per server process; one per test's loop)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
