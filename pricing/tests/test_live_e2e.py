"""End to end: a real ASGI server process, a real WebSocket client, changes made over
HTTP and by a Celery worker. The server is another process, so this needs the shared
services (PostgreSQL and Redis), as in production and CI."""

import json
import urllib.request
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from daphne.testing import DaphneProcess
from django.conf import settings
from django.db import connections
from django.utils import timezone
from websockets.sync.client import connect

from config.celery import app as celery_app
from experiments import services as experiment_services
from pricing import services

READY_SECONDS = 30
VARIANTS = [
    {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "12.00", "weight": "0.5"},
]


def _application():
    from config.asgi import application

    return application


@pytest.fixture
def asgi_server(transactional_db):
    if not (settings.USING_POSTGRES and settings.REDIS_URL):
        pytest.skip("the server is another process: needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    connections.close_all()  # the child must not share the parent's database sockets
    server = DaphneProcess("127.0.0.1", _application)
    server.daemon = True
    server.start()
    if not server.ready.wait(READY_SECONDS):
        server.terminate()
        pytest.fail(
            f"the ASGI server did not start: {server.errors.get() if not server.errors.empty() else ''}"
        )
    yield f"127.0.0.1:{server.port.value}"
    server.terminate()
    server.join(10)


@contextmanager
def listen(host, party):
    headers = {"Authorization": f"Bearer {party.secret}"}
    with connect(f"ws://{host}/ws/prices/", additional_headers=headers) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "subscribed"
        yield ws, hello


def test_a_price_changed_over_http_reaches_a_websocket_client(asgi_server, alice, charlie):
    services.product_create(tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00")
    request = urllib.request.Request(
        f"http://{asgi_server}/api/v1/products/tea/",
        data=json.dumps({"base_price": "10.90"}).encode(),
        headers={"Authorization": f"Bearer {alice.secret}", "Content-Type": "application/json"},
        method="PATCH",
    )
    with listen(asgi_server, alice) as (ws, hello):
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
        event = json.loads(ws.recv(timeout=10))
    assert (event["sku"], event["price"], event["previous_price"]) == ("tea", "10.90", "10.00")
    assert event["version"] == hello["version"] + 1


def test_a_change_made_by_a_celery_worker_reaches_a_websocket_client(asgi_server, alice):
    product = services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10"
    )
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=product, key="tea-test", name="t", variants=VARIANTS,
        end_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    experiment_services.experiment_start(experiment=experiment)
    experiment_services.experiment_update(experiment=experiment, end_at=timezone.now() - timedelta(seconds=1))
    celery_app.conf.task_always_eager = False
    try:
        with (
            listen(asgi_server, alice) as (ws, _),
            start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10),
        ):
            celery_app.send_task("experiments.tasks.experiments_pause_finished")
            event = json.loads(ws.recv(timeout=20))
    finally:
        celery_app.conf.task_always_eager = True
    assert (event["sku"], event["source"], event["experiment"]) == ("tea", "experiment_paused", "tea-test")
