"""Benchmark 4, scale: the usage rollup and experiment results at 1M and 10M rows.

In a database of its own (``<bench database>_scale``, recreated on every run), the script
loads generated rows server-side and times:

- the monthly usage rollup (``billing.services.usage_rollup``) over 1M, then 10M
  ``UsageDaily`` rows: 2,000, then 20,000 tenants with two kinds of units over 250 days;
- the results of an experiment with 1M visitors, and of one with 10M: the exact
  computation (``experiments.selectors.experiment_results``), then the API's answer
  (``GET /api/v1/experiments/<key>/results/`` through the ``web`` server of
  docker-compose.yml), which for a phase this large is the snapshot the beat task keeps
  fresh. Five visitors in a hundred buy, and one purchase in twenty comes from a visitor
  who was never exposed.

"No worse than linear" means that ten times the rows cost at most twelve times the time
(ten, plus room for the noise of a shared machine). Each time is the median of a few
runs on a warm database.

Run: ``python -m bench.scale`` (``--smoke`` for a few seconds).
"""

import os
import time
from http.client import HTTPConnection
from statistics import median
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import common

TARGET_RESULTS_MS = 200.0
LINEAR_SLACK = 1.2  # 10x the rows may cost 12x the time
USAGE_DAYS = 250
FULL = {"small": 1_000_000, "large": 10_000_000, "repeats": 3}
SMOKE = {"small": 1_000, "large": 10_000, "repeats": 1}
# Rows per INSERT statement while loading: bounds each transaction's memory.
LOAD_CHUNK = 1_000_000


def _scale_database_url() -> str:
    url = urlsplit(common.database_url())
    return urlunsplit(url._replace(path=url.path + "_scale"))


def _recreate(url: str, template: str) -> bool:
    """A fresh, empty database at ``url``: a copy of the migrated benchmark database when
    PostgreSQL can make one (faster than migrating); else an empty one. True if copied."""
    import psycopg

    parts = urlsplit(url)
    name, source = parts.path.lstrip("/"), urlsplit(template).path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        except psycopg.Error:  # someone is connected to the template
            conn.execute(f'CREATE DATABASE "{name}"')
            return False
    with psycopg.connect(url, autocommit=True) as conn:
        # The other benchmarks' tenants and everything they own: only plans and the like stay.
        conn.execute("TRUNCATE tenants_tenant CASCADE")
    return True


