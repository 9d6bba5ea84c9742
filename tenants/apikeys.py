"""API key format, hashing and the cached lookup that authenticates a request.

A key looks like ``pl_3f9Ka2Qx_<40 random characters>``. ``pl_3f9Ka2Qx`` is its visible
prefix: unique, stored, shown in lists. The whole key is stored only as a SHA-256 hash.
A fast hash is enough here (unlike for passwords): the secret part carries about 238
bits of randomness, so there is nothing to guess from the hash.

Authentication reads a small record from the cache, keyed by prefix, so a warm request
makes no database query. Revoking a key or suspending its tenant deletes the records
after commit.
"""

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from tenants.models import ApiKey, Tenant

KEY_NAMESPACE = "pl_"
_ALPHABET = string.ascii_letters + string.digits
_PREFIX_CHARS = 8  # 62^8 ≈ 2·10^14 prefixes: collisions are retried, and practically never happen
_SECRET_CHARS = 40  # 62^40 ≈ 2^238
_KEY_RE = re.compile(rf"^({KEY_NAMESPACE}[A-Za-z0-9]{{{_PREFIX_CHARS}}})_[A-Za-z0-9]{{{_SECRET_CHARS}}}$")

# How long a key's record stays cached. Revocation deletes it at once; the TTL only bounds
# how long a record survives if that delete is ever lost (e.g. the cache was unreachable).
RECORD_TTL_SECONDS = 300
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

    @classmethod
    def of(cls, key: ApiKey) -> "KeyRecord":
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
        )

    def tenant(self) -> Tenant:
        """The key's tenant, built from the cached record without a query."""
        return Tenant(
            id=self.tenant_id, name=self.tenant_name, slug=self.tenant_slug, status=self.tenant_status
        )


def generate() -> tuple[str, str]:
    """A new (prefix, full key)."""
    prefix = KEY_NAMESPACE + "".join(secrets.choice(_ALPHABET) for _ in range(_PREFIX_CHARS))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_CHARS))
    return prefix, f"{prefix}_{secret}"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def lookup(raw: str) -> KeyRecord | None:
    """The record of a presented key, or None if no such key exists."""
    match = _KEY_RE.match(raw)
    if match is None:
        return None
    prefix = match.group(1)
    record = cache.get(_cache_key(prefix))
    if record is None:
        key = ApiKey.objects.unscoped().select_related("tenant").filter(prefix=prefix).first()
        # Unknown prefixes are cached too, so a flood of made-up keys cannot reach the database.
        record = KeyRecord.of(key) if key is not None else _MISSING
        cache.set(_cache_key(prefix), record, RECORD_TTL_SECONDS)
    if record == _MISSING or not hmac.compare_digest(record.key_hash, hash_key(raw)):
        return None
    return record


def forget(prefixes: list[str]) -> None:
    """Drop cached records, so the next request reads the key afresh."""
    cache.delete_many([_cache_key(p) for p in prefixes])


def note_used(record: KeyRecord, now: datetime | None = None) -> None:
    """Remember that a key was used, writing to the database at most once a minute."""
    from tenants.tasks import api_key_mark_used

    if cache.add(f"apikey-used:{record.id}", 1, LAST_USED_RESOLUTION_SECONDS):
        api_key_mark_used.delay(
            tenant_id=record.tenant_id,
            api_key_id=record.id,
            used_at=(now or timezone.now()).isoformat(),
        )
