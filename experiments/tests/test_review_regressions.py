"""Defects a review found, each pinned by a test."""

import json

import pytest
from django.conf import settings
from django.utils import timezone

from experiments import exposures, services
from experiments.models import Conversion, Experiment, Exposure, Variant
from experiments.tests.conftest import VARIANTS

pytestmark = pytest.mark.django_db


def quote(api, party, visitor, sku="tea"):
    return api.post("/api/v1/quote/", {"visitor_id": visitor, "products": [sku]}, **party.auth).json()[
        "items"
    ][0]


def test_a_new_phase_with_new_variants_keeps_earlier_exposures_and_the_buffer_flowing(
    api, alice, charlie, experiment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.experiment_start(experiment=experiment)
    quote(api, alice, "early-bird")
    exposures.flush()
    assert quote(api, alice, "buffered")["experiment"] == "tea-price"  # still in the buffer
    changed = [VARIANTS[0], {"key": "much-higher", "price": "15.00", "weight": "0.5"}]
    with django_capture_on_commit_callbacks(execute=True):
        services.experiment_update(experiment=experiment, variants=changed, new_phase_reason="bolder")
    exposures.flush()  # must not fail on the retired variant
    rows = Exposure.objects.for_tenant(alice.tenant).filter(experiment=experiment)
    assert {(r.visitor_id, r.phase) for r in rows} == {("early-bird", 1), ("buffered", 1)}
    keys = {v.key: v.active for v in Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment)}
    assert keys == {"control": True, "higher": False, "much-higher": True}
    assert quote(api, alice, "early-bird")["variant"] in ("control", "much-higher")
    results = api.get("/api/v1/experiments/tea-price/results/", **alice.auth)
    assert results.status_code == 200
    assert [v["key"] for v in results.json()["variants"]] == ["control", "much-higher"]


@pytest.mark.parametrize("size", [10**20, 2**31])
def test_a_huge_target_sample_size_is_400(api, alice, product, size):
    design = {"key": "x", "name": "x", "product": "tea", "variants": VARIANTS, "target_sample_size": size}
    response = api.post("/api/v1/experiments/", design, **alice.auth)
    assert response.status_code == 400 and "target_sample_size" in response.json()["details"]


def test_a_patch_with_an_incomplete_variant_is_400(api, alice, experiment):
    response = api.patch("/api/v1/experiments/tea-price/", {"variants": [{"price": "1.00"}]}, **alice.auth)
    assert response.status_code == 400 and "variants" in response.json()["details"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "2024-02-30T00:00:00"),
        ("timestamp", "2024-01-01T00:00:00+99:00"),
        ("timestamp", "0001-01-01T00:00:00+14:00"),
        ("visitor_id", "nul\x00byte"),
        ("visitor_id", "lone\ud800surrogate"),
        ("idempotency_key", "nul\x00key"),
        ("experiment", "tea\x00price"),
    ],
)
def test_bad_event_fields_reject_the_item_and_keep_the_batch(api, alice, experiment, field, value):
    services.experiment_start(experiment=experiment)
    good = {"type": "conversion", "visitor_id": "ok", "experiment": "tea-price", "idempotency_key": "good"}
    body = {"events": [{**good, "idempotency_key": "bad", field: value}, good]}
    # Raw JSON with \\u escapes, as a client would send a lone surrogate.
    response = api.generic(
        "POST", "/api/v1/events/", json.dumps(body), content_type="application/json", **alice.auth
    )
    assert response.status_code == 200
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["index"] == 0


def test_an_idempotency_key_that_looks_like_an_index_is_its_own_key(api, alice, experiment):
    services.experiment_start(experiment=experiment)
    events = [
        {"type": "conversion", "visitor_id": "a", "experiment": "tea-price"},
        {"type": "conversion", "visitor_id": "b", "experiment": "tea-price", "idempotency_key": "#0"},
    ]
    assert api.post("/api/v1/events/", {"events": events}, **alice.auth).json()["accepted"] == 2


def test_a_nul_in_a_sku_path_is_404(api, alice):
    for url in ("/api/v1/products/%00/", "/api/v1/products/%00/prices/"):
        assert api.get(url, **alice.auth).status_code == 404


def test_a_conversion_before_the_exposure_does_not_count(api, alice, experiment):
    services.experiment_start(experiment=experiment)
    experiment.refresh_from_db()
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).first()
    Exposure.objects.create(
        tenant=alice.tenant, experiment=experiment, phase=1, variant=variant, visitor_id="v"
    )
    earlier = timezone.now() - timezone.timedelta(hours=1)
    Conversion.objects.create(
        tenant=alice.tenant, experiment=experiment, phase=1, visitor_id="v", revenue=10, occurred_at=earlier
    )
    results = api.get("/api/v1/experiments/tea-price/results/", **alice.auth).json()
    assert sum(v["conversions"] for v in results["variants"]) == 0


