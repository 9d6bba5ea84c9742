"""Counting metered units without a database write per request.

Every quote request and every accepted event is one unit. With Redis, a request adds
to a per-tenant, per-kind, per-day counter in one pipelined round trip; ``flush`` moves
each counter's value into ``UsageDaily`` with GETDEL, so a count is consumed exactly
once (never twice), and a process dying loses nothing that Redis holds. In the embedded
mode the counters live in the process and are flushed once they are a few seconds old
and at exit.
"""

import atexit
import logging
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from billing.models import UsageDaily

logger = logging.getLogger(__name__)

KEY_SET = "usage:keys"  # every counter that may hold units, so the flush can find them
LOCAL_MAX_AGE_SECONDS = 2.0
_local: Counter[tuple[int, str, str]] = Counter()
_local_lock = threading.Lock()
_local_oldest: float | None = None


def _redis():
    if not settings.REDIS_URL:
        return None
    return cache._cache.get_client(write=True)


def _prefix() -> str:
    return settings.USAGE_KEY_PREFIX


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def record(*, tenant_id: int, kind: str, units: int = 1) -> None:
    """Count units for a tenant today."""
    global _local_oldest
    if units <= 0:
        return
    client = _redis()
    day = _today()
    if client is not None:
        key = f"{_prefix()}:{tenant_id}:{kind}:{day}"
        pipe = client.pipeline(transaction=False)
        pipe.incrby(key, units)
        pipe.sadd(f"{_prefix()}:{KEY_SET}", key)
        pipe.execute()
        return
    with _local_lock:
        if _local_oldest is None:
            _local_oldest = time.monotonic()
        _local[(tenant_id, kind, day)] += units
        due = time.monotonic() - _local_oldest >= LOCAL_MAX_AGE_SECONDS
    if due:
        flush()


def _add(counts: dict[tuple[int, str, str], int]) -> None:
    with transaction.atomic():
        for (tenant_id, kind, day), units in counts.items():
            if units <= 0:
                continue
            row, created = UsageDaily.objects.for_tenant(tenant_id).get_or_create(
                tenant_id=tenant_id, day=date.fromisoformat(day), kind=kind, defaults={"units": units}
            )
            if not created:
                UsageDaily.objects.for_tenant(tenant_id).filter(pk=row.pk).update(units=F("units") + units)


def flush() -> int:
    """Move counted units into the database. Returns how many units were moved."""
    global _local_oldest
    client = _redis()
    if client is None:
        with _local_lock:
            counts = dict(_local)
            _local.clear()
            _local_oldest = None
        _add(counts)
        return sum(counts.values())
    today = _today()
    counts: dict[tuple[int, str, str], int] = {}
    for raw in client.smembers(f"{_prefix()}:{KEY_SET}"):
        key = raw.decode()
        _, tenant_id, kind, day = key.rsplit(":", 3)
        value = client.getdel(key)  # consumed once: a second flush finds nothing
        if value is not None and int(value) > 0:
            counts[(int(tenant_id), kind, day)] = int(value)
        if day < today:
            # No request counts into a past day any more; today's key stays listed,
            # since a request may add to it between the GETDEL and here.
            client.srem(f"{_prefix()}:{KEY_SET}", key)
    try:
        _add(counts)
    except Exception:
        # Put the units back so the next flush stores them: they must not be lost.
        pipe = client.pipeline(transaction=False)
        for (tenant_id, kind, day), units in counts.items():
            key = f"{_prefix()}:{tenant_id}:{kind}:{day}"
            pipe.incrby(key, units)
            pipe.sadd(f"{_prefix()}:{KEY_SET}", key)
        pipe.execute()
        raise
    return sum(counts.values())


def pending(*, tenant_id: int, day: str) -> dict[str, int]:
    """Units counted today but not yet flushed, by kind."""
    client = _redis()
    if client is None:
        with _local_lock:
            return {kind: n for (t, kind, d), n in _local.items() if t == tenant_id and d == day}
    kinds = [k.value for k in UsageDaily.Kind]
    values = client.mget([f"{_prefix()}:{tenant_id}:{kind}:{day}" for kind in kinds])
    return {kind: int(v) for kind, v in zip(kinds, values, strict=True) if v is not None}


@atexit.register
def _flush_local_at_exit() -> None:
    if _local:
        try:
            flush()
        except Exception:
            logger.exception("could not flush metered usage at exit")
