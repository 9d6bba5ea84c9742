"""Counting metered units without a database write per request.

Every quote request and every accepted event is one unit. With Redis, a request adds
to a per-tenant, per-kind, per-day counter in one pipelined round trip; ``flush`` claims
the counters' values in Redis under a batch id and writes them into ``UsageDaily`` with
that id (``UsageFlush``), so each count is written exactly once, even when the flushing
worker is killed between the two. In the embedded
mode the counters live in the process and are flushed once they are a few seconds old
and at exit.

Quotas need the month's total on every request, so the same round trip also adds to a
per-tenant month counter and returns it. That counter only decides enforcement; billing
reads ``UsageDaily``. If it is ever behind the database (Redis lost its data, or the month
began before this counter existed), ``flush`` tops it up.
"""

import atexit
import logging
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from redis.exceptions import RedisError

from billing.models import UsageDaily, UsageFlush
from config.logs import warn_throttled
from tenants.models import Tenant

logger = logging.getLogger(__name__)

KEY_SET = "usage:keys"  # every counter that may hold units, so the flush can find them
LOCAL_MAX_AGE_SECONDS = 2.0
_local: Counter[tuple[int, str, str]] = Counter()
_local_lock = threading.Lock()
_local_oldest: float | None = None
_local_month: Counter[tuple[int, str]] = Counter()
# A month counter outlives its month by a few days, for reads around midnight UTC.
MONTH_KEY_TTL_SECONDS = 35 * 24 * 3600


def _redis():
    if not settings.REDIS_URL:
        return None
    return cache._cache.get_client(write=True)


def _prefix() -> str:
    return settings.USAGE_KEY_PREFIX


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _month_key(tenant_id: int, month: str) -> str:
    return f"{_prefix()}:month:{tenant_id}:{month}"


def counter_keys(*, tenant_id: int, kind: str, day: str | None = None) -> tuple[str, str, str]:
    """The Redis keys a unit is counted in: the day's counter, the set that lists day counters
    for the flush, and the month's counter. A script counting units must touch all three."""
    day = day or _today()
    return f"{_prefix()}:{tenant_id}:{kind}:{day}", f"{_prefix()}:{KEY_SET}", _month_key(tenant_id, day[:7])


def record(*, tenant_id: int, kind: str, units: int = 1) -> int:
    """Count units for a tenant today. Returns the tenant's units this month, these included."""
    client = _redis()
    day = _today()
    if units <= 0:
        return month_total(tenant_id=tenant_id)
    if client is not None:
        key, key_set, month_key = counter_keys(tenant_id=tenant_id, kind=kind, day=day)
        pipe = client.pipeline(transaction=True)  # the day and month counters move together
        pipe.incrby(key, units)
        pipe.sadd(key_set, key)
        pipe.incrby(month_key, units)
        pipe.expire(month_key, MONTH_KEY_TTL_SECONDS)
        try:
            total = int(pipe.execute()[2])
        except RedisError:
            # Redis is down: count in this process, as the embedded mode does, and write the
            # counts to the database every few seconds. No unit is lost or counted twice;
            # the quota sees the database's total plus this process's, so it is lenient
            # (other processes' units are not in it) until Redis is back.
            warn_throttled(
                logger, "metering", "metered units written straight to the database: the cache is unreachable"
            )
            return _record_local(tenant_id=tenant_id, kind=kind, day=day, units=units)
        if _local_month:
            _local_month.clear()  # Redis is back: its month counter is the one that counts
        return total
    return _record_local(tenant_id=tenant_id, kind=kind, day=day, units=units)


def _record_local(*, tenant_id: int, kind: str, day: str, units: int) -> int:
    global _local_oldest
    with _local_lock:
        if _local_oldest is None:
            _local_oldest = time.monotonic()
        _local[(tenant_id, kind, day)] += units
        due = time.monotonic() - _local_oldest >= LOCAL_MAX_AGE_SECONDS
    total = _local_month_add(tenant_id, day[:7], units)
    if due:
        _flush_local()
    return total


def month_total(*, tenant_id: int) -> int:
    """The tenant's units this month as the quota sees them (one read, no query when warm)."""
    month = _today()[:7]
    client = _redis()
    if client is not None:
        try:
            value = client.get(_month_key(tenant_id, month))
        except RedisError:
            return _local_month_add(tenant_id, month, 0)  # Redis is down: as record() counts then
        return int(value) if value is not None else 0
    return _local_month_add(tenant_id, month, 0)


