"""Django's Redis cache backend, with two costs of the hot path taken out.

- Django's client builds a new ``redis.Redis`` for every cache operation, and redis-py
  fills a table of some 170 response callbacks each time: about as much CPU as sending
  the command (measured with bench/quote.py). redis-py clients are thread-safe and meant
  to be shared, so this one keeps one per connection pool.
- ``incr`` costs Django two round trips (EXISTS, then INCRBY, to raise on a missing key);
  here one script does both, so django-ratelimit's counter is one round trip after the
  window's first request.

And one cost of an outage taken out: redis-py waits for a connect without a limit and
Django's backend raises on every operation, so a dead Redis could cost a request seconds.
Here connects and commands time out in well under a second, and after a failed connect
the pool refuses at once for a moment instead of trying again on every command (a
circuit breaker): a quote that touches Redis half a dozen times pays for one failure.
Operations still raise ``redis.exceptions.RedisError`` as Django's backend does; the
callers on the quote path catch it and carry on from PostgreSQL or the process's memory.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache.backends import redis as django_redis

from config.logs import warn_throttled

logger = logging.getLogger(__name__)

# Redis answers in well under a millisecond on the same network; a connect that takes
# longer than this is a Redis that is down or unreachable.
SOCKET_CONNECT_TIMEOUT_SECONDS = 0.25
# A command (not a connect) that takes longer than this is a Redis that has stopped
# answering. No command we send blocks on the server side (locks are non-blocking).
SOCKET_TIMEOUT_SECONDS = 0.5
# After a failed connect the pool refuses at once for this long, then tries again: short
# enough that a Redis that is back is used within seconds, long enough that a process
# does not pay a connect timeout per command while it is down.
BREAKER_OPEN_SECONDS = 2.0

# Increment only a key that exists: Django's incr raises ValueError on a missing key.
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


_unsent: dict[str, Callable[[], object]] = {}
_unsent_lock = threading.Lock()
_resending = threading.local()
# Invalidations held while Redis is down, at most: one per tenant config and key, so this
# is far more than an outage produces; past it the oldest go (their TTLs still bound them).
UNSENT_MAX = 10_000


def invalidate(name: str, write: Callable[[], object]) -> None:
    """Run a cache write that invalidates (a new config token, a refreshed key record).

    If Redis cannot be reached, the write is kept (by ``name``: a later one replaces it)
    and run again by this process as soon as Redis answers, so that a price change or a
    revoke made during an outage is not undone by the stale entries Redis still holds when
    it is back. A process that exits first loses its kept writes; the entries' own TTLs
    (``apikeys.RECORD_TTL_SECONDS``, ``pricing.config.CONFIG_TTL_SECONDS``) bound that.
    """
    try:
        write()
    except redis.exceptions.RedisError:
        with _unsent_lock:
            _unsent.pop(name, None)
            if len(_unsent) >= UNSENT_MAX:
                _unsent.pop(next(iter(_unsent)))
            _unsent[name] = write
        warn_throttled(logger, "cache-invalidate", "cache invalidation kept until Redis answers again")


def invalidations_resend() -> None:
    """Run the invalidations kept during an outage, oldest first, while Redis answers."""
    if not _unsent or getattr(_resending, "active", False):
        return
    _resending.active = True
    try:
        while _unsent:
            with _unsent_lock:
                if not _unsent:
                    break
                name = next(iter(_unsent))
                write = _unsent.pop(name)
            try:
                write()
            except redis.exceptions.RedisError:
                with _unsent_lock:
                    _unsent.setdefault(name, write)
                return
        logger.info("cache invalidations kept during an outage were sent")
    finally:
        _resending.active = False


class RedisUnavailable(redis.exceptions.ConnectionError):
    """Redis failed to connect a moment ago: refused without trying (the breaker is open)."""


class BreakerConnectionPool(redis.ConnectionPool):
    """A connection pool that, after a failed connect, refuses for a moment without trying."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open_until = 0.0
        self._breaker_lock = threading.Lock()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._open_until:
            raise RedisUnavailable("Redis was unreachable a moment ago; not trying again yet")
        try:
            return super().get_connection(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            with self._breaker_lock:
                self._open_until = time.monotonic() + BREAKER_OPEN_SECONDS
            raise

    def breaker_open(self) -> bool:
        return time.monotonic() < self._open_until


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers: Any, **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}
        self._incr_script: Any = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if _unsent:
            invalidations_resend()  # Redis may be back: first what was kept while it was not
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        if self._incr_script is None:
            self._incr_script = client.register_script(_INCR_EXISTING)
        value = self._incr_script(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(django_redis.RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with the client above."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        # Settings may override any of these (OPTIONS); these are what an outage needs.
        self._options = {
            "pool_class": BreakerConnectionPool,
            "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            **self._options,
        }
