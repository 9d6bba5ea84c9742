"""Settings are read once at start-up, so each case starts a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "import sentry_sdk; client = sentry_sdk.get_client(); "
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], 'cache': s.CACHES['default']['BACKEND'], "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.CELERY_BROKER_URL, 'debug': s.DEBUG, 'sentry': client.is_active(), "
    "'integrations': sorted(getattr(client, 'integrations', {}) or {})}))"
)


def start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


_SETTINGS_VARS = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SENTRY_DSN"}


def test_embedded_defaults_with_nothing_set():
    result = start(DEBUG="true")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["db"] == "django.db.backends.sqlite3"
    assert seen["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert seen["layer"] == "channels.layers.InMemoryChannelLayer"
    assert seen["eager"] is True
    assert seen["sentry"] is False


def test_postgres_and_redis_from_urls():
    result = start(
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/pricelab",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["db"] == "django.db.backends.postgresql"
    assert seen["cache"] == "config.cache.RedisCache"  # Django's, sharing one client (config/cache.py)
    assert seen["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert seen["eager"] is False
    assert seen["broker"] == "redis://127.0.0.1:6379/0"
    assert seen["debug"] is False


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_the_servers_refuse_to_start_on_the_default_secret_key(entry_point):
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import {entry_point}"], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_the_servers_import_every_view_before_their_first_request(entry_point):
    """So that the first request of each worker after a deploy does not wait ~1 s for it."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS} | {"DEBUG": "true"}
    modules = ("experiments.stats", "pricing.api")
    probe = f"import sys, {entry_point}; print(*(m in sys.modules for m in {modules!r}))"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_celery_refuses_to_start_on_the_default_secret_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    from config.celery import _refuse_insecure_start

    settings.DEBUG = False
    settings.SECRET_KEY = settings.INSECURE_DEFAULT_SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        _refuse_insecure_start()


def test_tools_work_without_setup_and_the_deploy_check_reports_the_key():
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    tool = [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"]
    assert subprocess.run(tool, cwd=ROOT, env=clean, capture_output=True, timeout=60).returncode == 0  # noqa: S603
    deploy = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert deploy.returncode != 0 and "pricelab.E001" in deploy.stderr


def test_a_malformed_boolean_stops_start_up():
    result = start(DEBUG="ture")
    assert result.returncode != 0
    assert "DEBUG must be true or false, got 'ture'" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 50)
    result = start(SECRET_KEY_FILE=str(secret_file))
    assert result.returncode == 0, result.stderr


def test_sentry_dsn_turns_on_sentry_with_django_celery_and_redis():
    result = start(DEBUG="true", SENTRY_DSN="https://public@127.0.0.1:9/1")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["sentry"] is True
    assert {"django", "celery", "redis"} <= set(seen["integrations"])
