import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiments import exposures, services
from experiments.assignment import assign
from experiments.models import Conversion, Experiment, Exposure, Variant

pytestmark = pytest.mark.django_db

DESIGN = {
    "key": "tea-price",
    "name": "Tea price",
    "product": "tea",
    "hypothesis": "People pay 20 % more for good tea.",
    "variants": [
        {"key": "control", "price": "10.00", "weight": 0.5, "is_control": True},
        {"key": "higher", "price": "12.00", "weight": 0.5},
    ],
}


def expected_variant(visitor: str) -> str:
    return ["control", "higher"][assign(visitor_id=visitor, seed="tea-price", weights=[0.5, 0.5]).variation]


@pytest.fixture
def running(api, alice, product, django_capture_on_commit_callbacks):
    assert api.post("/api/v1/experiments/", DESIGN, **alice.auth).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/experiments/tea-price/start/", **alice.auth)
    assert response.status_code == 200 and response.json()["status"] == "running"
    return Experiment.objects.for_tenant(alice.tenant).get(key="tea-price")


def test_create_and_read_an_experiment(api, alice, product):
    response = api.post("/api/v1/experiments/", DESIGN, **alice.auth)
    assert response.status_code == 201, response.json()
    body = api.get("/api/v1/experiments/tea-price/", **alice.auth).json()
    assert body["product"] == "tea" and body["status"] == "draft" and body["seed"] == "tea-price"
    assert [(v["key"], v["price"], v["weight"]) for v in body["variants"]] == [
        ("control", "10.00", 0.5),
        ("higher", "12.00", 0.5),
    ]
    assert [
        e["key"] for e in api.get("/api/v1/experiments/?status=draft", **alice.auth).json()["results"]
    ] == ["tea-price"]
    assert api.get("/api/v1/experiments/?status=bogus", **alice.auth).status_code == 400


def test_bad_designs_answer_400_with_the_field(api, alice, product):
    bad = {**DESIGN, "variants": [{**DESIGN["variants"][0]}, {**DESIGN["variants"][1], "weight": 0.3}]}
    response = api.post("/api/v1/experiments/", bad, **alice.auth)
    assert response.status_code == 400 and "variants" in response.json()["details"]
    response = api.post("/api/v1/experiments/", {**DESIGN, "product": "nope"}, **alice.auth)
    assert response.status_code == 400 and "product" in response.json()["details"]


def test_an_impossible_step_is_409(api, alice, running):
    response = api.post("/api/v1/experiments/tea-price/archive/", **alice.auth)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_quote_gives_each_visitor_their_variant_price_and_reports_unknown_skus(api, alice, running):
    for visitor in ("ada", "bob", "cleo", "dan"):
        response = api.post(
            "/api/v1/quote/", {"visitor_id": visitor, "products": ["tea", "ghost"]}, **alice.auth
        )
        assert response.status_code == 200
        tea, ghost = response.json()["items"]
        variant = expected_variant(visitor)
        assert tea["variant"] == variant and tea["experiment"] == "tea-price"
        assert tea["price"] == {"control": "10.00", "higher": "12.00"}[variant]
        assert ghost["price"] is None and ghost["error"]["code"] == "unknown_product"
    one = api.get("/api/v1/quote/", {"visitor_id": "ada", "product": "tea"}, **alice.auth).json()
    assert one["items"][0]["variant"] == expected_variant("ada")


def test_a_warm_quote_makes_no_database_query(api, alice, running):
    api.post("/api/v1/quote/", {"visitor_id": "warm-up", "products": ["tea"]}, **alice.auth)
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/quote/", {"visitor_id": "v1", "products": ["tea"]}, **alice.auth)
    assert response.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_exposures_are_buffered_then_counted_once_per_visitor(api, alice, running):
    for _ in range(3):
        api.post("/api/v1/quote/", {"visitor_id": "ada", "products": ["tea"]}, **alice.auth)
    api.post("/api/v1/quote/", {"visitor_id": "bob", "products": ["tea"], "track": False}, **alice.auth)
    exposures.flush()
    rows = Exposure.objects.for_tenant(alice.tenant).filter(experiment=running)
    assert [r.visitor_id for r in rows] == ["ada"]