def _month_start(month: str) -> date:
    return date.fromisoformat(f"{month}-01")


def stored_units(*, tenant_id: int, start: date, end: date) -> int:
    """Units flushed into the database for days in [start, end)."""
    total = (
        UsageDaily.objects.for_tenant(tenant_id)
        .filter(day__gte=start, day__lt=end)
        .aggregate(total=Sum("units"))["total"]
    )
    return total or 0


def _stored_this_month(tenant_id: int, month: str) -> int:
    start = _month_start(month)
    return stored_units(tenant_id=tenant_id, start=start, end=(start + timedelta(days=32)).replace(day=1))


def _local_month_add(tenant_id: int, month: str, units: int) -> int:
    """The embedded mode's month counter, seeded from the database on first use."""
    with _local_lock:
        known = (tenant_id, month) in _local_month
    if not known:
        stored = _stored_this_month(tenant_id, month)
        with _local_lock:
            if (tenant_id, month) not in _local_month:
                pending_now = sum(n for (t, _, d), n in _local.items() if t == tenant_id and d[:7] == month)
                _local_month[(tenant_id, month)] = stored + pending_now - units
    with _local_lock:
        _local_month[(tenant_id, month)] += units
        return _local_month[(tenant_id, month)]


def _add(counts: dict[tuple[int, str, str], int]) -> None:
    # A tenant deleted between its last request and the flush has nowhere for its units to
    # go; writing them would fail the foreign key and, with it, every later flush.
    present = set(Tenant.objects.filter(pk__in={t for t, _, _ in counts}).values_list("pk", flat=True))
    gone = {t for t, _, _ in counts} - present
    if gone:
        logger.warning("dropping usage of deleted tenants %s", sorted(gone))
    with transaction.atomic():
        for (tenant_id, kind, day), units in counts.items():
            if units <= 0 or tenant_id not in present:
                continue
            row, created = UsageDaily.objects.for_tenant(tenant_id).get_or_create(
                tenant_id=tenant_id, day=date.fromisoformat(day), kind=kind, defaults={"units": units}
            )
            if not created:
                UsageDaily.objects.for_tenant(tenant_id).filter(pk=row.pk).update(units=F("units") + units)


def _flush_local() -> int:
    """Move the units counted in this process (embedded mode, or Redis down) into the database."""
    global _local_oldest
    with _local_lock:
        counts = dict(_local)
        _local.clear()
        _local_oldest = None
    try:
        _add(counts)
    except Exception:
        with _local_lock:  # kept for the next flush: they must not be lost
            _local.update(counts)
            if _local_oldest is None:
                _local_oldest = time.monotonic()
        raise
    return sum(counts.values())


# Moves every counter's units into a claim (a hash named by the flush's batch id) in one
# atomic step, and lists the claim. Counters of past days leave the set of counters: no
# request counts into them any more (today's stays, a request may add to it right after).
# KEYS: 1 the set of counters, 2 the claim, 3 the set of claims. ARGV: 1 batch id, 2 today.
_CLAIM_SCRIPT = """
local moved = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local units = redis.call('GETDEL', key)
  if units and tonumber(units) > 0 then
    redis.call('HINCRBY', KEYS[2], key, units)
    moved = moved + 1
  end
  if string.sub(key, -10) < ARGV[2] then
    redis.call('SREM', KEYS[1], key)
  end
end
if moved > 0 then
  redis.call('SADD', KEYS[3], ARGV[1])
end
return moved
"""


def _claims_key() -> str:
    return f"{_prefix()}:claims"


def _claim_key(batch: str) -> str:
    return f"{_prefix()}:claim:{batch}"


