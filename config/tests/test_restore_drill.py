"""The restore drill (deploy/restore_drill.py, `make restore-drill`) against the test database.

The tests commit their rows (transactional tests): pg_dump runs in another session and
sees only committed data.
"""

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from billing.models import Subscription
from config.tests.test_deploy import make_recipe
from experiments import services as experiment_services
from experiments.ingest import events_ingest
from pricing import services as pricing_services
from pricing.models import PricePoint

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.USING_POSTGRES, reason="the drill is for PostgreSQL (set DATABASE_URL)"),
    pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed"),
]


def _load_drill():
    spec = importlib.util.spec_from_file_location("restore_drill", ROOT / "deploy" / "restore_drill.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _test_database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _make_restore_drill(*args: str) -> subprocess.CompletedProcess:
    """Run what `make restore-drill` runs, against the test database."""
    recipe = make_recipe("restore-drill").replace("$(BIN)/python", sys.executable)
    command = shlex.split(recipe.replace("$(DRILL_ARGS)", "")) + list(args)
    env = {**os.environ, "DATABASE_URL": _test_database_url()}
    return subprocess.run(  # noqa: S603
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _row(report: str, table: str) -> list[str]:
    """The counts the report prints for a table: source, restored (and MISMATCH)."""
    line = next(line for line in report.splitlines() if line.split()[:1] == [table])
    return line.split()[1:]


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        pattern = f"{connection.settings_dict['NAME']}_drill_%"
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def shop(alice):
    """A tenant with a product, a running experiment, exposures, conversions and a subscription."""
    product = pricing_services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )
    pricing_services.price_change(product=product, price="11.00", source=PricePoint.Source.MANUAL)
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant,
        product=product,
        key="tea-price",
        name="Tea price",
        variants=[
            {"key": "control", "price": "11.00", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "13.00", "weight": "0.5"},
        ],
    )
    experiment_services.experiment_start(experiment=experiment)
    events = [{"type": "exposure", "visitor_id": f"v{i}", "experiment": "tea-price"} for i in range(30)]
    events += [
        {
            "type": "conversion",
            "visitor_id": f"v{i}",
            "product": "tea",
            "revenue": "11.00",
            "idempotency_key": f"o{i}",
        }
        for i in range(0, 30, 3)
    ]
    result = events_ingest(tenant_id=alice.tenant.pk, events=events)
    assert result.accepted == 40
    Subscription.objects.create(
        tenant=alice.tenant, stripe_id="sub_drill", stripe_customer_id="cus_drill", status="active"
    )
    return alice


def test_the_drill_restores_every_row_and_passes(shop):
    result = _make_restore_drill()

    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    assert "PASS:" in report
    assert "migrations: up to date" in report
    assert _row(report, "experiments_exposure") == ["30", "30"]
    assert _row(report, "experiments_conversion") == ["10", "10"]
    assert _row(report, "billing_subscription") == ["1", "1"]
    assert _scratch_databases() == []


def test_the_drill_fails_when_the_restored_copy_lost_rows(shop):
    result = _make_restore_drill("--truncate-in-restore", "experiments_conversion")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: row counts differ in experiments_conversion." in result.stdout
    assert _row(result.stdout, "experiments_conversion") == ["10", "0", "MISMATCH"]
    assert _scratch_databases() == [], "the scratch copy is dropped after a failure too"


def test_the_drill_cannot_run_without_a_database_and_says_so():
    env = {**os.environ, "DATABASE_URL": _test_database_url() + "_does_not_exist"}
    command = [sys.executable, "deploy/restore_drill.py"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 2
    assert "could not run" in result.stderr


def test_credentials_reach_the_tools_through_the_environment_not_the_command_line():
    drill = _load_drill()
    server = drill.Server.from_url("postgres://app:s3cr%40t@db.internal:6432/pricelab?sslmode=require")

    assert server.environ()["PGPASSWORD"] == "s3cr@t"
    assert server.environ()["PGSSLMODE"] == "require"
    scratch = server.database("pricelab_drill_1")
    assert scratch.environ()["PGDATABASE"] == "pricelab_drill_1"
    assert scratch.url == "postgres://app:s3cr%40t@db.internal:6432/pricelab_drill_1?sslmode=require"
    with pytest.raises(drill.DrillError, match="unsupported parameter"):
        drill.Server.from_url("postgres://app@db/pricelab?options=-c%20x")
