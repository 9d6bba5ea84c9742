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
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_ratelimit.core import get_usage

from config.api import error_body
from tenants import apikeys
from tenants.access import session_access
from tenants.models import Tenant

logger = logging.getLogger(__name__)

GROUP = "api"
API_PREFIX = "/api/"


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
        # counting. Fail open, loudly.
        logger.warning("API rate limit not applied: the cache is unreachable", exc_info=True)
        return None


class ApiRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        caller, per_minute = _caller(request)
        usage = _usage(request, caller, per_minute) if per_minute else None
        if usage is None or usage["time_left"] < 0:
            return self.get_response(request)
        reset = max(usage["time_left"], 1)
        if usage["should_limit"]:
            message = f"More than {per_minute} requests a minute; try again in {reset} s."
            response = JsonResponse(
                error_body("rate_limited", message, {"limit": per_minute, "retry_after": reset}), status=429
            )
            response["Retry-After"] = str(reset)
        else:
            response = self.get_response(request)
        response["X-RateLimit-Limit"] = str(per_minute)
        response["X-RateLimit-Remaining"] = str(max(per_minute - usage["count"], 0))
        response["X-RateLimit-Reset"] = str(reset)
        return response
