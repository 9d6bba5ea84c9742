"""Schemathesis fuzzes every operation of /api/schema/ with a full-scope key of a real tenant.

For each operation it sends generated requests, valid and invalid, and checks what a client
relies on: no 5xx, and every answer documented (status code, content type, body shape).
The run is bounded and repeatable: a fixed number of examples per operation, derandomized,
and Hypothesis keeps no example database (nothing is written into the repository).

Run alone: ``.venv/bin/pytest -q config/tests/test_fuzz.py`` (README, "Fuzzing the API").
"""

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.services import account_plan_set
from config.wsgi import application
from experiments import services as experiment_services
from pricing import hotpath
from pricing import services as pricing_services
from tenants.tests.factories import MembershipFactory, api_key_for

pytestmark = pytest.mark.django_db

# Per operation: about 20 operations at this count take a little over a minute on 2 cores.
MAX_EXAMPLES = 40
# The sku of the quote's example in the schema, and an experiment on it: the example phase
# quotes a real product under a running experiment.
SKU, EXPERIMENT = "tea", "tea-price"

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Not negative_data_rejection: DRF coerces by design ("1" for true, 0 for "0", a bad ?limit=
# falls back to the default page size), which that check reports as accepted invalid input.


@pytest.fixture
def seeded(db, django_capture_on_commit_callbacks):
    """A tenant on a plan without rate limit or quota (or the fuzzer would only meet 429s),
    with a product under a running experiment and a key holding every scope."""
    membership = MembershipFactory()
    tenant = membership.tenant
    with django_capture_on_commit_callbacks(execute=True):
        account_plan_set(tenant=tenant, plan_code="enterprise")
        product = pricing_services.product_create(
            tenant=tenant, sku=SKU, name="Tea", currency="EUR", base_price="10.00"
        )
        experiment = experiment_services.experiment_create(
            tenant=tenant,
            product=product,
            key=EXPERIMENT,
            name="Tea price",
            variants=[
                {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
                {"key": "higher", "price": "12.00", "weight": "0.5"},
            ],
        )
        experiment_services.experiment_start(experiment=experiment)
    _, secret = api_key_for(tenant)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def _connection_kept():
    """The test's database connection outlives each request, as under Django's test client:
    the WSGI handler would otherwise close it (and the test's transaction) after every call."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def hot_quotes(monkeypatch, request):
    """Fuzzed quotes must reach the one-round-trip path (pricing.hotpath), not only the
    regular one: it parses and prices on its own, so it is fuzzed in its own right."""
    answered = []
    real = hotpath.quote_priced

    def counting(**kwargs):
        result = real(**kwargs)
        if isinstance(result, hotpath.Priced):
            answered.append(result)
        return result

    monkeypatch.setattr(hotpath, "quote_priced", counting)
    yield answered
    # Without Redis (the embedded mode) there is no hot path to reach.
    if "POST /api/v1/quote/" in request.node.name and django_settings.REDIS_URL:
        assert answered, "no fuzzed quote was answered by the hot path"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, seeded, hot_quotes, _connection_kept):
    case.call_and_validate(headers=seeded, checks=CHECKS)
