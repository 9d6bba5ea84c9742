"""Per-plan API rate limits, and the X-RateLimit headers on every API response.

django-ratelimit counts requests per fixed one-minute window in the shared cache (Redis in
production): an atomic add-or-increment, so parallel clients together never get more than
the limit. A request with an API key is counted against that key at its tenant's plan
rate; a logged-in person calling the API from the web UI against themselves in their
tenant; anything else (no key, a wrong or revoked key) against its IP address at the
anonymous rate.

Headers, on every response under /api/ that has a limit:
``X-RateLimit-Limit`` (requests a minute), ``X-RateLimit-Remaining`` (left in this window),
``X-RateLimit-Reset`` (seconds until the window ends). A refused request gets 429 with
code ``rate_limited`` and ``Retry-After`` in seconds.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import django_ratelimit
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_ratelimit import core as ratelimit_core
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from config.api import error_body
from config.logs import warn_throttled
from tenants import apikeys
from tenants.access import session_access
from tenants.models import Tenant

logger = logging.getLogger(__name__)

GROUP = "api"
API_PREFIX = "/api/"
# The quote counts its own request inside its one Redis round trip (pricing.hotpath).
QUOTE_PATH = "/api/v1/quote/"
WINDOW_SECONDS = 60


def _caller(request: HttpRequest) -> tuple[str, int | None]:
    """The rate-limit key of the caller and its limit a minute (None: no limit)."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        record = apikeys.lookup_for(request, parts[1])
        if record is not None and not record.revoked and record.tenant_status == Tenant.Status.ACTIVE:
            return f"key:{record.id}", record.limits.requests_per_minute
        return "ip", settings.API_ANONYMOUS_RATE_PER_MINUTE
    access = session_access(request)
    if access is not None:
        return f"user:{access.user.pk}:{access.tenant.pk}", access.limits.requests_per_minute
    return "ip", settings.API_ANONYMOUS_RATE_PER_MINUTE


def _usage(request: HttpRequest, caller: str, per_minute: int) -> dict | None:
    key = "ip" if caller == "ip" else (lambda group, request: caller)
    try:
        return get_usage(request, group=GROUP, key=key, rate=f"{per_minute}/m", increment=True)
    except Exception:
        # The limiter's store is down: serving the checkout path matters more than
        # counting. Fail open, with one line a minute rather than one per request.
        warn_throttled(
            logger, "ratelimit", "API rate limit not applied: the cache is unreachable", exc_info=True
        )
        return None


@dataclass(frozen=True)
class Deferred:
    """A quote whose request the quote itself counts, in its own Redis round trip."""

    caller: str
    per_minute: int | None


@dataclass(frozen=True)
class Counter:
    """The caller's counter in the current window, as django-ratelimit keys it."""

    key: str  # in the cache's own naming (before the cache's prefix)
    ttl: int
    window_end: int  # the last second of the window, as django-ratelimit counts

    def usage(self, count: int, per_minute: int) -> dict[str, Any]:
        """The same answer as django-ratelimit's get_usage, for a count taken elsewhere."""
        return {
            "count": count,
            "limit": per_minute,
            "should_limit": count > per_minute,
            "time_left": self.window_end - int(time.time()),
        }


# The counter of each (caller, rate) in its current window: its key changes once a window,
# and working it out (a checksum, a hash, settings lookups) cost a quote more than pricing it.
_counters: dict[tuple[str, int], Counter] = {}
# Far more callers than a process sees in a minute; when full the memo starts over.
COUNTERS_MAX = 10_000


def counter(caller: str, per_minute: int) -> Counter:
    """The counter ``get_usage`` would increment for this caller now: both ways of counting
    a request share it, so a key's quotes and other calls draw on one allowance."""
    known = _counters.get((caller, per_minute))
    if known is not None and known.window_end - WINDOW_SECONDS < int(time.time()) <= known.window_end:
        return known
    rate = f"{per_minute}/m"
    window = ratelimit_core._get_window(caller, WINDOW_SECONDS)
    key = ratelimit_core._make_cache_key(GROUP, window, rate, caller, django_ratelimit.ALL)
    found = Counter(key=key, ttl=WINDOW_SECONDS + ratelimit_core.EXPIRATION_FUDGE, window_end=window)
    if len(_counters) >= COUNTERS_MAX:
        _counters.clear()
    _counters[(caller, per_minute)] = found
    return found


