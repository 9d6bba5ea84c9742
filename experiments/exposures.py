"""The exposure buffer: quotes record exposures without touching the database.

A quote appends one small JSON line per exposure; ``flush`` moves them into PostgreSQL in
batches, where the unique (tenant, experiment, phase, visitor) index keeps only a
visitor's first exposure. With Redis the buffer is a Redis list shared by every process
and drained by the ``exposures_flush`` task; in the embedded mode it is an in-process
list that the quoting process drains itself once it is a few seconds old.

Crash safety: ``flush`` reads a batch, inserts it (idempotently), and only then trims it
from the list, so a process dying in between leaves the batch for the next flush, which
inserts it again harmlessly. A lock keeps two flushes from trimming each other's batch.
"""

import atexit
import json
import logging
import threading
import time
from collections import deque
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError
from redis.exceptions import RedisError

from config.logs import warn_throttled
from experiments.models import Experiment, Exposure, Variant

logger = logging.getLogger(__name__)

# Rows per INSERT: large enough to amortise a round trip, small enough to keep a
# transaction short.
FLUSH_BATCH = 5000
# How long a flush may hold the lock before another may take over (a dead flusher).
LOCK_SECONDS = 60
# The embedded mode drains its in-process buffer once its oldest entry is this old.
LOCAL_MAX_AGE_SECONDS = 2.0

_local: deque[str] = deque()
_local_lock = threading.Lock()
_local_oldest: float | None = None


def buffer_key() -> str:
    """The Redis list that holds buffered exposures."""
    return settings.EXPOSURE_BUFFER_KEY


def _redis():
    """The Redis client behind Django's cache, or None in the embedded mode."""
    if not settings.REDIS_URL:
        return None
    return cache._cache.get_client(write=True)


def encode(
    *, tenant_id: int, experiment_id: int, phase: int, variant_id: int, visitor_id: str, at: datetime
) -> str:
    return json.dumps([tenant_id, experiment_id, phase, variant_id, visitor_id, at.isoformat()])


def record(lines: list[str]) -> None:
    """Buffer exposures (as made by ``encode``)."""
    global _local_oldest
    if not lines:
        return
    client = _redis()
    if client is not None:
        try:
            client.rpush(buffer_key(), *lines)
            return
        except RedisError:
            # Redis is down: buffer in this process, as the embedded mode does, and write to
            # the database every few seconds (inserts are idempotent). Nothing is lost
            # unless the process dies within those seconds.
            warn_throttled(
                logger, "exposures", "exposures written straight to the database: the cache is unreachable"
            )
    with _local_lock:
        if _local_oldest is None:
            _local_oldest = time.monotonic()
        _local.extend(lines)
        due = time.monotonic() - _local_oldest >= LOCAL_MAX_AGE_SECONDS
    if due:
        _flush_local()


def _flush_local() -> int:
    """Write the exposures buffered in this process (embedded mode, or Redis down)."""
    global _local_oldest
    with _local_lock:
        lines = list(_local)
        _local.clear()
        _local_oldest = None
    handled = 0
    for start in range(0, len(lines), FLUSH_BATCH):
        handled += _insert(lines[start : start + FLUSH_BATCH])
    return handled


def _insert(lines: list[str]) -> int:
    rows = []
    for line in lines:
        try:
            tenant_id, experiment_id, phase, variant_id, visitor_id, at = json.loads(line)
        except (ValueError, TypeError):
            logger.error("dropping a malformed exposure buffer entry")
            continue
        rows.append(
            Exposure(
                tenant_id=tenant_id,
                experiment_id=experiment_id,
                phase=phase,
                variant_id=variant_id,
                visitor_id=visitor_id,
                exposed_at=datetime.fromisoformat(at),
            )
        )
    try:
        Exposure.objects.bulk_create(rows, ignore_conflicts=True, batch_size=FLUSH_BATCH)
    except IntegrityError:
        # A row whose experiment or variant is gone (its tenant deleted, say) must not block
        # the buffer that every tenant shares: keep the rows that still fit, log the rest.
        experiments = {row.experiment_id for row in rows}
        alive_experiments = set(
            Experiment.objects.unscoped().filter(pk__in=experiments).values_list("pk", flat=True)
        )
        alive_variants = set(
            Variant.objects.unscoped()
            .filter(experiment_id__in=alive_experiments)
            .values_list("pk", flat=True)
        )
        kept = [r for r in rows if r.experiment_id in alive_experiments and r.variant_id in alive_variants]
        logger.warning("dropping %d exposures of deleted experiments or variants", len(rows) - len(kept))
        Exposure.objects.bulk_create(kept, ignore_conflicts=True, batch_size=FLUSH_BATCH)
    return len(rows)


def flush(max_batches: int = 100) -> int:
    """Move buffered exposures into the database. Returns how many entries were handled."""
    client = _redis()
    handled = _flush_local() if _local else 0
    if client is None:
        return handled
    lock = client.lock(f"{buffer_key()}:lock", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return 0  # another flush is running
    try:
        for _ in range(max_batches):
            lines = [line.decode() for line in client.lrange(buffer_key(), 0, FLUSH_BATCH - 1)]
            if not lines:
                break
            handled += _insert(lines)
            # Trim only while the lock is ours: had it expired, another flusher may have
            # trimmed these lines already, and trimming again would drop unread ones.
            # Left untrimmed, they are inserted again by the next flush, harmlessly.
            if not lock.owned():
                break
            client.ltrim(buffer_key(), len(lines), -1)
            lock.reacquire()  # a fresh lease for the next batch
    finally:
        if lock.owned():
            lock.release()
    return handled


@atexit.register
def _flush_local_at_exit() -> None:
    """The embedded buffer lives in this process: write it out before the process ends."""
    if _local:
        try:
            flush()
        except Exception:
            logger.exception("could not flush %d buffered exposures at exit", len(_local))


def pending() -> int:
    """Exposures waiting in the buffer."""
    client = _redis()
    if client is None:
        return len(_local)
    return client.llen(buffer_key())
