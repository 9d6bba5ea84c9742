"""Redis down: quotes still answer, from PostgreSQL, and nothing raises.

Redis is really unreachable in these tests: the cache points at a port where nothing
listens (or at a socket that accepts and never answers), through the project's own cache
backend, while the rest of the process believes it runs on Redis (``REDIS_URL`` is set).
"""

import logging
import socket
import threading
import time

import pytest

from billing import metering
from billing.models import UsageDaily
from experiments import exposures
from experiments import services as experiment_services
from experiments.models import Exposure
from pricing import services as pricing_services
from pricing.models import PricePoint, Product
from tenants import services as tenant_services

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1

VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


@pytest.fixture(autouse=True)
def _needs_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("a Redis outage needs Redis to begin with")


class Outage:
    """Takes the cache's Redis away (a dead port) and gives it back."""

    def __init__(self, settings):
        self.settings = settings
        self.live = dict(settings.CACHES["default"])

    def start(self) -> None:
        self.settings.CACHES = {"default": {**self.live, "LOCATION": DEAD_REDIS}}

    def end(self) -> None:
        self.settings.CACHES = {"default": self.live}


@pytest.fixture
def redis(settings) -> Outage:
    return Outage(settings)


@pytest.fixture
def tea(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return pricing_services.product_create(
            tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
        )


@pytest.fixture
def tea_tested(alice, tea, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        experiment = experiment_services.experiment_create(
            tenant=alice.tenant, product=tea, key="tea-price", name="Tea price", variants=VARIANTS
        )
        experiment_services.experiment_start(experiment=experiment)
    return tea


def quote(api, party, visitor="ada"):
    return api.post(
        "/api/v1/quote/", {"visitor_id": visitor, "products": ["tea"]}, format="json", **party.auth
    )


def test_a_warm_process_keeps_quoting_when_redis_goes_down(api, alice, tea_tested, redis):
    expected = quote(api, alice, "ada").json()  # warm: key and config copies in this process
    redis.start()
    response = quote(api, alice, "ada")
    assert response.status_code == 200
    assert response.json() == expected  # the same variant at the same price
    assert response.json()["items"][0]["experiment"] == "tea-price"


def test_a_cold_process_quotes_from_the_database_when_redis_is_down(api, alice, tea_tested, redis):
    redis.start()
    response = quote(api, alice, "ada")
    assert response.status_code == 200, response.content
    assert response.json()["items"][0]["price"] in ("10.00", "12.00")


def test_rate_limiting_fails_open_with_one_warning_not_one_per_request(
    api, alice, tea, redis, settings, caplog
):
    redis.start()
    with caplog.at_level(logging.WARNING):
        answers = [quote(api, alice, f"v{i}") for i in range(70)]  # more than Free's 60 a minute
    assert {answer.status_code for answer in answers} == {200}
    assert "X-RateLimit-Remaining" not in answers[-1]  # nothing counted: no made-up numbers
    warnings = [r for r in caplog.records if "rate limit not applied" in r.getMessage()]
    assert len(warnings) == 1


def test_units_and_exposures_go_straight_to_the_database_and_none_is_lost(
    api, alice, tea_tested, redis, monkeypatch
):
    # Written as soon as they are counted, rather than a few seconds later, for the test.
    monkeypatch.setattr(metering, "LOCAL_MAX_AGE_SECONDS", 0)
    monkeypatch.setattr(exposures, "LOCAL_MAX_AGE_SECONDS", 0)
    redis.start()
    visitors = [f"visitor-{i}" for i in range(6)]
    for visitor in visitors:
        assert quote(api, alice, visitor).status_code == 200
    units = UsageDaily.objects.for_tenant(alice.tenant.pk).get(kind=UsageDaily.Kind.QUOTE).units
    assert units == len(visitors)
    seen = Exposure.objects.for_tenant(alice.tenant.pk).values_list("visitor_id", flat=True)
    assert sorted(seen) == sorted(visitors)


def test_a_price_change_during_the_outage_is_quoted_then_and_after_redis_is_back(
    api, alice, tea, redis, django_capture_on_commit_callbacks
):
    assert quote(api, alice).json()["items"][0]["price"] == "10.00"  # cached under the old token
    redis.start()
    with django_capture_on_commit_callbacks(execute=True):  # its invalidation cannot reach Redis
        pricing_services.price_change(product=tea, price="11.00", source=PricePoint.Source.API)
    assert quote(api, alice).json()["items"][0]["price"] == "11.00"
    redis.end()
    # Redis still holds the old token and the entries cached under it: the invalidation kept
    # during the outage goes first, so they are never served again.
    assert quote(api, alice).json()["items"][0]["price"] == "11.00"


def test_a_key_revoked_during_the_outage_stays_refused_after_redis_is_back(
    api, alice, tea, redis, django_capture_on_commit_callbacks
):
    assert quote(api, alice).status_code == 200  # its record is cached in Redis
    redis.start()
    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.api_key_revoke(api_key=alice.key)
    assert quote(api, alice).status_code == 401
    redis.end()
    assert quote(api, alice).status_code == 401


def test_a_storefront_page_still_quotes_with_its_publishable_key_while_redis_is_down(
    api, alice, tea_tested, redis, django_capture_on_commit_callbacks
):
    shop = "https://shop.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.tenant_origins_set(tenant=alice.tenant, origins=[shop])
        _, publishable = tenant_services.api_key_create(tenant=alice.tenant, name="Web", kind="publishable")
    redis.start()
    preflight = api.options("/api/v1/quote/", HTTP_ORIGIN=shop, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 200 and preflight["Access-Control-Allow-Origin"] == shop
    answer = api.post(
        "/api/v1/quote/",
        {"visitor_id": "ada", "products": ["tea"]},
        format="json",
        HTTP_ORIGIN=shop,
        HTTP_AUTHORIZATION=f"Bearer {publishable}",
    )
    assert answer.status_code == 200, answer.content
    assert answer["Access-Control-Allow-Origin"] == shop
    assert answer.json()["items"][0]["price"] in ("10.00", "12.00")


def test_writes_still_work_while_redis_is_down(api, alice, redis):
    redis.start()
    response = api.post(
        "/api/v1/products/",
        {"sku": "mug", "name": "Mug", "currency": "EUR", "base_price": "8.00"},
        format="json",
        **alice.auth,
    )
    assert response.status_code == 201, response.content
    assert Product.objects.for_tenant(alice.tenant.pk).filter(sku="mug").exists()


@pytest.fixture
def silent_redis():
    """A socket that accepts connections and never answers: a Redis that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hanging_redis_costs_a_quote_one_short_timeout_not_one_per_command(
    api, alice, tea, settings, silent_redis
):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": silent_redis}}
    started = time.perf_counter()
    first = quote(api, alice)
    first_took = time.perf_counter() - started
    started = time.perf_counter()
    second = quote(api, alice, "bob")
    second_took = time.perf_counter() - started
    assert first.status_code == second.status_code == 200
    # A quote touches Redis half a dozen times; each would wait out the timeout without the
    # breaker. With it the first pays one timeout and the next none.
    assert first_took < 1.5, first_took
    assert second_took < 0.3, second_took


def test_readiness_says_degraded_but_keeps_the_process_in_rotation(client, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [DEAD_REDIS]},
        }
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = DEAD_REDIS
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["broker", "cache", "channel_layer"]
    assert body["checks"]["database"]["ok"] is True
