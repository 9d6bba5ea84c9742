"""The Redis cache backend: Django's, sharing one client, with a one-round-trip incr."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _needs_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("the Redis cache backend needs Redis")


def test_incr_adds_to_an_existing_key_and_refuses_a_missing_one_as_django_does():
    cache.set("counter", 5)
    assert cache.incr("counter") == 6
    assert cache.incr("counter", 10) == 16
    assert cache.get("counter") == 16
    with pytest.raises(ValueError):
        cache.incr("no-such-counter")
    assert cache.get("no-such-counter") is None  # a refused incr creates nothing


def test_every_operation_shares_one_client():
    backend = cache._cache
    assert backend.get_client() is backend.get_client(write=True)


def test_values_round_trip_as_with_djangos_backend():
    cache.set_many({"a": {"nested": [1, "x"]}, "b": 7}, 30)
    assert cache.get_many(["a", "b", "c"]) == {"a": {"nested": [1, "x"]}, "b": 7}
    assert cache.add("a", "other") is False