def test_a_paused_experiment_quotes_the_base_price(api, alice, running, django_capture_on_commit_callbacks):
    api.post("/api/v1/quote/", {"visitor_id": "ada", "products": ["tea"]}, **alice.auth)  # warms
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/experiments/tea-price/pause/", **alice.auth)
    item = api.post("/api/v1/quote/", {"visitor_id": "ada", "products": ["tea"]}, **alice.auth).json()[
        "items"
    ][0]
    assert (item["price"], item["experiment"]) == ("10.00", None)


def test_a_price_edit_is_quoted_at_once(api, alice, product, django_capture_on_commit_callbacks):
    api.post("/api/v1/quote/", {"visitor_id": "ada", "products": ["tea"]}, **alice.auth)  # warms
    with django_capture_on_commit_callbacks(execute=True):
        api.patch("/api/v1/products/tea/", {"base_price": "11.50"}, **alice.auth)
    item = api.post("/api/v1/quote/", {"visitor_id": "ada", "products": ["tea"]}, **alice.auth).json()[
        "items"
    ][0]
    assert item["price"] == "11.50"


def test_events_keep_good_items_of_a_batch_with_bad_ones(api, alice, running):
    batch = [
        {"type": "exposure", "visitor_id": "ada", "experiment": "tea-price"},
        {
            "type": "conversion",
            "visitor_id": "ada",
            "product": "tea",
            "revenue": "12.00",
            "idempotency_key": "o-1",
        },
        {"type": "conversion", "visitor_id": "ada", "experiment": "tea-price", "revenue": "-5"},
        {"type": "purchase", "visitor_id": "ada"},
        "not an object",
        {"type": "conversion", "visitor_id": "bob", "experiment": "nope"},
        {"type": "conversion", "visitor_id": "", "experiment": "tea-price"},
        {
            "type": "conversion",
            "visitor_id": "cleo",
            "experiment": "tea-price",
            "timestamp": "3000-01-01T00:00:00Z",
        },
        {
            "type": "conversion",
            "visitor_id": "ada",
            "product": "tea",
            "revenue": "12.00",
            "idempotency_key": "o-1",
        },
    ]
    response = api.post("/api/v1/events/", {"events": batch}, **alice.auth)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 6)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (2, "invalid_revenue"),
        (3, "invalid_type"),
        (4, "invalid_event"),
        (5, "unknown_experiment"),
        (6, "invalid_visitor_id"),
        (7, "invalid_timestamp"),
    ]
    again = api.post("/api/v1/events/", {"events": batch[:2]}, **alice.auth).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert Conversion.objects.for_tenant(alice.tenant).count() == 1


def test_a_batch_over_the_limit_is_refused_whole(api, alice, running):
    events = [{"type": "exposure", "visitor_id": f"v{i}", "experiment": "tea-price"} for i in range(1001)]
    response = api.post("/api/v1/events/", {"events": events}, **alice.auth)
    assert response.status_code == 400
    assert response.json()["code"] == "batch_too_large"
    assert response.json()["details"] == {"field": "events", "limit": 1000}


def test_results_count_exposed_converters_and_keep_unexposed_apart(api, alice, running):
    visitors = [f"visitor-{i}" for i in range(40)]
    events = [{"type": "exposure", "visitor_id": v, "experiment": "tea-price"} for v in visitors]
    buyers = visitors[:10]
    events += [
        {
            "type": "conversion",
            "visitor_id": v,
            "experiment": "tea-price",
            "revenue": "10.00",
            "idempotency_key": v,
        }
        for v in buyers
    ]
    events.append(
        {"type": "conversion", "visitor_id": "stranger", "experiment": "tea-price", "revenue": "99.00"}
    )
    assert api.post("/api/v1/events/", {"events": events}, **alice.auth).json()["rejected"] == 0
    results = api.get("/api/v1/experiments/tea-price/results/", **alice.auth).json()
    by_key = {v["key"]: v for v in results["variants"]}
    assert sum(v["visitors"] for v in by_key.values()) == 40
    assert sum(v["conversions"] for v in by_key.values()) == 10
    for key, variant in by_key.items():
        mine = [v for v in buyers if expected_variant(v) == key]
        assert variant["conversions"] == len(mine)
        assert variant["revenue"] == f"{10 * len(mine)}.00"
    assert results["unattributed_conversions"] == 1
    assert results["verdict"].startswith("Collecting data")
    assert results["srm"]["mismatch"] is False


