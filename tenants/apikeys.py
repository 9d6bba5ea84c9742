"""API key format, hashing and the cached lookup that authenticates a request.

A secret key looks like ``pl_3f9Ka2Qx_<40 random characters>``, a publishable one
``pk_3f9Ka2Qx_<40 random characters>``. ``pl_3f9Ka2Qx`` is its visible prefix: unique,
stored, shown in lists. The whole key is stored only as a SHA-256 hash.
A fast hash is enough here (unlike for passwords): the secret part carries about 238
bits of randomness, so there is nothing to guess from the hash.

Authentication reads a small record from the cache, keyed by prefix, so a warm request
makes no database query. A request that misses only *adds* the record it read; a change
(revoke, suspend, delete) *overwrites* the records from the database after commit. So a
request that read a key just before it was revoked can never put the stale record back.
"""

import hashlib
import hmac
import logging
import pickle
import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from config.cache import invalidate
from config.logs import warn_throttled
from tenants import origins
from tenants.models import ApiKey, KeyKind, Tenant

logger = logging.getLogger(__name__)

# The first letters say what a key is, so a secret key pasted into a web page is easy to
# spot in review (and by secret scanners).
NAMESPACES = {KeyKind.SECRET: "pl_", KeyKind.PUBLISHABLE: "pk_"}
_ALPHABET = string.ascii_letters + string.digits
_PREFIX_CHARS = 8  # 62^8 ≈ 2·10^14 prefixes: collisions are retried, and practically never happen
_SECRET_CHARS = 40  # 62^40 ≈ 2^238
_KEY_RE = re.compile(rf"^((?:pl|pk)_[A-Za-z0-9]{{{_PREFIX_CHARS}}})_[A-Za-z0-9]{{{_SECRET_CHARS}}}$")

# How long a key's record stays cached. Changes overwrite it at once; the TTL only bounds
# how long a record survives if that write is ever lost (e.g. the cache was unreachable).
RECORD_TTL_SECONDS = 300
# Unknown prefixes are remembered briefly, so a flood of made-up keys does not reach the
# database, nor fill the cache for long.
MISSING_TTL_SECONDS = 30
# A key's last-used time is written at most once per this many seconds per key.
LAST_USED_RESOLUTION_SECONDS = 60
_MISSING = "missing"


@dataclass(frozen=True)
class KeyRecord:
    """What authentication needs to know about a key, as cached."""

    id: int
    prefix: str
    key_hash: str
    scopes: frozenset[str]
    revoked: bool
    tenant_id: int
    tenant_name: str
    tenant_slug: str
    tenant_status: str
    # The tenant's plan limits (billing.selectors.Limits), so that rate limits and quotas
    # need no second read. Replaced with the record whenever they change.
    limits: Any = None
    kind: str = KeyKind.SECRET
    # The tenant's allowed browser origins, normalised: the Origin check is a set lookup.
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, key: ApiKey, limits: Any = None) -> "KeyRecord":
        return cls(
            id=key.pk,
            prefix=key.prefix,
            key_hash=key.key_hash,
            scopes=frozenset(key.scopes),
            revoked=key.is_revoked,
            tenant_id=key.tenant_id,
            tenant_name=key.tenant.name,
            tenant_slug=key.tenant.slug,
            tenant_status=key.tenant.status,
            limits=limits,
            kind=key.kind,
            allowed_origins=frozenset(key.tenant.allowed_origins),
        )

    def tenant(self) -> Tenant:
        """The key's tenant, built from the cached record without a query."""
        return Tenant(
            id=self.tenant_id, name=self.tenant_name, slug=self.tenant_slug, status=self.tenant_status
        )


def generate(kind: str = KeyKind.SECRET) -> tuple[str, str]:
    """A new (prefix, full key) of the given kind."""
    prefix = NAMESPACES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(_PREFIX_CHARS))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_CHARS))
    return prefix, f"{prefix}_{secret}"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _cache_key(prefix: str) -> str:
    # v3: records carry the key's kind and the tenant's allowed origins.
    return f"apikey:v3:{prefix}"


def lookup(raw: str) -> KeyRecord | None:
    """The record of a presented key, or None if no such key exists."""
    match = _KEY_RE.match(raw)
    if match is None:
        return None
    prefix = match.group(1)
    try:
        record = cache.get(_cache_key(prefix))
        if record is None:
            record = _load([prefix]).get(prefix, _MISSING)
            # add, not set: a change committed meanwhile has written the newer state already.
            cache.add(_cache_key(prefix), record, _ttl(record))
    except RedisError:
        # Redis is down: the database says whether the key is valid now. This process's own
        # copy of the record is not trusted here, since a revoke may have come meanwhile.
        warn_throttled(logger, "apikeys-cache", "API keys read from the database: the cache is unreachable")
        record = _load([prefix]).get(prefix, _MISSING)
    if record == _MISSING or not hmac.compare_digest(record.key_hash, hash_key(raw)):
        return None
    return record


def lookup_for(request: Any, raw: str) -> KeyRecord | None:
    """``lookup``, once per request: the rate limiter and authentication share the read."""
    memo = getattr(request, "_apikey_lookup", None)
    if memo is not None and memo[0] == raw:
        return memo[1]
    record = lookup(raw)
    request._apikey_lookup = (raw, record)
    return record


@dataclass(frozen=True)
class LocalRecord:
    """A key record as this process last read it, with the exact bytes Redis held."""

    record: KeyRecord
    cache_key: str  # the record's key in Redis
    blob: bytes


