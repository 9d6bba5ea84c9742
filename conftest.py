"""Fixtures shared by every app's tests."""

import importlib
import uuid

import pytest
from rest_framework.test import APIClient

from config.celery import app as celery_app
from config.logs import throttle_reset
from tenants.tests.factories import MembershipFactory, api_key_for


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """A fresh key prefix per test: no test sees another's cached keys or rate counters,
    and nothing is flushed from a Redis that other processes may share."""
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches
    settings.EXPOSURE_BUFFER_KEY = f"{prefix}:exposures"
    settings.USAGE_KEY_PREFIX = f"{prefix}:usage"
    _empty_process_buffers()
    # Each test expects its own first warning of an outage, not one throttled by another's.
    throttle_reset()
    yield
    # What a test left in the embedded buffers belongs to rows its transaction rolled back.
    _empty_process_buffers()


def _empty_process_buffers() -> None:
    from billing import metering
    from experiments import exposures

    for buffer in (metering, exposures):
        buffer._local.clear()
        buffer._local_oldest = None
    metering._local_month.clear()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Templates resolve {% static %} without a collectstatic manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness is for attackers, not for the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    """Tasks run in the test's own transaction. Tests of the worker path use celery_worker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def api() -> APIClient:
    return APIClient()


class Party:
    """A tenant with an owner and a full-scope API key: Alice's shop, or Charlie's."""

    def __init__(self, role="owner"):
        self.membership = MembershipFactory(role=role)
        self.tenant = self.membership.tenant
        self.user = self.membership.user
        self.key, self.secret = api_key_for(self.tenant)

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


@pytest.fixture
def alice(db) -> Party:
    return Party()


@pytest.fixture
def charlie(db) -> Party:
    """The outsider: another tenant, who must never see or touch Alice's rows."""
    return Party()


@pytest.fixture(autouse=True)
def _plans_seeded(request):
    """A transactional test's flush also empties the plans the migrations seeded: put them back,
    since every tenant's limits come from them."""
    marker = request.node.get_closest_marker("django_db")
    by_marker = marker is not None and marker.kwargs.get("transaction", False)
    if not by_marker and not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from billing.models import Plan

    seed = importlib.import_module("billing.migrations.0002_seed_plans")
    for plan in seed.PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)
