"""What every benchmark shares: its own database and Redis, the production servers, results.

A benchmark never touches the app's own data. It works in a database of its own
(``BENCH_DATABASE_URL``, default ``pricelab_bench`` on the server of ``DATABASE_URL``),
which it creates and migrates, and in a Redis database of its own (``BENCH_REDIS_URL``,
default db 7), which it empties before it starts. Servers are started with the commands
docker-compose.yml gives the ``web`` and ``realtime`` services, read from that file, so a
change of the production configuration is benchmarked as it ships.

Each script writes one JSON file into ``bench/results/`` (``bench/results/smoke/`` with
``--smoke``), holding the machine, the load on it, the parameters, what was measured and
each target with its verdict; ``bench.report`` turns those files into docs/BENCHMARKS.md.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
SCHEMA_VERSION = 1
# The settings every benchmark process uses: the product's, plus the bare baseline view.
SETTINGS_MODULE = "bench.settings"
# How long a server may take to start answering before the benchmark gives up.
SERVER_START_SECONDS = 60


def arguments(description: str, full: dict[str, Any], smoke: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether this is a smoke run, and the run's size (FULL or SMOKE, with --set overrides)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a size parameter (integers)",
    )
    args = parser.parse_args()
    size = dict(smoke if args.smoke else full)
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in size:
            parser.error(f"unknown parameter {name!r}; known: {', '.join(size)}")
        size[name] = int(value)
    return args.smoke, size


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_url() -> str:
    """The benchmark's own database: BENCH_DATABASE_URL, else pricelab_bench beside DATABASE_URL."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/pricelab")
    if not base.scheme.startswith("postgres"):
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL or BENCH_DATABASE_URL.")
    return urlunsplit(base._replace(path="/pricelab_bench"))


def redis_url() -> str:
    """The benchmark's own Redis database (emptied at start): BENCH_REDIS_URL, else db 7."""
    return os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/7"


# One random key per run: DEBUG is off, and the servers refuse the development key.
_SECRET_KEY = secrets.token_urlsafe(50)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of the servers and of this process's Django: production-like, on bench data."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url(),
        CELERY_BROKER_URL=redis_url(),
        SECRET_KEY=_SECRET_KEY,
        DEBUG="false",
        LOG_LEVEL="WARNING",
        # The servers are reached directly, not through the proxy that sets X-Real-IP.
        RATELIMIT_IP_META_KEY="",
        SECURE_COOKIES="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def django_setup() -> None:
    """Set up Django in this process against the benchmark's database and Redis."""
    os.environ.update(server_env())
    import django

    django.setup()


def database_prepare() -> None:
    """Create the benchmark database if it is missing and migrate it (once per ``bench.run``)."""
    import psycopg

    if os.environ.get("BENCH_PREPARED") and not os.environ.get("BENCH_DATABASE_URL"):
        return

    url = urlsplit(database_url())
    name = url.path.lstrip("/")
    admin = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=server_env(),
        check=True,
    )


def redis_flush() -> None:
    """Empty the benchmark's Redis database (it is the benchmark's alone)."""
    import redis

    redis.Redis.from_url(redis_url()).flushdb()


def shown(command: list[str], port: int) -> str:
    """A server command as a reader would type it: no venv path, no random port."""
    return " ".join(command).replace(str(BIN) + "/", "").replace(f"--port {port}", "--port PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_command(service: str, *, port: int, app: str | None = None) -> list[str]:
    """The service's command in docker-compose.yml, on loopback and the given port.

    ``app`` replaces the application path (the fan-out baseline serves its own ASGI app
    with the same server and flags).
    """
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = list(compose["services"][service]["command"])
    out = [str(BIN / command[0])]
    args = iter(command[1:])
    for arg in args:
        if arg == "--host":
            out += [arg, "127.0.0.1"]
            next(args)
        elif arg == "--port":
            out += [arg, str(port)]
            next(args)
        elif app is not None and arg.endswith(":application"):
            out.append(app)
        else:
            out.append(arg)
    return out


class Server:
    """A server process started with a production command, stopped with its whole group."""

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        env: dict[str, str] | None = None,
        ready_path: str | None = None,
    ) -> None:
        self.command, self.port, self.ready_path = list(command), port, ready_path
        self.env = env or server_env()
        self.process: subprocess.Popen | None = None
        self.log = RESULTS / "logs" / f"server-{port}.log"

    def __enter__(self) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited; see {self.log}")
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.command[0]} did not answer on port {self.port}; see {self.log}")

    def _answers(self) -> bool:
        try:
            if self.ready_path is None:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            http = HTTPConnection("127.0.0.1", self.port, timeout=10)
            http.request("GET", self.ready_path)
            ok = http.getresponse().status == 200
            http.close()
            return ok
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """The server's processes (the master and its workers)."""
        assert self.process is not None
        out = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True)
        return sorted(int(pid) for pid in out.stdout.split())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._out.close()


def rss_bytes(pid: int) -> int:
    """Resident memory of one process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; samples need not be sorted."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    return platform.platform()


def _ram_bytes() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    for package in (
        "Django",
        "djangorestframework",
        "channels",
        "channels-redis",
        "granian",
        "uvicorn",
        "psycopg",
    ):
        with contextlib.suppress(Exception):
            out[package] = version(package)
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(database_url()) as conn:
            out["PostgreSQL"] = conn.execute("SHOW server_version").fetchone()[0]
            # What fits in PostgreSQL's own cache decides how scans grow with table size.
            out["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        out["Redis"] = redis.Redis.from_url(redis_url()).info("server")["redis_version"]
    with contextlib.suppress(Exception):
        out["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[1]
    return out


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(_ram_bytes() / 2**30, 1),
        "os": _os_name(),
        "python": platform.python_version(),
        "versions": _versions(),
        "commit": commit.stdout.strip() or None,
    }


def target(name: str, *, value: float | None, goal: str, met: bool | None, unit: str = "") -> dict[str, Any]:
    """One target of the issue: what was measured against what was asked."""
    return {"name": name, "value": value, "unit": unit, "goal": goal, "met": met}


class Run:
    """One benchmark's run: times it, notes the load, writes its JSON."""

    def __init__(self, name: str, *, smoke: bool, params: dict[str, Any]) -> None:
        self.name, self.smoke, self.params = name, smoke, params
        self.started = datetime.datetime.now(datetime.UTC)
        self.load_before = load_average()
        self.measurements: dict[str, Any] = {}
        self.targets: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def path(self) -> Path:
        folder = RESULTS / "smoke" if self.smoke else RESULTS
        return folder / f"{self.name}.json"

    def write(self) -> Path:
        if self.smoke:
            # A few seconds on a handful of rows: the numbers say nothing about the targets.
            self.targets = [{**t, "met": None} for t in self.targets]
        data = {
            "schema": SCHEMA_VERSION,
            "benchmark": self.name,
            "smoke": self.smoke,
            "started_at": self.started.isoformat(timespec="seconds"),
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "load_average": {"before": self.load_before, "after": load_average()},
            "params": self.params,
            "measurements": self.measurements,
            "targets": self.targets,
            "notes": self.notes,
        }
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        print(f"{self.name}: wrote {path.relative_to(ROOT)}")
        for t in self.targets:
            verdict = {True: "met", False: "BELOW TARGET", None: "(smoke run: not judged)"}[t["met"]]
            print(f"  {t['name']}: {t['value']} {t['unit']} (target {t['goal']}) {verdict}")
        return path
