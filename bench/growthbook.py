"""Benchmark 5, against a self-hosted GrowthBook: what the issue leaves open.

Someone choosing between Pricelab and GrowthBook asks: will my visitors see the same
variants if I move (assignment agreement with the ``growthbook`` Python SDK over random
visitor ids, emoji included, and several experiment shapes); what does an assignment
cost (Pricelab's ``assign`` against the SDK's ``run``, in-process); and when I change a
price, how soon do quotes show it (price edits through the API, each followed at once by
quotes on fresh connections, so both workers of the ``web`` server answer).

Run: ``python -m bench.growthbook`` (``--smoke`` for a few seconds).
"""

import json
import random
import time
from http.client import HTTPConnection

from bench import common

FULL = {"visitors": 20_000, "edits": 20, "timing_rounds": 5}
SMOKE = {"visitors": 300, "edits": 2, "timing_rounds": 1}
_ALPHABETS = ("abcdefghijklmnopqrstuvwxyz0123456789-_", "ÆØÅæøåçéèüßñ", "价格测试", "😀🎉💸🛒👩‍💻")
SHAPES = [  # (weights, coverage)
    ([0.5, 0.5], 1.0),
    ([0.2, 0.3, 0.5], 1.0),
    ([0.5, 0.5], 0.4),
    ([0.1, 0.1, 0.1, 0.7], 0.9),
]


def _visitor(rng: random.Random) -> str:
    alphabet = rng.choice(_ALPHABETS) if rng.random() < 0.3 else _ALPHABETS[0]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(6, 36)))


def _agreement(visitors: list[str]) -> tuple[float, float, float]:
    """Share of (visitor, shape) pairs on which both agree, and µs per assignment for each."""
    from growthbook import Experiment, GrowthBook

    from experiments.assignment import assign

    agree = total = 0
    ours_seconds = theirs_seconds = 0.0
    for index, (weights, coverage) in enumerate(SHAPES):
        key = f"price-test-{index}"
        experiment = Experiment(
            key=key,
            variations=list(range(len(weights))),
            weights=weights,
            coverage=coverage,
            seed=key,
            hashVersion=2,
        )
        started = time.perf_counter()
        ours = [
            assign(visitor_id=v, seed=key, weights=weights, coverage=coverage).variation for v in visitors
        ]
        ours_seconds += time.perf_counter() - started
        started = time.perf_counter()
        theirs = []
        for visitor in visitors:
            result = GrowthBook(attributes={"id": visitor}).run(experiment)
            theirs.append(result.variationId if result.inExperiment else -1)
        theirs_seconds += time.perf_counter() - started
        agree += sum(a == b for a, b in zip(ours, theirs, strict=True))
        total += len(visitors)
    return agree / total, ours_seconds / total * 1e6, theirs_seconds / total * 1e6


def _request(port: int, method: str, path: str, secret: str, body: dict | None = None) -> dict:
    http = HTTPConnection("127.0.0.1", port, timeout=30)  # a new connection: either worker may answer
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    http.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = http.getresponse()
    answer = json.loads(response.read())
    http.close()
    assert response.status == 200, answer
    return answer


def main() -> None:
    smoke, size = common.arguments(__doc__.splitlines()[0], FULL, SMOKE)
    common.database_prepare()
    common.redis_flush()
    common.django_setup()
    from django.db import connections

    from bench import data

    run = common.Run("growthbook", smoke=smoke, params={**size, "experiments": len(SHAPES)})
    rng = random.Random(7)
    visitors = [_visitor(rng) for _ in range(size["visitors"])]
    rounds = [_agreement(visitors) for _ in range(size["timing_rounds"])]
    agreement = min(r[0] for r in rounds)
    ours_us, theirs_us = min(r[1] for r in rounds), min(r[2] for r in rounds)

    bench = data.tenant_create(experiments=0, scopes=("read", "write"))
    sku = bench.skus[0]
    connections.close_all()
    port = common.free_port()
    command = common.compose_command("web", port=port)
    run.params["server"] = common.shown(command, port)
    stale = quotes = 0
    with common.Server(command, port, ready_path="/health/live"):
        for warm in range(4):  # both workers hold the config before the first edit
            _request(
                port, "POST", "/api/v1/quote/", bench.secret, {"visitor_id": f"w{warm}", "products": [sku]}
            )
        for edit in range(size["edits"]):
            price = f"{20 + edit}.00"
            _request(port, "PATCH", f"/api/v1/products/{sku}/", bench.secret, {"base_price": price})
            for attempt in range(4):
                answer = _request(
                    port,
                    "POST",
                    "/api/v1/quote/",
                    bench.secret,
                    {"visitor_id": f"e{edit}-{attempt}", "products": [sku]},
                )
                quotes += 1
                stale += answer["items"][0]["price"] != price
    run.measurements = {
        "agreement": agreement,
        "pricelab_us": round(ours_us, 2),
        "growthbook_us": round(theirs_us, 2),
        "stale_quotes": stale,
        "quotes_after_edits": quotes,
    }
    run.targets = [
        common.target("Assignment agrees with the GrowthBook SDK", value=round(agreement * 100, 2), unit="%",
                      goal="100 %", met=agreement == 1.0),
        common.target("Stale quotes right after a price edit", value=stale, unit="", goal="0",
                      met=stale == 0),
    ]  # fmt: skip
    run.write()


if __name__ == "__main__":
    main()
