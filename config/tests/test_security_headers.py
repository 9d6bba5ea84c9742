"""Every kind of response carries the security headers: pages, the login page, the API,
the API docs and Django admin. The policy itself is checked in a browser by e2e/test_csp.py."""

import re

import pytest
from django.test import Client

from tenants.tests.helpers import log_in, log_in_staff

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


def assert_secure_headers(response, websocket_origin="wss://testserver"):
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], "no inline scripts, no eval"
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"][0] == "'self'"
    assert csp["connect-src"] == ["'self'", websocket_origin]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.fixture
def owner_client(alice):
    return log_in(Client(), alice.user, alice.tenant)


def test_a_ui_page_carries_the_security_headers(owner_client):
    response = owner_client.get("/", secure=True)
    assert response.status_code == 200
    assert_secure_headers(response)


def test_the_login_page_carries_the_security_headers(client):
    response = client.get("/login/", secure=True)
    assert response.status_code == 200
    assert_secure_headers(response)


def test_an_api_response_carries_the_security_headers(client, alice):
    response = client.get("/api/v1/tenant/", secure=True, **alice.auth)
    assert response.status_code == 200
    assert_secure_headers(response)


def test_an_api_error_carries_the_security_headers(client):
    response = client.get("/api/v1/tenant/", secure=True)
    assert response.status_code == 401
    assert_secure_headers(response)


def test_the_api_docs_carry_the_headers_and_no_inline_script_or_style(client, settings):
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/api/docs/", secure=True)
    assert response.status_code == 200
    assert_secure_headers(response)
    html = response.content.decode()
    assert "<style" not in html and 'style="' not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "every script comes from a URL"
    script = client.get("/api/docs/?script=", secure=True)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_django_admin_carries_the_security_headers(client, django_user_model):
    staff = django_user_model.objects.create_superuser("staff@example.com", "pw-for-staff-only")
    log_in_staff(client, staff)
    response = client.get("/admin/", secure=True)
    assert response.status_code == 200
    assert_secure_headers(response)
    login = Client().get("/admin/login/", secure=True)
    assert_secure_headers(login)


def test_plain_http_pages_name_the_ws_origin_and_skip_hsts(client):
    response = client.get("/login/")
    assert csp_directives(response)["connect-src"] == ["'self'", "ws://testserver"]
    assert "Strict-Transport-Security" not in response  # HSTS means nothing over plain HTTP


def test_session_and_csrf_cookies_are_secure_httponly_and_lax(client, alice):
    response = client.post(
        "/login/", {"username": alice.user.email, "password": "correct-horse-battery-staple"}, secure=True
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    csrf = Client().get("/login/", secure=True).cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"


_TEMPLATE_DIRS = ["templates", "tenants", "pricing", "experiments", "billing"]


def test_no_template_has_an_inline_script_or_style_attribute():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in _TEMPLATE_DIRS:
        for path in (root / folder).rglob("*.html"):
            if "emails" in path.parts:  # mail clients, not browsers under our CSP
                continue
            text = path.read_text()
            if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\sstyle=", text):
                offenders.append(str(path.relative_to(root)))
            if re.search(r"\son[a-z]+=", text):
                offenders.append(f"{path.relative_to(root)} (event handler attribute)")
    assert offenders == []
