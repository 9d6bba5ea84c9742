"""Browser tests: Playwright driving Debian's Chromium against the real product.

The product runs as it does in production, in processes of its own: the ASGI app under
uvicorn (pages, API, WebSocket and SSE on one port, as `make run` serves them) and a
Celery worker with beat, both on the test database and Redis. The browser never downloads
anything: it is /usr/bin/chromium, launched with the flags this closed network needs.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

# The sync Playwright API runs an event loop in the test's thread; the ORM calls that set
# tests up are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
READY_SECONDS = 40
# A viewport like a laptop's: what the screenshots in the README show.
VIEWPORT = {"width": 1360, "height": 860}
SCREENSHOT_DIR = os.environ.get("PRICELAB_SCREENSHOTS")  # `make screenshots` sets docs/screenshots


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited at start (code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    process.kill()
    pytest.fail(f"{what} did not start within {READY_SECONDS} s")


@pytest.fixture(scope="session")
def _browser_available():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, _browser_available):
    """Debian's Chromium, never a downloaded one; no GPU, no QUIC, no calls home."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn serving config.asgi, and a Celery worker with beat, on the test database."""
    if not (settings.USING_POSTGRES and settings.REDIS_URL):
        pytest.skip("the product runs in other processes: needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "SECURE_COOKIES": "false",  # plain http on loopback
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "DB_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        # Every test logs in from 127.0.0.1: the per-IP login limit would soon refuse them.
        "AUTH_RATE_LIMIT": "1000/m",
        # Webhook tests run their receiver on loopback, which DEBUG=false refuses otherwise.
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    # With DEBUG off, WhiteNoise serves collected files, as in production.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR, env=env, check=True,
    )  # fmt: skip
    logs = tmp_path_factory.mktemp("live-stack")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--ws", "websockets", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env, stdout=open(logs / "server.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--concurrency", "1",
         "--loglevel", "WARNING", "--schedule", str(logs / "beat-schedule"), "--without-mingle",
         "--without-gossip", "-n", f"browser-tests-{port}@%h"],
        cwd=settings.BASE_DIR, env=env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/health/live", server, "the ASGI server")
        yield base
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if os.environ.get("CI"):
            for name in ("server.log", "worker.log"):
                text = (logs / name).read_text(errors="replace").strip()
                if text:
                    print(f"--- {name} ---\n{text[-4000:]}")


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, live_stack):
    return {**browser_context_args, "base_url": live_stack, "viewport": VIEWPORT}


@pytest.fixture
def app_url(live_stack, transactional_db) -> str:
    """The product's address; the test's rows are committed, so the server sees them."""
    return live_stack


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """The server checks passwords with the real hashers, so tests create them with those too."""


@pytest.fixture
def screenshot(tmp_path):
    """Save a full-page screenshot: into docs/screenshots under `make screenshots`, else a temp dir."""
    target = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        # Not "networkidle": a page with a live feed never goes idle.
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # charts finish their first paint
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, f"screenshot {name} looks empty"
        return path

    return take


def pytest_collection_modifyitems(items):
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.browser)
