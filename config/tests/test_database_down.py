"""PostgreSQL down: 503 database_unavailable, never a stack trace, and nothing half-written.

The outage is real: the connection is cut by the server (``pg_terminate_backend`` from a
second connection, at the moment a chosen statement is about to run) or pointed at a port
where nothing listens. These tests own their transactions (``transaction=True``), since a
cut connection takes the test's own transaction with it.
"""

import contextlib

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.views import is_database_unavailable
from pricing.models import PriceChange, PricePoint, Product

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="cuts a PostgreSQL connection"),
]


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@contextlib.contextmanager
def cut_before(fragment: str):
    """Have the server end this connection just before the first statement containing ``fragment``."""
    cut = []

    def wrapper(execute, sql, params, many, context):
        if not cut and fragment in sql:
            cut.append(sql)
            _terminate(context["connection"].connection.info.backend_pid)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield cut


@contextlib.contextmanager
def database_at_dead_port():
    """Every new connection goes to a port where nothing listens."""
    connection.close()
    port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


def test_a_write_cut_off_midway_answers_503_and_leaves_nothing(alice):
    api = APIClient(raise_request_exception=False)
    body = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}
    with cut_before('INSERT INTO "pricing_pricepoint"') as cut:
        response = api.post("/api/v1/products/", body, format="json", **alice.auth)
    assert cut, "the product's price history was never written"
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "code": "database_unavailable",
        "message": "The database cannot be reached; nothing was saved. Try again shortly.",
        "details": None,
    }
    assert response["Retry-After"] == "30"
    # The product row was inserted before the cut; its transaction took it back.
    assert not Product.objects.unscoped().exists()
    assert not PricePoint.objects.unscoped().exists() and not PriceChange.objects.unscoped().exists()
    # And the next request, on a fresh connection, works.
    assert api.post("/api/v1/products/", body, format="json", **alice.auth).status_code == 201


def test_the_api_answers_503_json_when_the_database_cannot_be_reached(alice):
    api = APIClient(raise_request_exception=False)
    with database_at_dead_port():
        response = api.get("/api/v1/products/", **alice.auth)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_a_page_answers_a_plain_503_page_when_the_database_cannot_be_reached(client, alice):
    client.raise_request_exception = False
    client.force_login(alice.user)
    with database_at_dead_port():
        response = client.get("/")
    assert response.status_code == 503
    assert "Pricelab is briefly unavailable" in response.text
    assert "Traceback" not in response.text and "OperationalError" not in response.text


def test_only_connection_failures_are_outages():
    from django.db import IntegrityError, InterfaceError, OperationalError

    def wrapped(django_exc, cause):
        try:
            raise django_exc from cause
        except Exception as exc:
            return exc

    assert is_database_unavailable(InterfaceError("connection already closed"))
    assert is_database_unavailable(wrapped(OperationalError("refused"), psycopg.OperationalError("refused")))
    assert is_database_unavailable(
        wrapped(OperationalError("terminated"), psycopg.errors.AdminShutdown("terminating connection"))
    )
    assert not is_database_unavailable(
        wrapped(OperationalError("deadlock"), psycopg.errors.DeadlockDetected("deadlock detected"))
    )
    assert not is_database_unavailable(IntegrityError("duplicate key"))
