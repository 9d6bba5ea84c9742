"""Benchmark 2, ingestion: POST /api/v1/events/ in batches of 1,000 against a raw COPY.

Each batch is what an integrator's server sends after a busy second: 500 exposures of new
visitors to a running experiment and 500 purchases by the same visitors, each with revenue,
an idempotency key and a timestamp. The API validates, attributes, deduplicates and stores
them through the ``web`` server of docker-compose.yml; the baseline writes the very rows
the API stores (same tables, same indexes) with psycopg's COPY, one COPY per batch and
table, as fast as PostgreSQL takes them. Both run with the same number of concurrent
senders, in alternating rounds, so that both see the same noise.

Run: ``python -m bench.ingest`` (``--smoke`` for a few seconds).
"""

import asyncio
import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from statistics import median

import uvloop

from bench import common, load

TARGET_RATIO = 0.25
BATCH = 1000  # the API's maximum
FULL = {"rounds": 3, "batches_per_round": 60, "senders": 4}
SMOKE = {"rounds": 1, "batches_per_round": 2, "senders": 2}
EVENTS_PATH = "/api/v1/events/"


def _batch(tag: str, experiment: str, start: datetime) -> list[dict]:
    """500 exposures of new visitors and their 500 purchases."""
    half = BATCH // 2
    events = []
    for i in range(half):
        at = (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
        events.append(
            {"type": "exposure", "visitor_id": f"{tag}-{i}", "experiment": experiment, "timestamp": at}
        )
    for i in range(half):
        at = (start + timedelta(seconds=1, milliseconds=i)).isoformat().replace("+00:00", "Z")
        events.append(
            {
                "type": "conversion",
                "visitor_id": f"{tag}-{i}",
                "experiment": experiment,
                "revenue": "12.00",
                "idempotency_key": f"order-{tag}-{i}",
                "timestamp": at,
            }
        )
    return events


async def _post_all(port: int, bodies: list[bytes], headers: dict[str, str], senders: int) -> list[dict]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    answers: list[dict] = []

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                writer.write(load.http_request("POST", EVENTS_PATH, body, headers))
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                status = int(head.split(b" ", 2)[1])
                answer = json.loads(await reader.readexactly(length))
                answers.append({"status": status, **answer})
        finally:
            writer.close()

    await asyncio.gather(*(sender() for _ in range(senders)))
    return answers


def _api_round(port: int, batches: list[list[dict]], secret: str, senders: int) -> tuple[float, list[dict]]:
    bodies = [json.dumps({"events": events}).encode() for events in batches]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    started = time.perf_counter()
    answers = uvloop.run(_post_all(port, bodies, headers, senders))
    return time.perf_counter() - started, answers


def _rows(batch: list[dict], ctx: dict) -> tuple[list[tuple], list[tuple]]:
    """The rows the API stores for a batch, worked out as the API does (same assignment)."""
    from experiments.assignment import assign

    now = datetime.now(UTC)
    exposures, conversions = [], []
    for event in batch:
        at = datetime.fromisoformat(event["timestamp"])
        if event["type"] == "exposure":
            variation = assign(
                visitor_id=event["visitor_id"], seed=ctx["seed"], weights=ctx["weights"]
            ).variation
            exposures.append(
                (
                    ctx["tenant"],
                    ctx["experiment"],
                    ctx["phase"],
                    ctx["variants"][variation],
                    event["visitor_id"],
                    at,
                )
            )
        else:
            conversions.append(
                (
                    ctx["tenant"], ctx["experiment"], ctx["product"], ctx["phase"], event["visitor_id"],
                    Decimal(event["revenue"]), event["idempotency_key"], at, now,
                )
            )  # fmt: skip
    return exposures, conversions


def _copy_round(batches: list[list[dict]], ctx: dict, senders: int) -> float:
    """COPY each batch's rows, in its own transaction, from ``senders`` connections at once."""
    import psycopg

    prepared = [_rows(batch, ctx) for batch in batches]  # not timed: the API's parsing is its own cost
    lock = threading.Lock()

    def worker() -> None:
        with psycopg.connect(common.database_url()) as conn:
            while True:
                with lock:
                    if not prepared:
                        return
                    exposures, conversions = prepared.pop()
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(
                        "COPY experiments_exposure (tenant_id, experiment_id, phase, variant_id, visitor_id,"
                        " exposed_at) FROM STDIN"
                    ) as copy:
                        for row in exposures:
                            copy.write_row(row)
                    with cur.copy(
                        "COPY experiments_conversion (tenant_id, experiment_id, product_id, phase,"
                        " visitor_id, revenue, idempotency_key, occurred_at, received_at) FROM STDIN"
                    ) as copy:
                        for row in conversions:
                            copy.write_row(row)

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    smoke, size = common.arguments(__doc__.splitlines()[0], FULL, SMOKE)
    common.database_prepare()
    common.redis_flush()
    common.django_setup()
    from django.db import connections

    from bench import data
    from experiments.models import Experiment, Variant

    bench = data.tenant_create(scopes=("read", "write"))
    experiment = Experiment.objects.for_tenant(bench.tenant_id).get(key=bench.experiment_keys[0])
    variants = list(Variant.objects.for_tenant(bench.tenant_id).filter(experiment=experiment, active=True))
    ctx = {
        "tenant": bench.tenant_id,
        "experiment": experiment.pk,
        "product": experiment.product_id,
        "phase": experiment.phase,
        "seed": experiment.seed,
        "weights": [float(v.weight) for v in variants],
        "variants": [v.pk for v in variants],
    }
    connections.close_all()
    run = common.Run(
        "ingest", smoke=smoke, params={**size, "batch": BATCH, "mix": "500 exposures + 500 purchases"}
    )
    port = common.free_port()
    command = common.compose_command("web", port=port)
    run.params["server"] = common.shown(command, port)
    token = secrets.token_hex(3)
    start = datetime.now(UTC) - timedelta(hours=1)
    api_rates, copy_rates, rejected, statuses = [], [], 0, {}
    with common.Server(command, port, ready_path="/health/live"):
        warm = [_batch(f"warm-{token}-{i}", experiment.key, start) for i in range(size["senders"])]
        _api_round(port, warm, bench.secret, size["senders"])
        for r in range(size["rounds"]):
            batches = [
                _batch(f"api-{token}-{r}-{i}", experiment.key, start)
                for i in range(size["batches_per_round"])
            ]
            seconds, answers = _api_round(port, batches, bench.secret, size["senders"])
            for answer in answers:
                statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
                rejected += answer.get("rejected", 0)
            accepted = sum(answer.get("accepted", 0) for answer in answers)
            api_rates.append(accepted / seconds)
            batches = [
                _batch(f"copy-{token}-{r}-{i}", experiment.key, start)
                for i in range(size["batches_per_round"])
            ]
            copy_rates.append(len(batches) * BATCH / _copy_round(batches, ctx, size["senders"]))
    api_rate, copy_rate = median(api_rates), median(copy_rates)
    ratio = api_rate / copy_rate if copy_rate else 0.0
    all_stored = statuses == {200: size["rounds"] * size["batches_per_round"]} and rejected == 0
    run.measurements = {
        "api_events_per_second": round(api_rate),
        "api_rounds": [round(x) for x in api_rates],
        "copy_rows_per_second": round(copy_rate),
        "copy_rounds": [round(x) for x in copy_rates],
        "ratio": round(ratio, 3),
        "statuses": {str(k): v for k, v in statuses.items()},
        "rejected_events": rejected,
        "all_events_stored": all_stored,
    }
    run.targets = [
        common.target(
            "Event ingestion vs raw COPY", value=round(ratio * 100, 1), unit="%", goal="≥ 25 %",
            met=ratio >= TARGET_RATIO and all_stored,
        )
    ]  # fmt: skip
    run.write()


if __name__ == "__main__":
    main()