def _claim_apply(client, batch: str) -> dict[tuple[int, str, str], int]:
    """Write one claimed batch into the database, once; then drop the claim. Returns its counts."""
    counts: dict[tuple[int, str, str], int] = {}
    for raw_key, raw_units in client.hgetall(_claim_key(batch)).items():
        _, tenant_id, kind, day = raw_key.decode().rsplit(":", 3)
        counts[(int(tenant_id), kind, day)] = int(raw_units)
    if not UsageFlush.objects.filter(batch=batch).exists():
        try:
            with transaction.atomic():
                # The batch's row commits with its units: whoever finds it knows they are in.
                UsageFlush.objects.create(batch=batch)
                _add(counts)
        except IntegrityError:
            if not UsageFlush.objects.filter(batch=batch).exists():
                raise
            counts = {}  # another flush applied it meanwhile
    else:
        counts = {}  # applied by a flush that died before it could drop the claim
    pipe = client.pipeline(transaction=True)
    pipe.delete(_claim_key(batch))
    pipe.srem(_claims_key(), batch)
    pipe.execute()
    return counts


# A batch's record only has to outlive its claim in Redis, which the next flush (a minute
# later under beat) drops: a week covers any worker outage the counters would survive.
FLUSH_RECORD_DAYS = 7


def flush_records_prune() -> int:
    """Forget batch records older than FLUSH_RECORD_DAYS. Returns how many went."""
    cutoff = datetime.now(UTC) - timedelta(days=FLUSH_RECORD_DAYS)
    deleted, _ = UsageFlush.objects.filter(applied_at__lt=cutoff).delete()
    return deleted


def flush() -> int:
    """Move counted units into the database, each exactly once. Returns how many were moved.

    Units are first moved out of the counters into a claim under a new batch id (atomic in
    Redis), then written together with that batch id in one database transaction, then the
    claim is dropped. A flush that dies after claiming leaves the claim listed: the next
    flush writes it (if the batch id is not in the database yet) or just drops it (if it
    is). Nothing is lost between Redis and the database, and nothing is counted twice.
    """
    client = _redis()
    moved = _flush_local() if _local else 0
    if client is None:
        return moved
    applied: dict[tuple[int, str, str], int] = {}
    # Claims left by a flush that died (a worker killed mid-task) go first.
    for raw_batch in client.smembers(_claims_key()):
        applied.update(_claim_apply(client, raw_batch.decode()))
    batch = uuid.uuid4().hex
    script = client.register_script(_CLAIM_SCRIPT)
    if script(keys=[f"{_prefix()}:{KEY_SET}", _claim_key(batch), _claims_key()], args=[batch, _today()]):
        for key, units in _claim_apply(client, batch).items():
            applied[key] = applied.get(key, 0) + units
    month = _today()[:7]
    _month_counters_top_up(client, {tenant_id for tenant_id, _, day in applied if day[:7] == month})
    return moved + sum(applied.values())


def _month_counters_top_up(client, tenant_ids: set[int]) -> None:
    """Raise a month counter that is behind what the database and the day counters hold.

    Counters only ever fall behind (Redis lost its data, or a month's first units predate
    the counter); they are never lowered, so a race with requests can only leave them
    a little high, which is the safe side for a quota.
    """
    month = _today()[:7]
    for tenant_id in tenant_ids:
        expected = _stored_this_month(tenant_id, month) + sum(
            pending(tenant_id=tenant_id, day=_today()).values()
        )
        current = int(client.get(_month_key(tenant_id, month)) or 0)
        if current < expected:
            pipe = client.pipeline(transaction=True)
            pipe.incrby(_month_key(tenant_id, month), expected - current)
            pipe.expire(_month_key(tenant_id, month), MONTH_KEY_TTL_SECONDS)
            pipe.execute()


def pending(*, tenant_id: int, day: str) -> dict[str, int]:
    """Units counted today but not yet flushed, by kind."""
    client = _redis()
    if client is None:
        with _local_lock:
            return {kind: n for (t, kind, d), n in _local.items() if t == tenant_id and d == day}
    kinds = [k.value for k in UsageDaily.Kind]
    keys = [f"{_prefix()}:{tenant_id}:{kind}:{day}" for kind in kinds]
    found = {kind: int(v) for kind, v in zip(kinds, client.mget(keys), strict=True) if v is not None}
    # Units a flush has claimed but not written yet are still pending.
    for raw_batch in client.smembers(_claims_key()):
        claimed = client.hmget(_claim_key(raw_batch.decode()), keys)
        for kind, units in zip(kinds, claimed, strict=True):
            if units is not None:
                found[kind] = found.get(kind, 0) + int(units)
    return found


@atexit.register
def _flush_local_at_exit() -> None:
    if _local:
        try:
            flush()
        except Exception:
            logger.exception("could not flush metered usage at exit")
