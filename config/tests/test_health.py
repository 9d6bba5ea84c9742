import pytest

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_live_answers(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_with_the_configured_services(client, settings):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
    if settings.REDIS_URL:
        assert "mode" not in body["checks"]["broker"]  # a real broker was reached


def test_dead_cache_makes_ready_degraded_naming_it(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}
    }
    response = client.get("/health/ready")
    assert response.status_code == 200  # quotes still answer without Redis: stay in rotation
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["cache"]
    assert body["checks"]["cache"]["ok"] is False
    assert "127.0.0.1" not in response.text  # no internals to an anonymous caller


def test_dead_channel_layer_makes_ready_degraded_naming_it(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [DEAD_REDIS]},
        }
    }
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["failed"] == ["channel_layer"]


def test_dead_broker_makes_ready_degraded_naming_it(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = DEAD_REDIS
    response = client.get("/health/ready")
    assert response.status_code == 200 and response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["broker"]


def test_dead_database_makes_ready_503_naming_it(client, monkeypatch):
    from django.db import OperationalError

    from config import health

    def refuse():
        raise OperationalError("connection refused")

    # The real database stays up for the test itself; only the probe sees it down.
    monkeypatch.setitem(health.CHECKS, "database", refuse)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert response.json()["checks"]["database"]["error"] == "OperationalError"
