"""Large phases' results are served from a snapshot kept fresh in the background."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from experiments import selectors, services, tasks
from experiments.models import ResultsSnapshot
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(experiment):
    return services.experiment_start(experiment=experiment)


@pytest.fixture
def small_threshold(monkeypatch):
    """Three visitors make a phase 'large' here, so that tests stay small."""
    monkeypatch.setattr(services, "RESULTS_LIVE_MAX_VISITORS", 3)


def expose(api, party, *visitors):
    events = [{"type": "exposure", "visitor_id": v, "experiment": "tea-price"} for v in visitors]
    answer = api.post("/api/v1/events/", {"events": events}, format="json", **party.auth).json()
    assert answer["rejected"] == 0


def visitors(results):
    return sum(v["visitors"] for v in results["variants"])


def results(api, party):
    response = api.get("/api/v1/experiments/tea-price/results/", **party.auth)
    assert response.status_code == 200
    return response.json()


def test_a_small_phase_is_always_computed_on_request(api, alice, running):
    expose(api, alice, "a", "b")
    assert visitors(results(api, alice)) == 2
    expose(api, alice, "c")
    assert visitors(results(api, alice)) == 3
    assert not ResultsSnapshot.objects.for_tenant(alice.tenant).exists()


def test_a_large_phase_is_answered_from_its_snapshot_while_fresh(api, alice, running, small_threshold):
    expose(api, alice, "a", "b", "c")
    first = results(api, alice)
    assert visitors(first) == 3 and first["computed_at"]
    expose(api, alice, "d")
    assert results(api, alice) == first  # served from the snapshot
    ResultsSnapshot.objects.for_tenant(alice.tenant).update(
        computed_at=selectors.parse_computed_at(first) - selectors.RESULTS_MAX_AGE - timedelta(seconds=1)
    )
    assert visitors(results(api, alice)) == 4  # too old: computed afresh


def test_the_results_page_shows_the_same_snapshot_as_the_api(api, client, alice, running, small_threshold):
    expose(api, alice, "a", "b", "c")
    results(api, alice)
    assert tasks.results_refresh_large() == 1  # the beat task keeps the chart beside the results
    expose(api, alice, "d")
    owner = log_in(client, alice.user, alice.tenant)
    poll = owner.get(reverse("experiment_results", args=["tea-price"]), HTTP_HX_REQUEST="true")
    # The page's 5-second poll reads the snapshot the API serves, not a fresh computation,
    # and so does its chart, which agrees with the tables.
    assert re.search(r'id="total-visitors">\s*3<', poll.text)
    assert visitors(results(api, alice)) == 3
    series = poll.context["chart_data"]["series"]
    assert sum(variant["visitors"][-1] for variant in series["variants"]) == 3
    # A snapshot a request stored (or one from before charts were kept) has none.
    ResultsSnapshot.objects.for_tenant(alice.tenant).update(series=None)
    poll = owner.get(reverse("experiment_results", args=["tea-price"]), HTTP_HX_REQUEST="true")
    series = poll.context["chart_data"]["series"]
    assert sum(variant["visitors"][-1] for variant in series["variants"]) == 4  # computed now


def test_the_beat_task_refreshes_running_large_phases(api, alice, running, small_threshold):
    expose(api, alice, "a", "b", "c")
    results(api, alice)
    expose(api, alice, "d", "e")
    assert tasks.results_refresh_large() == 1
    assert visitors(results(api, alice)) == 5


def test_a_snapshot_says_the_experiments_status_now(api, alice, running, small_threshold):
    expose(api, alice, "a", "b", "c")
    assert results(api, alice)["status"] == "running"
    services.experiment_pause(experiment=running)
    assert results(api, alice)["status"] == "paused"
    assert tasks.results_refresh_large() == 0  # paused: nothing left to refresh


def test_a_new_phase_starts_with_live_results(api, alice, running, small_threshold):
    expose(api, alice, "a", "b", "c")
    results(api, alice)
    services.experiment_update(
        experiment=running,
        coverage="0.5",
        new_phase_reason="half the traffic",
    )
    fresh = results(api, alice)
    assert fresh["phase"] == running.phase + 1 and visitors(fresh) == 0


def test_a_chart_computed_for_a_fresh_snapshot_without_one_is_kept_for_the_next_polls(
    api, client, alice, running, small_threshold
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    expose(api, alice, "a", "b", "c")
    results(api, alice)  # a request stores the snapshot, without a chart
    assert ResultsSnapshot.objects.for_tenant(alice.tenant).get().series is None
    owner = log_in(client, alice.user, alice.tenant)
    url = reverse("experiment_results", args=["tea-price"])
    for computes in (True, False):  # the first poll computes the chart, the next one reads it
        with CaptureQueriesContext(connection) as queries:
            poll = owner.get(url, HTTP_HX_REQUEST="true")
        series = poll.context["chart_data"]["series"]
        assert sum(variant["visitors"][-1] for variant in series["variants"]) == 3
        assert any("experiments_exposure" in query["sql"] for query in queries) is computes
