"""Fixtures shared by every app's tests."""

import uuid

import pytest
from rest_framework.test import APIClient

from config.celery import app as celery_app


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """A fresh key prefix per test: no test sees another's cached keys or rate counters,
    and nothing is flushed from a Redis that other processes may share."""
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches


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
