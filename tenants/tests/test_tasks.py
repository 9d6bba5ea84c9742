"""Tasks through the real Celery path: a worker consuming the configured broker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from config.celery import app
from tenants.tasks import api_key_mark_used
from tenants.tests.factories import TenantFactory, api_key_for


@pytest.fixture
def celery_worker(transactional_db):
    """An in-process worker on the broker from settings (Redis when REDIS_URL is set)."""
    if not settings.CELERY_BROKER_URL:
        pytest.skip("no broker configured: tasks run eagerly in the embedded mode")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def test_mark_used_runs_on_a_worker_and_twice_is_harmless(celery_worker):
    key, _ = api_key_for(TenantFactory())
    used_at = timezone.now()
    kwargs = {"tenant_id": key.tenant_id, "api_key_id": key.pk, "used_at": used_at.isoformat()}
    for _ in range(2):
        api_key_mark_used.apply_async(kwargs=kwargs)
    # Results are not kept (no result backend), so watch the row the task writes.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        key.refresh_from_db()
        if key.last_used_at is not None:
            break
        time.sleep(0.05)
    assert key.last_used_at == used_at


def test_mark_used_never_moves_the_time_backwards(db):
    key, _ = api_key_for(TenantFactory())
    later = timezone.now()
    earlier = later - timezone.timedelta(minutes=5)
    for when in (later, earlier):
        api_key_mark_used(tenant_id=key.tenant_id, api_key_id=key.pk, used_at=when.isoformat())
    key.refresh_from_db()
    assert key.last_used_at == later
