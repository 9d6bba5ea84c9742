"""CORS for browser calls to the API, per tenant, on top of django-cors-headers.

django-cors-headers answers preflights and writes the headers; this module decides, through
its ``check_request_enabled`` signal, which origins it admits beyond the deployment-wide
``CORS_ALLOWED_ORIGINS``:

* A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) carries no
  ``Authorization`` header, so the tenant is unknown: it is admitted for an origin that
  *some* tenant lists. It only lets the browser send the real request.
* The real request is judged per key: the response carries ``Access-Control-Allow-Origin``
  only if the key's own tenant lists the origin (read from the key's cached record: no
  query). Authentication refuses a secret key from any web page, and a publishable key from
  an origin its tenant does not list (tenants.apikeys.browser_refusal), so another tenant's
  origin gets a 403 it cannot even read.
* A request with no valid key (a typo, a revoked key) gets the headers if some tenant lists
  the origin, so the integrator's browser can show the 401 error.

Sessions (cookies) never cross origins: CORS_ALLOW_CREDENTIALS stays off.
"""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest
from redis.exceptions import RedisError

from tenants import origins
from tenants.models import Tenant

# The paths browsers may call across origins: the versioned API (the docs and schema are
# same-origin pages).
CORS_PATH_PREFIX = "/api/v1/"
# The set of every tenant's origins is rewritten on each change; the TTL only bounds how
# long it survives a lost delete (e.g. the cache was unreachable).
ALL_ORIGINS_TTL_SECONDS = 300
_ALL_ORIGINS_KEY = "cors:origins:v1"


def _origins_read() -> frozenset[str]:
    rows = Tenant.objects.exclude(allowed_origins=[]).values_list("allowed_origins", flat=True)
    return frozenset(origin for listed in rows for origin in listed)


def _origins_read_off_the_loop() -> frozenset[str]:
    """``_origins_read`` from a thread of its own: under ASGI, django-cors-headers calls the
    signal on the event loop, where the ORM refuses to run. Only a cache miss gets here."""

    def read() -> frozenset[str]:
        try:
            return _origins_read()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


def origins_all() -> frozenset[str]:
    """Every origin any tenant lists (cached; one read of the tenants with a list on a miss).

    With the cache unreachable it is read every time: a browser's call must not fail
    because Redis is down, when the quote it asks for would still be answered.
    """
    try:
        found = cache.get(_ALL_ORIGINS_KEY)
    except RedisError:
        found, reachable = None, False
    else:
        reachable = True
    if found is None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            found = _origins_read()
        else:
            found = _origins_read_off_the_loop()
        if reachable:
            with contextlib.suppress(RedisError):
                cache.set(_ALL_ORIGINS_KEY, found, ALL_ORIGINS_TTL_SECONDS)
    return found


def origins_forget() -> None:
    """Drop the cached set after a tenant's list changed (call after commit)."""
    cache.delete(_ALL_ORIGINS_KEY)


def request_admitted(sender: Any = None, *, request: HttpRequest, **kwargs: Any) -> bool:
    """django-cors-headers' ``check_request_enabled``: may this request's origin read the answer?"""
    if not request.path_info.startswith(CORS_PATH_PREFIX):
        return False
    origin = origins.request_origin(request.headers.get("Origin"))
    if origin is None:
        return False
    memo = getattr(request, "_apikey_lookup", None)
    record = memo[1] if memo is not None else None
    if record is not None:
        # Authentication has read the key (rate limiter, quote or DRF): its tenant decides.
        return origin in record.allowed_origins
    return origin in origins_all()
