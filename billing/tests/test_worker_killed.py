"""A Celery worker killed mid-task loses no metered unit and counts none twice.

Real processes: a Celery worker subprocess on the test database and Redis runs the usage
flush; the test holds a PostgreSQL lock on the usage table, so the flush stops right after
it has taken the units out of the Redis counters and before it has written them; then the
worker gets SIGKILL. A second worker, on the next flush (beat sends one a minute), must
write the units exactly once.
"""

import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from billing import metering
from billing.models import UsageDaily
from billing.tasks import usage_flush
from config.celery import app as celery_app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (settings.USING_POSTGRES and settings.REDIS_URL),
        reason="a worker in another process needs PostgreSQL and Redis",
    ),
]

# The worker subprocess has the settings' own prefix; the test counts under the same one.
WORKER_USAGE_PREFIX = "pricelab:usage"
WAIT_SECONDS = 60


def _db_params() -> dict:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def start_worker(tmp_path):
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DB_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
    }
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(  # noqa: S603  (our own interpreter and fixed arguments)
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue,
             "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "WARNING",
             "-n", f"{queue}-{len(started)}@%h"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(worker)
        return worker

    start.queue = queue
    yield start
    for worker in started:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def _send_flush(queue: str) -> None:
    celery_app.conf.task_always_eager = False
    try:
        usage_flush.apply_async(queue=queue)
    finally:
        celery_app.conf.task_always_eager = True


def _units(tenant_id: int) -> int:
    row = UsageDaily.objects.for_tenant(tenant_id).filter(kind=UsageDaily.Kind.QUOTE).first()
    return row.units if row else 0


def test_a_worker_killed_mid_flush_loses_no_unit_and_counts_none_twice(alice, settings, start_worker):
    settings.USAGE_KEY_PREFIX = WORKER_USAGE_PREFIX
    client = metering._redis()
    metering.record(tenant_id=alice.tenant.pk, kind=UsageDaily.Kind.QUOTE, units=7)
    counter, _, _ = metering.counter_keys(tenant_id=alice.tenant.pk, kind=UsageDaily.Kind.QUOTE)

    locker = psycopg.connect(**_db_params())
    try:
        # Writers of the usage table wait on this lock; readers do not.
        locker.execute("LOCK TABLE billing_usagedaily IN SHARE ROW EXCLUSIVE MODE")
        first = start_worker()
        _send_flush(start_worker.queue)

        def flush_is_stuck_on_the_lock() -> bool:
            with psycopg.connect(**_db_params(), autocommit=True) as probe:
                waiting = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()[0]
            return waiting > 0

        _wait(flush_is_stuck_on_the_lock, "the flush to reach the database")
        assert client.get(counter) is None  # the units have left the counter...
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        locker.rollback()
        locker.close()
    # ...and the worker died before writing them. With a plain GETDEL they would be gone now.
    assert _units(alice.tenant.pk) == 0
    assert metering.pending(tenant_id=alice.tenant.pk, day=metering._today()) == {"quote": 7}

    start_worker()
    _send_flush(start_worker.queue)  # the next scheduled flush
    _wait(lambda: _units(alice.tenant.pk) == 7, "the second worker to write the claimed units")
    assert metering.flush() == 0  # nothing left over, nothing applied twice
    assert _units(alice.tenant.pk) == 7
    assert metering.pending(tenant_id=alice.tenant.pk, day=metering._today()) == {}