def _execute(sql: str, params: list[Any] | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _fast_load(on: bool) -> bool:
    """Skip foreign-key triggers while loading (the rows are valid by construction) when
    the role may; only the load is faster, nothing that is measured."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET session_replication_role = {'replica' if on else 'DEFAULT'}")
        return True
    except DatabaseError:
        return False


def _load_usage(first_tenant: int, tenants: int) -> None:
    """``tenants`` new tenants, each with two kinds of units on each of USAGE_DAYS days."""
    _execute(
        "INSERT INTO tenants_tenant (name, slug, status, created_at, price_version, allowed_origins) "
        "SELECT 'Scale ' || i, 'scale-' || i, 'active', now(), 0, '[]' FROM generate_series(%s, %s) AS i",
        [first_tenant, first_tenant + tenants - 1],
    )
    per_chunk = max(1, LOAD_CHUNK // (2 * USAGE_DAYS))
    for start in range(first_tenant, first_tenant + tenants, per_chunk):
        end = min(start + per_chunk, first_tenant + tenants) - 1
        _execute(
            "INSERT INTO billing_usagedaily (tenant_id, day, kind, units) "
            "SELECT t.id, (current_date - d)::date, k.kind, 1 + (t.id * 7 + d) %% 500 "
            "FROM tenants_tenant t CROSS JOIN generate_series(0, %s) AS d "
            "CROSS JOIN (VALUES ('quote'), ('event')) AS k(kind) "
            "WHERE t.slug IN (SELECT 'scale-' || i FROM generate_series(%s, %s) AS i)",
            [USAGE_DAYS - 1, start, end],
        )


def _load_experiment(
    tenant_id: int, experiment_id: int, product_id: int, phase: int, variants: list[int], n: int
) -> None:
    """``n`` exposed visitors split between the variants; 5 % of them buy, after their
    exposure; and purchases by never-exposed visitors, a twentieth of the rest."""
    for start in range(0, n, LOAD_CHUNK):
        end = min(start + LOAD_CHUNK, n) - 1
        _execute(
            "INSERT INTO experiments_exposure"
            " (tenant_id, experiment_id, phase, variant_id, visitor_id, exposed_at) "
            "SELECT %s, %s, %s, (%s::bigint[])[1 + i %% %s], 'v' || i, "
            "now() - interval '20 days' + i * interval '1 millisecond' FROM generate_series(%s, %s) AS i",
            [tenant_id, experiment_id, phase, variants, len(variants), start, end],
        )
    buyers = n // 20
    for start in range(0, buyers, LOAD_CHUNK):
        end = min(start + LOAD_CHUNK, buyers) - 1
        # As ingestion stores them: each carries its visitor's exposure (experiments.ingest).
        _execute(
            "INSERT INTO experiments_conversion (tenant_id, experiment_id, product_id, phase, visitor_id,"
            " revenue, idempotency_key, occurred_at, received_at, variant_id, exposed_at) "
            "SELECT c.*, e.variant_id, e.exposed_at FROM ("
            " SELECT %s::bigint AS tenant_id, %s::bigint AS experiment_id, %s::bigint, %s::integer AS phase,"
            " CASE WHEN i %% 20 = 19 THEN 'stranger-' || i ELSE 'v' || (i * 20) END AS visitor_id,"
            " 10 + i %% 7, 'order-' || %s || '-' || i,"
            " now() - interval '20 days' + (i * 20) * interval '1 millisecond' + interval '1 hour', now()"
            " FROM generate_series(%s, %s) AS i) AS c "
            "LEFT JOIN experiments_exposure e ON e.tenant_id = c.tenant_id"
            " AND e.experiment_id = c.experiment_id AND e.phase = c.phase AND e.visitor_id = c.visitor_id",
            [tenant_id, experiment_id, product_id, phase, experiment_id, start, end],
        )


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "billing_usagedaily",
            "experiments_exposure",
            "experiments_conversion",
            "tenants_tenant",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(median(times), 1), result


def _api_results_ms(port: int, key: str, secret: str, repeats: int) -> tuple[float, float, dict]:
    """The first answer (computed, then kept as the snapshot) and the median of the next ones."""
    import json

    def get() -> dict:
        http = HTTPConnection("127.0.0.1", port, timeout=600)
        http.request(
            "GET", f"/api/v1/experiments/{key}/results/", headers={"Authorization": f"Bearer {secret}"}
        )
        response = http.getresponse()
        body = json.loads(response.read())
        http.close()
        assert response.status == 200, body
        return body

    first, _ = _timed(get, 1)
    warm, body = _timed(get, max(repeats, 3))
    return first, warm, body


def main() -> None:
    smoke, size = common.arguments(__doc__.splitlines()[0], FULL, SMOKE)
    common.database_prepare()
    template, scale_url = common.database_url(), _scale_database_url()
    copied = _recreate(scale_url, template)
    os.environ["BENCH_DATABASE_URL"] = scale_url
    if not copied:
        common.database_prepare()
    common.redis_flush()
    common.django_setup()
    from django.db import connections

    from bench import data
    from billing import services as billing_services
    from experiments import selectors
    from experiments.models import Experiment, Variant

    run = common.Run("scale", smoke=smoke, params={**size, "usage_days": USAGE_DAYS})
    bench = data.tenant_create(products=2, experiments=2)
    experiments = [
        Experiment.objects.for_tenant(bench.tenant_id).get(key=key) for key in bench.experiment_keys
    ]
    usage, results = {}, {}
    loaded_tenants = 0
    for label, rows in (("1M", size["small"]), ("10M", size["large"])):
        tenants = rows // (2 * USAGE_DAYS)
        started = time.perf_counter()
        run.params["fast_load"] = _fast_load(True)
        _load_usage(loaded_tenants + 1, tenants - loaded_tenants)
        loaded_tenants = tenants
        experiment = experiments[0 if label == "1M" else 1]
        variants = list(
            Variant.objects.for_tenant(bench.tenant_id)
            .filter(experiment=experiment, active=True)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        _load_experiment(
            bench.tenant_id, experiment.pk, experiment.product_id, experiment.phase, variants, rows
        )
        _fast_load(False)
        _vacuum()
        load_seconds = round(time.perf_counter() - started, 1)
        usage_ms, written = _timed(billing_services.usage_rollup, size["repeats"])
        usage[label] = {
            "rows": rows,
            "tenants": tenants,
            "rollup_ms": usage_ms,
            "monthly_rows_written": written,
        }
        compute_ms, computed = _timed(
            lambda experiment=experiment: selectors.experiment_results(experiment), size["repeats"]
        )
        results[label] = {
            "visitors": sum(v["visitors"] for v in computed["variants"]),
            "conversions": sum(v["conversions"] for v in computed["variants"]),
            "unattributed_conversions": computed["unattributed_conversions"],
            "compute_ms": compute_ms,
            "load_seconds": load_seconds,
        }
    connections.close_all()
    port = common.free_port()
    command = common.compose_command("web", port=port)
    run.params["server"] = common.shown(command, port)
    with common.Server(command, port, ready_path="/health/live"):
        for label, experiment in (("1M", experiments[0]), ("10M", experiments[1])):
            first, warm, body = _api_results_ms(port, experiment.key, bench.secret, size["repeats"])
            results[label].update(api_first_ms=first, api_ms=warm, api_computed_at=body["computed_at"])

    def growth(table: dict, field: str) -> float:
        return round(table["10M"][field] / table["1M"][field], 2) if table["1M"][field] else float("nan")

    run.measurements = {
        "usage_rollup": usage,
        "usage_rollup_growth": growth(usage, "rollup_ms"),
        "results": results,
        "results_compute_growth": growth(results, "compute_ms"),
        "results_api_growth": growth(results, "api_ms"),
        "row_growth": round(size["large"] / size["small"], 2),
    }
    limit = size["large"] / size["small"] * LINEAR_SLACK
    api_1m = results["1M"]["api_ms"]
    run.targets = [
        common.target(
            "Results of a 1M-visitor experiment (API answer)", value=api_1m, unit="ms", goal="< 200 ms",
            met=api_1m < TARGET_RESULTS_MS,
        ),
        common.target(
            "Usage rollup, 1M → 10M rows: time grows", value=run.measurements["usage_rollup_growth"],
            unit="×", goal=f"≤ {limit:g}× (linear)", met=run.measurements["usage_rollup_growth"] <= limit,
        ),
        common.target(
            "Experiment results, 1M → 10M visitors: computation grows",
            value=run.measurements["results_compute_growth"], unit="×", goal=f"≤ {limit:g}× (linear)",
            met=run.measurements["results_compute_growth"] <= limit,
        ),
    ]  # fmt: skip
    run.write()


if __name__ == "__main__":
    main()
