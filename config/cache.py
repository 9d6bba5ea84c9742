"""Django's Redis cache backend, with two costs of the hot path taken out.

- Django's client builds a new ``redis.Redis`` for every cache operation, and redis-py
  fills a table of some 170 response callbacks each time: about as much CPU as sending
  the command (measured with bench/quote.py). redis-py clients are thread-safe and meant
  to be shared, so this one keeps one per connection pool.
- ``incr`` costs Django two round trips (EXISTS, then INCRBY, to raise on a missing key);
  here one script does both, so django-ratelimit's counter is one round trip after the
  window's first request.
"""

from typing import Any

from django.core.cache.backends import redis as django_redis

# Increment only a key that exists: Django's incr raises ValueError on a missing key.
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers: Any, **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}
        self._incr_script: Any = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
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
