"""Liveness and readiness for load balancers and orchestrators.

``/health/live`` says the process answers. ``/health/ready`` makes one request to each
dependency (database, cache, channel layer, Celery broker) and names what failed. Without
the database the process cannot answer anything: 503, take it out of rotation. Without
Redis (cache, channel layer, broker) it still answers quotes, from PostgreSQL, so the
answer is 200 with ``"status": "degraded"``: every process shares the one Redis, and a
load balancer that took them all out would turn a slower checkout into none at all.
Failures name the exception class only: the full error goes to the log, where
an operator looks, not to an unauthenticated caller.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# A dependency that has not answered within this many seconds counts as down: a readiness
# probe must answer before the orchestrator's own timeout (commonly 5 s or more).
CHECK_TIMEOUT_SECONDS = 2.0
HEALTH_GROUP = "health-probe"
# Dependencies without which the process can answer nothing useful: their failure is 503.
# The others (all on Redis) degrade the service without stopping it.
REQUIRED = frozenset({"database"})


def check_database() -> None:
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")


def check_cache() -> None:
    key, value = f"health:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


async def _channel_layer_publish() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    # A publish to a group nobody joins: it needs the layer's backend to answer, and unlike
    # a send/receive round trip it leaves no subscription behind on the pub/sub layer.
    await asyncio.wait_for(layer.group_send(HEALTH_GROUP, {"type": "health.ping"}), CHECK_TIMEOUT_SECONDS)


def check_channel_layer() -> None:
    async_to_sync(_channel_layer_publish)()


def check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # embedded mode: tasks run in-process, there is no broker to reach
    from kombu import Connection

    timeout = CHECK_TIMEOUT_SECONDS
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    ) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Every dependency answers (200 ok), Redis does not (200 degraded), or the database does not (503)."""
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %s failed", name, exc_info=True)
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        results["broker"]["mode"] = "eager"
    failed = sorted(name for name, result in results.items() if not result["ok"])
    if REQUIRED & set(failed):
        status, code = "unavailable", 503
    else:
        status, code = ("degraded" if failed else "ok"), 200
    return JsonResponse({"status": status, "failed": failed, "checks": results}, status=code)
