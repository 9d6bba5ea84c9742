import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found.", "details": None}


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_json_in_every_mode(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/v2/whatever")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_post_without_the_trailing_slash_gets_a_hint_not_a_500(client):
    response = client.post("/api/v1/api-keys", {}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["message"].endswith("/api/v1/api-keys/")


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "find that page" in response.text


def test_wrong_method_is_405_with_code(api):
    from conftest import Party

    alice = Party()
    response = api.put("/api/v1/tenant/", {}, **alice.auth)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_schema_describes_the_api_and_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_is_served_with_bearer_auth(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/tenant/", "/api/v1/api-keys/", "/api/v1/api-keys/{id}/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "ErrorSerializer" not in str(schema) or "Error" in schema["components"]["schemas"]


def test_swagger_ui_loads_nothing_from_outside(client, settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic
    response = client.get("/api/docs/")
    assert response.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert urls, "the page should load its assets"
    assert all(not url.startswith(("http:", "https:", "//")) for url in urls), urls
    for url in urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
