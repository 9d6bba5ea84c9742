"""End to end: a real ASGI server process (uvicorn), a real WebSocket client, changes
made over HTTP and by a Celery worker. The server is another process, so this needs the shared
services (PostgreSQL and Redis), as in production and CI."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def asgi_server(transactional_db):
    """The realtime server as in production (uvicorn, see docker-compose.yml), in a fresh
    process pointed at the test database."""
    if not (settings.USING_POSTGRES and settings.REDIS_URL):
        pytest.skip("the server is another process: needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
    }
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--ws", "websockets", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if server.poll() is not None:
                pytest.fail("the ASGI server exited at start")
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("the ASGI server did not start")
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


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
