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

from django.core.cache import cache

# Config entries outlive any realistic gap between changes; a bump makes them unreachable,
# and the TTL only reclaims their memory.
CONFIG_TTL_SECONDS = 3600
VERSION_TTL_SECONDS = None  # the version token must never expire on its own


def _version_key(tenant_id: int) -> str:
    return f"pricing:version:{tenant_id}"


def version(tenant_id: int) -> str:
    """The tenant's current version token, creating one if there is none."""
    token = cache.get(_version_key(tenant_id))
    if token is None:
        cache.add(_version_key(tenant_id), secrets.token_hex(8), VERSION_TTL_SECONDS)
        token = cache.get(_version_key(tenant_id))
    return token


def bump(tenant_id: int) -> None:
    """Invalidate every cached config of a tenant. Called after commit."""
    cache.set(_version_key(tenant_id), secrets.token_hex(8), VERSION_TTL_SECONDS)


def entry_key(tenant_id: int, token: str, sku: str) -> str:
    # A digest: a SKU may hold characters a cache key should not.
    digest = hashlib.blake2s(sku.encode(), digest_size=12).hexdigest()
    return f"pricing:cfg:{tenant_id}:{token}:{digest}"