# Records this process has read, by their key in Redis. The one-round-trip quote
# (pricing.hotpath) starts from these without a read, and its script acts only if Redis
# still holds the same bytes, so a revoke or a plan change applies from the next request.
_local: dict[str, LocalRecord] = {}
# Far more keys than one process serves; when full the copy starts over (one read per key).
LOCAL_MAX_RECORDS = 10_000


def local_replace(cache_key: str, blob: bytes | None) -> LocalRecord | None:
    """Replace this process's copy of a record with the bytes Redis holds now (None: none)."""
    record = pickle.loads(blob) if blob is not None else None  # noqa: S301  (our own cache's bytes)
    if not isinstance(record, KeyRecord):
        _local.pop(cache_key, None)
        return None
    if len(_local) >= LOCAL_MAX_RECORDS:
        _local.clear()
    held = _local[cache_key] = LocalRecord(record=record, cache_key=cache_key, blob=blob)
    return held


def lookup_local(raw: str) -> LocalRecord | None:
    """``lookup`` from this process's copy, read from Redis only the first time.

    The copy may be stale: only a caller that has Redis confirm the bytes before acting on
    them (pricing.hotpath) may use it. Needs the Redis cache.
    """
    match = _KEY_RE.match(raw)
    if match is None:
        return None
    cache_key = cache.make_key(_cache_key(match.group(1)))
    held = _local.get(cache_key)
    if held is None:
        if lookup(raw) is None:  # the regular read, which caches the record
            return None
        held = local_replace(cache_key, cache._cache.get_client(write=True).get(cache_key))
    if held is None or not hmac.compare_digest(held.record.key_hash, hash_key(raw)):
        return None
    return held


def lookup_local_for(request: Any, raw: str) -> LocalRecord | None:
    """``lookup_local``, shared with authentication through the same memo as ``lookup_for``."""
    held = lookup_local(raw)
    request._apikey_lookup = (raw, held.record if held is not None else None)
    request._apikey_local = held
    return held


def local_forget(request: Any) -> None:
    """Drop this process's copy of the request's key, and the request's memo of it: the
    next lookup reads afresh (a caller about to act on the copy without Redis confirming it)."""
    held = getattr(request, "_apikey_local", None)
    if held is not None:
        _local.pop(held.cache_key, None)
    request._apikey_local = None
    request.__dict__.pop("_apikey_lookup", None)


def _ttl(record: object) -> int:
    return MISSING_TTL_SECONDS if record == _MISSING else RECORD_TTL_SECONDS


def _load(prefixes: list[str]) -> dict[str, KeyRecord]:
    from billing.selectors import limits_effective  # billing builds on tenants

    keys = list(ApiKey.objects.unscoped().select_related("tenant").filter(prefix__in=prefixes))
    limits = {t.pk: limits_effective(tenant=t) for t in {key.tenant for key in keys}}
    return {key.prefix: KeyRecord.of(key, limits[key.tenant_id]) for key in keys}


def refresh(prefixes: list[str]) -> None:
    """Overwrite cached records with the database's state. Call after commit."""
    if not prefixes:
        return
    # Kept and sent again if Redis is down, so a revoked key's old record does not come
    # back with Redis; a kept write reads the database again when it runs.
    invalidate(f"apikeys:{','.join(sorted(prefixes))}", lambda: _store(prefixes))


def _store(prefixes: list[str]) -> None:
    found = _load(prefixes)
    for prefix in prefixes:
        record = found.get(prefix, _MISSING)
        cache.set(_cache_key(prefix), record, _ttl(record))


def refresh_tenant(tenant_id: int) -> None:
    """Overwrite the cached records of every key of a tenant (after its status changed)."""
    refresh(list(ApiKey.objects.for_tenant(tenant_id).values_list("prefix", flat=True)))


def browser_refusal(record: KeyRecord, origin: str | None, own_origin: str | None) -> tuple[str, str] | None:
    """Why a request sent from a web page (it carries ``Origin``) may not use this key, as
    (code, message); None when it may.

    Browsers send ``Origin`` on every cross-origin call, so a secret key arriving with one
    has been put in a web page, where anyone can read it. Pricelab's own pages (the API
    docs' "Try it out") are the exception: the key was typed into our own origin.
    """
    if origin is None or origin == own_origin:
        return None
    if record.kind == KeyKind.SECRET:
        return (
            "secret_key_from_browser",
            "Secret keys must stay on your servers and are refused from web pages. "
            "In the browser, use a publishable key (pk_...) and list your site's origin.",
        )
    # Browsers send origins in the stored form already; normalise only what does not match.
    if origin not in record.allowed_origins and origins.request_origin(origin) not in record.allowed_origins:
        return (
            "origin_not_allowed",
            "This origin is not among the workspace's allowed origins for publishable keys.",
        )
    return None


# When this process last claimed each key's once-a-minute last-used write, by cache key:
# within the minute it need not ask the cache again (a round trip on every request).
_noted: dict[str, float] = {}


def note_used(record: KeyRecord, now: datetime | None = None) -> None:
    """Remember that a key was used, writing to the database at most once a minute."""
    from tenants.tasks import api_key_mark_used

    key = f"apikey-used:{record.id}"
    local_key = cache.make_key(key)
    last = _noted.get(local_key)
    if last is not None and time.monotonic() - last < LAST_USED_RESOLUTION_SECONDS:
        return
    if len(_noted) >= LOCAL_MAX_RECORDS:
        _noted.clear()
    _noted[local_key] = time.monotonic()
    try:
        claimed = cache.add(key, 1, LAST_USED_RESOLUTION_SECONDS)
    except RedisError:
        return  # Redis (the broker too) is down: the last-used time can wait a minute
    if claimed:
        api_key_mark_used.delay(
            tenant_id=record.tenant_id,
            api_key_id=record.id,
            used_at=(now or timezone.now()).isoformat(),
        )
