"""A tenant's limits where every request needs them: cached, and replaced when they change.

API-key requests carry their tenant's limits in the cached key record (one cache read
authenticates and limits a request); session requests read ``limits_cached``. Whatever
changes a plan, an account or an override calls ``limits_changed`` so that the new limits
apply to the very next request: checkout completion raises them at once.
"""

import functools

from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

from billing.selectors import Limits, limits_effective
from config.cache import invalidate

CACHE_TTL_SECONDS = 300


def _cache_key(tenant_id: int) -> str:
    return f"limits:v1:{tenant_id}"


def limits_cached(tenant_id: int) -> Limits:
    from tenants.models import Tenant

    try:
        limits = cache.get(_cache_key(tenant_id))
        if limits is None:
            limits = limits_effective(tenant=Tenant(pk=tenant_id))
            # add, not set: a change committed meanwhile has written the newer limits already.
            cache.add(_cache_key(tenant_id), limits, CACHE_TTL_SECONDS)
    except RedisError:
        limits = limits_effective(tenant=Tenant(pk=tenant_id))  # Redis is down: from the database
    return limits


def _refresh(tenant_ids: list[int]) -> None:
    from tenants import apikeys
    from tenants.models import Tenant

    for tenant_id in tenant_ids:
        # Kept and sent again if Redis is down (config.cache.invalidate).
        invalidate(
            f"limits:{tenant_id}",
            lambda tenant_id=tenant_id: cache.set(
                _cache_key(tenant_id), limits_effective(tenant=Tenant(pk=tenant_id)), CACHE_TTL_SECONDS
            ),
        )
        apikeys.refresh_tenant(tenant_id)


def limits_changed(*tenant_ids: int) -> None:
    """Replace the cached limits of these tenants once the current transaction commits."""
    if tenant_ids:
        transaction.on_commit(functools.partial(_refresh, list(tenant_ids)))