def test_results_of_the_reference_experiment_match_the_engine(api, alice, running):
    """500/10,000 against 560/10,000, through the database: GrowthBook's reference numbers."""
    control, higher = [], []
    i = 0
    while len(control) < 10_000 or len(higher) < 10_000:
        visitor = f"r{i}"
        i += 1
        bucket = control if expected_variant(visitor) == "control" else higher
        if len(bucket) < 10_000:
            bucket.append(visitor)
    Exposure.objects.bulk_create(
        Exposure(tenant=alice.tenant, experiment=running, phase=1, variant=variant, visitor_id=v)
        for variant, group in zip(
            Variant.objects.for_tenant(alice.tenant).filter(experiment=running).order_by("position"),
            (control, higher),
            strict=True,
        )
        for v in group
    )
    Conversion.objects.bulk_create(
        Conversion(tenant=alice.tenant, experiment=running, phase=1, visitor_id=v, revenue=10)
        for v in control[:500] + higher[:560]
    )
    results = api.get("/api/v1/experiments/tea-price/results/", **alice.auth).json()
    [comparison] = results["comparisons"]["conversion_rate"]
    assert round(comparison["lift"] * 100, 2) == 12.00
    assert [round(x * 100, 4) for x in comparison["ci"]] == [-1.1456, 25.1456]
    assert round(comparison["p_value"], 4) == 0.0736
    assert round(comparison["chance_to_beat_control"], 4) == 0.9632
    assert "No significant difference" in results["verdict"]


def test_100k_visitors_split_by_the_weights(running):
    from experiments.stats import sample_ratio

    counts = [0, 0, 0]
    for i in range(100_000):
        counts[assign(visitor_id=f"sim-{i}", seed="split", weights=[0.5, 0.3, 0.2]).variation] += 1
    assert not sample_ratio(counts, [0.5, 0.3, 0.2]).mismatch


def test_another_tenants_experiment_is_404(api, alice, charlie, running):
    for response in (
        api.get("/api/v1/experiments/tea-price/", **charlie.auth),
        api.get("/api/v1/experiments/tea-price/results/", **charlie.auth),
        api.post("/api/v1/experiments/tea-price/pause/", **charlie.auth),
        api.patch("/api/v1/experiments/tea-price/", {"name": "mine"}, **charlie.auth),
    ):
        assert response.status_code == 404
    assert api.get("/api/v1/experiments/", **charlie.auth).json()["results"] == []
    item = api.post("/api/v1/quote/", {"visitor_id": "v", "products": ["tea"]}, **charlie.auth).json()[
        "items"
    ][0]
    assert item["error"]["code"] == "unknown_product"
    body = api.post(
        "/api/v1/events/",
        {"events": [{"type": "exposure", "visitor_id": "v", "experiment": "tea-price"}]},
        **charlie.auth,
    ).json()
    assert body["errors"][0]["code"] == "unknown_experiment"
    running.refresh_from_db()
    assert running.status == "running" and running.name == "Tea price"


def test_the_auto_pause_stops_finished_experiments(alice, running):
    from experiments.tasks import experiments_pause_finished

    services.experiment_update(experiment=running, target_sample_size=1)
    for visitor in [f"v{i}" for i in range(20)]:
        Exposure.objects.get_or_create(
            tenant=alice.tenant,
            experiment=running,
            phase=1,
            visitor_id=visitor,
            defaults={
                "variant": Variant.objects.for_tenant(alice.tenant)
                .filter(experiment=running)
                .order_by("position")[int(expected_variant(visitor) == "higher")]
            },
        )
    assert experiments_pause_finished() == 1
    running.refresh_from_db()
    assert running.status == "paused"
