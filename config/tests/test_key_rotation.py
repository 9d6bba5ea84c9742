"""Rotating SECRET_KEY without logging everyone out (docs/OPERATIONS.md, "SECRET_KEY")."""

import pytest
from django.urls import reverse

from config.tests.settings_probe import setting_at_start
from pricing import realtime

OLD_KEY = "old-secret-key-" + "o" * 40
NEW_KEY = "new-secret-key-" + "n" * 40


@pytest.fixture
def session_from_before_the_rotation(client, settings, alice):
    """Alice logged in while the old key was the secret key."""
    settings.SECRET_KEY = OLD_KEY
    settings.SECRET_KEY_FALLBACKS = []
    client.force_login(alice.user)
    return client


def test_a_session_signed_with_the_old_key_still_works_while_it_is_a_fallback(
    session_from_before_the_rotation, settings
):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]

    response = session_from_before_the_rotation.get(reverse("dashboard"))
    assert response.status_code == 200

    # The first request re-signed the session with the new key: dropping the fallback
    # later no longer logs this person out.
    settings.SECRET_KEY_FALLBACKS = []
    assert session_from_before_the_rotation.get(reverse("dashboard")).status_code == 200


def test_without_the_fallback_the_old_session_is_logged_out(session_from_before_the_rotation, settings):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = []

    response = session_from_before_the_rotation.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_live_feed_token_minted_before_the_rotation_opens_the_feed_only_with_the_fallback(settings, alice):
    settings.SECRET_KEY = OLD_KEY
    token = realtime.token_mint(tenant_id=alice.tenant.pk, api_key_id=alice.key.pk)
    connection = {"type": "websocket", "query_string": f"token={token}".encode()}
    settings.SECRET_KEY = NEW_KEY

    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert realtime.authenticate(connection).tenant == alice.tenant

    settings.SECRET_KEY_FALLBACKS = []
    assert realtime.authenticate(connection).reason == "invalid_token"


def test_fallbacks_are_read_from_the_environment_as_a_list():
    fallbacks = setting_at_start(
        "SECRET_KEY_FALLBACKS", SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=f"{OLD_KEY},older-key"
    )
    assert fallbacks == [OLD_KEY, "older-key"]
