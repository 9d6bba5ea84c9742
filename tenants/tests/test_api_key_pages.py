import re

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from tenants.models import ApiKey
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_owner_creates_a_key_sees_the_secret_once_and_it_works(client, api, alice):
    client.force_login(alice.user)
    response = client.post(reverse("api_keys"), {"name": "Storefront", "scopes": ["read"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret in response.text and "will not be shown again" in response.text
    assert api.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {secret}").json()["scopes"] == ["read"]
    again = client.get(reverse("api_keys"))
    assert secret not in again.text and "Storefront" in again.text
    sessions = " ".join(s.session_data for s in Session.objects.all())
    assert secret.split("_")[-1] not in sessions


def test_reloading_the_new_key_page_issues_no_second_key(client, alice):
    client.force_login(alice.user)
    page = client.get(reverse("api_keys")).text
    token = re.search(r'name="submission" value="([^"]+)"', page).group(1)
    fields = {"name": "Storefront", "scopes": ["read"], "submission": token}
    first = client.post(reverse("api_keys"), fields)
    assert "will not be shown again" in first.text
    again = client.post(reverse("api_keys"), fields, follow=True)  # the browser's "resend"
    assert "already created; its secret was shown once" in again.text
    assert ApiKey.objects.for_tenant(alice.tenant).filter(name="Storefront").count() == 1


def test_invalid_key_form_shows_errors_next_to_fields(client, alice):
    client.force_login(alice.user)
    response = client.post(reverse("api_keys"), {"name": "", "scopes": []})
    assert response.status_code == 400
    assert "This field is required" in response.text


def test_viewer_sees_keys_but_cannot_create_or_revoke(client, alice):
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user
    client.force_login(viewer)
    page = client.get(reverse("api_keys"))
    assert page.status_code == 200 and alice.key.prefix in page.text
    assert "Create key" not in page.text
    assert client.post(reverse("api_keys"), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert client.post(reverse("api_key_revoke", args=[alice.key.pk])).status_code == 403
    assert ApiKey.objects.for_tenant(alice.tenant).count() == 1


def test_revoke_asks_first_then_revokes(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice.user)
    confirm = client.get(reverse("api_key_revoke", args=[alice.key.pk]))
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    alice.key.refresh_from_db()
    assert alice.key.revoked_at is None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("api_key_revoke", args=[alice.key.pk]))
    assert response.status_code == 302
    alice.key.refresh_from_db()
    assert alice.key.revoked_at is not None


def test_another_tenants_key_cannot_be_revoked_from_the_page(client, alice, charlie):
    client.force_login(alice.user)
    url = reverse("api_key_revoke", args=[charlie.key.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    charlie.key.refresh_from_db()
    assert charlie.key.revoked_at is None
    assert charlie.key.prefix not in client.get(reverse("api_keys")).text