def test_a_conversion_by_sku_goes_only_to_a_running_experiment(api, alice, experiment):
    services.experiment_start(experiment=experiment)
    services.experiment_pause(experiment=experiment)
    event = {"type": "conversion", "visitor_id": "v", "product": "tea", "revenue": "10.00"}
    assert api.post("/api/v1/events/", {"events": [event]}, **alice.auth).json()["accepted"] == 1
    assert Conversion.objects.for_tenant(alice.tenant).get().experiment_id is None


def test_the_price_under_test_cannot_be_edited_until_the_test_ends(api, alice, experiment):
    services.experiment_start(experiment=experiment)
    response = api.patch("/api/v1/products/tea/", {"base_price": "11.00"}, **alice.auth)
    assert response.status_code == 409
    assert response.json()["code"] == "experiment_running"
    services.experiment_complete(experiment=experiment)
    assert api.patch("/api/v1/products/tea/", {"base_price": "11.00"}, **alice.auth).status_code == 200
    assert Experiment.objects.for_tenant(alice.tenant).get().status == "completed"


def test_a_flush_that_loses_its_lock_trims_nothing_and_loses_nothing(alice, experiment, monkeypatch):
    if not settings.REDIS_URL:
        pytest.skip("the shared buffer and its lock live in Redis")
    services.experiment_start(experiment=experiment)
    experiment.refresh_from_db()
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).first()
    now = timezone.now()
    lines = [
        exposures.encode(tenant_id=alice.tenant.pk, experiment_id=experiment.pk, phase=1,
                         variant_id=variant.pk, visitor_id=f"v{i}", at=now)
        for i in range(4)
    ]  # fmt: skip
    exposures.record(lines)
    monkeypatch.setattr(exposures, "FLUSH_BATCH", 2)
    real_insert = exposures._insert

    def slow_insert(batch):
        exposures._redis().delete(f"{settings.EXPOSURE_BUFFER_KEY}:lock")  # the lease runs out
        return real_insert(batch)

    monkeypatch.setattr(exposures, "_insert", slow_insert)
    exposures.flush()
    assert exposures.pending() == 4  # nothing trimmed without the lock
    monkeypatch.setattr(exposures, "_insert", real_insert)
    exposures.flush()
    assert exposures.pending() == 0
    assert Exposure.objects.for_tenant(alice.tenant).count() == 4


@pytest.mark.parametrize(
    "body",
    [
        {"visitor_id": "nul\x00", "products": ["tea"]},
        {"visitor_id": "lone\ud800", "products": ["tea"]},
        {"visitor_id": "v", "products": ["te\x00a"]},
    ],
)
def test_a_quote_refuses_strings_the_database_cannot_store(api, alice, experiment, body):
    services.experiment_start(experiment=experiment)
    response = api.generic(
        "POST", "/api/v1/quote/", json.dumps(body), content_type="application/json", **alice.auth
    )
    assert response.status_code == 400
    assert exposures.pending() == 0


def test_a_variant_retired_in_an_earlier_phase_cannot_win(alice, product, experiment):
    from django.core.exceptions import ValidationError

    services.experiment_start(experiment=experiment)
    changed = [VARIANTS[0], {"key": "other", "price": "13.00", "weight": "0.5"}]
    services.experiment_update(experiment=experiment, variants=changed, new_phase_reason="swap")
    with pytest.raises(ValidationError, match="No variant 'higher'"):
        services.experiment_complete(experiment=experiment, winner_key="higher")


def test_a_null_event_is_rejected_alone(api, alice, experiment):
    services.experiment_start(experiment=experiment)
    good = {"type": "conversion", "visitor_id": "v", "experiment": "tea-price"}
    body = api.post("/api/v1/events/", {"events": [None, good]}, **alice.auth).json()
    assert (body["accepted"], body["rejected"], body["errors"][0]["index"]) == (1, 1, 0)


@pytest.mark.parametrize(
    ("url", "change"),
    [
        ("/api/v1/products/tea/", {"currency": "USD"}),
        ("/api/v1/products/tea/", {"sku": "other"}),
        ("/api/v1/experiments/tea-price/", {"product": "other"}),
    ],
)
def test_a_patch_of_a_field_that_cannot_change_is_400_not_ignored(api, alice, experiment, url, change):
    response = api.patch(url, change, **alice.auth)
    assert response.status_code == 400
    assert list(change) == list(response.json()["details"])


def test_an_oversized_api_body_gets_the_json_error_shape(api, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.generic(
        "POST", "/api/v1/events/", '{"events": [' + ",".join(["{}"] * 600) + "]}",
        content_type="application/json", **alice.auth,
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