def _deferrable(request: HttpRequest) -> Deferred | None:
    """A quote by a key this process holds a copy of: pricing.hotpath counts it."""
    if request.path_info != QUOTE_PATH or not settings.REDIS_URL:
        return None
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    try:
        held = apikeys.lookup_local_for(request, parts[1])
    except RedisError:
        return None  # Redis is down: the regular path answers, from the database
    if held is None:
        return None
    record = held.record
    if record.revoked or record.tenant_status != Tenant.Status.ACTIVE:
        # Refused, if the copy is current: let the regular path read afresh and judge.
        apikeys.local_forget(request)
        return None
    return Deferred(caller=f"key:{record.id}", per_minute=record.limits.requests_per_minute)


def defer(request: HttpRequest) -> bool:
    """Leave the request's rate limit to the quote's own round trip, if it can be (a quote by
    a key this process holds); ``deferred_finish`` then counts it if the quote did not."""
    pending = _deferrable(request)
    if pending is None:
        return False
    request._rate_limit_deferred, request._rate_limit_counted = pending, False
    return True


def undefer(request: HttpRequest) -> None:
    """Forget a deferral whose quote was not answered: the next middleware judges afresh."""
    request.__dict__.pop("_rate_limit_deferred", None)
    request.__dict__.pop("_rate_limit_counted", None)


def deferred_finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The response to a deferred request, counted if it was refused before it was priced
    (bad input, say: counted here, as any request is), with its X-RateLimit headers."""
    refused = count_deferred(request)
    return _headers(refused or response, request._rate_limit_per_minute, request._rate_limit_usage)


def deferred(request: HttpRequest) -> Deferred | None:
    """The request's rate limit, if the middleware left it to the quote and it is not counted yet."""
    if getattr(request, "_rate_limit_counted", True):
        return None
    return request._rate_limit_deferred


def counted(request: HttpRequest, per_minute: int | None, usage: dict | None) -> None:
    """Record that a deferred request has been counted (usage None: no limit, or failed open)."""
    request._rate_limit_counted = True
    request._rate_limit_per_minute, request._rate_limit_usage = per_minute, usage


_AS_DEFERRED = object()


def count_deferred(request: HttpRequest, per_minute: Any = _AS_DEFERRED) -> HttpResponse | None:
    """Count a deferred request the regular way; the refusal if it is over the limit.

    ``per_minute`` (None: no limit) replaces the limit the middleware read, once the key's
    record has been read afresh.
    """
    pending = deferred(request)
    if pending is None:
        return None
    if per_minute is _AS_DEFERRED:
        per_minute = pending.per_minute
    usage = _usage(request, pending.caller, per_minute) if per_minute else None
    counted(request, per_minute, usage)
    return refusal(per_minute, usage) if usage is not None and usage["should_limit"] else None


def refusal(per_minute: int, usage: dict) -> JsonResponse:
    """The 429 answer to a request over its limit."""
    reset = max(usage["time_left"], 1)
    message = f"More than {per_minute} requests a minute; try again in {reset} s."
    response = JsonResponse(
        error_body("rate_limited", message, {"limit": per_minute, "retry_after": reset}), status=429
    )
    response["Retry-After"] = str(reset)
    return response


def _headers(response: HttpResponse, per_minute: int | None, usage: dict | None) -> HttpResponse:
    if usage is None or usage["time_left"] < 0:
        return response
    response["X-RateLimit-Limit"] = str(per_minute)
    response["X-RateLimit-Remaining"] = str(max(per_minute - usage["count"], 0))
    response["X-RateLimit-Reset"] = str(max(usage["time_left"], 1))
    return response


class ApiRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # path_info: behind a proxy's prefix (SCRIPT_NAME) the API is still the API.
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if defer(request):
            return deferred_finish(request, self.get_response(request))
        caller, per_minute = _caller(request)
        usage = _usage(request, caller, per_minute) if per_minute else None
        if usage is None or usage["time_left"] < 0:
            return self.get_response(request)
        response = refusal(per_minute, usage) if usage["should_limit"] else self.get_response(request)
        return _headers(response, per_minute, usage)
