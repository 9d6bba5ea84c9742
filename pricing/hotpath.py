"""The warm quote in one Redis round trip.

A quote needs from Redis: the API key's record (still valid? which limits?), one more
request on the key's rate-limit counter, one more unit on the tenant's usage counters and
the month's total (for the quota), the tenant's config version (is the config still
current?), and its exposures pushed onto the buffer. One command at a time that was nine
round trips, and on two cores each round trip costs a bare view's worth of throughput
(FACTS.md; bench/quote.py).

So each web process keeps its own copy of the key records (``tenants.apikeys``) and config
entries (``pricing.config``) it has read, prices the visitor from them, and sends all of
the above as one Lua script, which Redis runs atomically. The script first checks that
Redis still holds the very record bytes and config token the process used, and if not it
changes nothing: the caller reads afresh and answers the regular way
(``pricing.quotes.quote``). A revoked key, a plan change or a price edit therefore applies
from the next request in every process, as before, and counts stay exact under
concurrency. Without Redis (the embedded mode) there is only the regular way.

Redis Cluster would need the keys in one slot; Pricelab runs one Redis.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

from billing import metering, quotas, ratelimit
from billing.models import UsageDaily
from billing.selectors import Limits
from config.logs import warn_throttled
from experiments import exposures
from pricing import config, quotes

logger = logging.getLogger(__name__)

# KEYS: 1 the key record, 2 the config version, 3 the rate counter (unused without a limit),
#       4 the day's usage counter, 5 the set listing usage counters, 6 the month's usage
#       counter, 7 the exposure buffer.
# ARGV: 1 the record's bytes as the process holds them, 2 the config token it priced with,
#       3 the rate limit a minute (-1: none), 4 the rate counter's TTL, 5 the month counter's
#       TTL, 6 the monthly units if the quota is enforced (-1: not), 7... exposure lines.
# Returns {0} stale record, {1} stale config (nothing changed), {2, count} over the rate
# limit (counted, nothing else), {3, count, month total} done.
_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0}
end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {1}
end
local limit = tonumber(ARGV[3])
local count = -1
if limit >= 0 then
  count = redis.call('INCR', KEYS[3])
  if count == 1 then
    redis.call('EXPIRE', KEYS[3], ARGV[4])
  end
  if count > limit then
    return {2, count}
  end
end
redis.call('INCRBY', KEYS[4], 1)
redis.call('SADD', KEYS[5], KEYS[4])
local total = redis.call('INCRBY', KEYS[6], 1)
redis.call('EXPIRE', KEYS[6], ARGV[5])
local quota = tonumber(ARGV[6])
if #ARGV > 6 and (quota < 0 or total <= quota) then
  redis.call('RPUSH', KEYS[7], unpack(ARGV, 7))
end
return {3, count, total}
"""
STALE_RECORD, STALE_CONFIG, RATE_LIMITED, DONE = 0, 1, 2, 3


@dataclass(frozen=True)
class Priced:
    """A quote answered in one round trip (or refused by the rate limit in it)."""

    items: list[quotes.QuoteItem]
    total: int  # the tenant's units this month, this request's included
    exceeded: bool
    refused: HttpResponse | None = None


@dataclass(frozen=True)
class Fallback:
    """Not answered here: the regular path answers, re-reading the key when ``reauthenticate``."""

    reauthenticate: bool


def _script(client: Any) -> Any:
    script = getattr(client, "_pricelab_quote_script", None)
    if script is None:
        # Sent once per process with SCRIPT LOAD, then called by its digest (EVALSHA).
        script = client._pricelab_quote_script = client.register_script(_SCRIPT)
    return script


def quote_priced(
    *, request: HttpRequest, tenant_id: int, limits: Limits, visitor_id: str, skus: list[str], track: bool
) -> Priced | Fallback:
    """Meter, rate-limit and price a quote whose key this process holds, in one round trip."""
    held = getattr(request, "_apikey_local", None)
    pending = ratelimit.deferred(request)
    if not settings.REDIS_URL or held is None or pending is None or held.record.tenant_id != tenant_id:
        return Fallback(reauthenticate=held is not None)
    local = config.local_read(tenant_id, skus)
    if local is None:
        # This process has not seen these skus under the current token: the regular reads.
        local = quotes.entries_read(tenant_id=tenant_id, skus=skus)
        config.local_remember(tenant_id, *local)
    token, entries = local
    items, lines = quotes.price(
        tenant_id=tenant_id, entries=entries, visitor_id=visitor_id, skus=skus, track=track
    )
    per_minute = pending.per_minute
    counter = ratelimit.counter(pending.caller, per_minute) if per_minute else None
    day_key, key_set, month_key = metering.counter_keys(tenant_id=tenant_id, kind=UsageDaily.Kind.QUOTE)
    backend = caches["default"]  # once: each use of the `cache` proxy looks it up again
    client = backend._cache.get_client(write=True)
    try:
        result = _script(client)(
            keys=[
                held.cache_key,
                config.version_cache_key(tenant_id),
                backend.make_key(counter.key) if counter else held.cache_key,
                day_key,
                key_set,
                month_key,
                exposures.buffer_key(),
            ],
            args=[
                held.blob,
                token,
                per_minute if counter else -1,
                counter.ttl if counter else 0,
                metering.MONTH_KEY_TTL_SECONDS,
                limits.monthly_units if quotas.is_enforced(limits) else -1,
                *lines,
            ],
            client=client,
        )
    except RedisError:
        warn_throttled(
            logger, "quote-hotpath", "one-round-trip quote failed; answering the regular way", exc_info=True
        )
        return Fallback(reauthenticate=True)
    code = result[0]
    if code == STALE_RECORD:
        return Fallback(reauthenticate=True)
    if code == STALE_CONFIG:
        config.local_forget(tenant_id)
        return Fallback(reauthenticate=False)
    usage = counter.usage(result[1], per_minute) if counter else None
    ratelimit.counted(request, per_minute, usage)
    if code == RATE_LIMITED:
        return Priced(items=[], total=0, exceeded=False, refused=ratelimit.refusal(per_minute, usage))
    total = int(result[2])
    exceeded = quotas.is_exceeded(limits, total)
    if exceeded:
        # Over the quota the script pushed nothing; the visitor gets base prices.
        items, _ = quotes.price(
            tenant_id=tenant_id, entries=entries, visitor_id=visitor_id, skus=skus, experiments=False
        )
    return Priced(items=items, total=total, exceeded=exceeded)
