"""The cached pricing config that quotes read, and its invalidation.

Each product's quote config (base price and running experiment) is cached under the
tenant's current *version token*. Any change to a tenant's products or experiments
writes a new random token after commit, so every later read misses and rebuilds from
the database; a reader that built its config just before the change stored it under the
old token, which nobody reads again. Quotes therefore never serve a price older than
the last committed change, and the warm path makes no database query.
"""

import hashlib
import secrets
import threading
from typing import Any

from django.core.cache import cache

from config.cache import invalidate

# Config entries outlive any realistic gap between changes; a bump makes them unreachable,
# and the TTL only reclaims their memory.
CONFIG_TTL_SECONDS = 3600
VERSION_TTL_SECONDS = None  # the version token must never expire on its own
# Entries a process keeps for the one-round-trip quote (pricing.hotpath). An entry is a few
# hundred bytes, so this bounds the copy at a few MB; when full it starts over, which costs
# one cache read per sku quoted next.
LOCAL_MAX_ENTRIES = 20_000


def _version_key(tenant_id: int) -> str:
    # v2: tokens are integers, stored as plain digits, so a Redis script can compare them.
    return f"pricing:version:v2:{tenant_id}"


def version_cache_key(tenant_id: int) -> str:
    """The version token's key as stored in Redis (prefixed by the cache)."""
    return cache.make_key(_version_key(tenant_id))


def _new_token() -> int:
    # Random, not a counter: a token lost with Redis's data is never issued again, so
    # entries cached under the old one can never be read as current.
    return secrets.randbits(63)


def version(tenant_id: int) -> int:
    """The tenant's current version token, creating one if there is none."""
    token = cache.get(_version_key(tenant_id))
    if token is None:
        cache.add(_version_key(tenant_id), _new_token(), VERSION_TTL_SECONDS)
        token = cache.get(_version_key(tenant_id))
    return token


def bump(tenant_id: int) -> None:
    """Invalidate every cached config of a tenant. Called after commit."""
    # Kept and sent again if Redis is down now: entries under the old token must not come
    # back as current when it is up again.
    invalidate(
        f"config:{tenant_id}",
        lambda: cache.set(_version_key(tenant_id), _new_token(), VERSION_TTL_SECONDS),
    )


# The token quotes report when Redis could not be asked: it matches no token Redis holds
# (those are non-negative), so nothing priced under it is ever confirmed as current.
UNCACHED_TOKEN = -1


# The process's own copy of entries, by (version key, token, sku), and the token it last
# saw per tenant. Entries under a token never change, so a copy is right for as long as
# the token is current, which pricing.hotpath's script checks on every quote.
_local: dict[tuple[str, int, str], dict[str, Any]] = {}
_local_tokens: dict[str, int] = {}
_local_lock = threading.Lock()


def local_read(tenant_id: int, skus: list[str]) -> tuple[int, dict[str, dict[str, Any]]] | None:
    """The token this process last saw and its copies of these skus' entries; None unless it has all."""
    key = version_cache_key(tenant_id)
    token = _local_tokens.get(key)
    if token is None:
        return None
    found = {}
    for sku in skus:
        entry = _local.get((key, token, sku))
        if entry is None:
            return None
        found[sku] = entry
    return token, found


def local_remember(tenant_id: int, token: int, entries: dict[str, dict[str, Any]]) -> None:
    """Keep copies of entries read under ``token``, now the tenant's current one."""
    key = version_cache_key(tenant_id)
    with _local_lock:
        if len(_local) + len(entries) > LOCAL_MAX_ENTRIES:
            _local.clear()
            _local_tokens.clear()
        if _local_tokens.get(key) != token:
            for stale in [k for k in _local if k[0] == key]:
                del _local[stale]
            _local_tokens[key] = token
        for sku, entry in entries.items():
            _local[(key, token, sku)] = entry


def local_forget(tenant_id: int) -> None:
    """Drop the token this process holds for a tenant (Redis holds another)."""
    _local_tokens.pop(version_cache_key(tenant_id), None)


def entry_key(tenant_id: int, token: int, sku: str) -> str:
    # A digest: a SKU may hold characters a cache key should not.
    digest = hashlib.blake2s(sku.encode(), digest_size=12).hexdigest()
    return f"pricing:cfg:{tenant_id}:{token}:{digest}"
