"""Passwords: Django's validators wherever one is set, and a new password ends every other
session of the account, pages and live feeds alike."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from tenants import services
from tenants.models import Role, User
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.tests.helpers import password_works

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-and-unusual-passphrase"
# One weak password per validator, and the message each one shows.
WEAK = [
    ("short", "xq7#", "This password is too short. It must contain at least 8 characters."),
    ("common", "password1", "This password is too common."),
    ("numeric", "8203948571", "This password is entirely numeric."),
    ("like the email", "ada@example.com", "The password is too similar to the email."),
]
WEAK_IDS = [name for name, _, _ in WEAK]


def logged_in(user: User) -> Client:
    client = Client()
    assert client.post(reverse("login"), {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def reset_link(email: str) -> str:
    Client().post(reverse("password_reset"), {"email": email})
    message = [m for m in mail.outbox if m.to == [email]][-1]
    return re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body).group(1)


@pytest.fixture
def ada():
    return MembershipFactory(user=UserFactory(email="ada@example.com")).user


@pytest.fixture(autouse=True)
def _no_ip_rate_limit(settings):
    settings.AUTH_RATE_LIMIT = "1000/m"  # these tests log in many times from one address


# --- Validators, everywhere a password is set -------------------------------------------------


@pytest.mark.parametrize(("weak", "message"), [w[1:] for w in WEAK], ids=WEAK_IDS)
def test_signup_refuses_a_weak_password_with_the_validators_message(client, weak, message):
    form = {"name": "Ada", "email": "ada@example.com", "password": weak, "tenant_name": "Ada's"}
    response = client.post(reverse("signup"), form)
    assert message in response.text
    assert not User.objects.filter(email="ada@example.com").exists()


@pytest.mark.parametrize(("weak", "message"), [w[1:] for w in WEAK], ids=WEAK_IDS)
def test_a_reset_refuses_a_weak_password(ada, weak, message):
    client = Client()
    form = client.get(reset_link(ada.email), follow=True)
    response = client.post(form.redirect_chain[-1][0], {"new_password1": weak, "new_password2": weak})
    assert response.status_code == 200 and message in response.text
    assert password_works(ada.email, PASSWORD)


@pytest.mark.parametrize(("weak", "message"), [w[1:] for w in WEAK], ids=WEAK_IDS)
def test_changing_the_password_refuses_a_weak_one(ada, weak, message):
    client = logged_in(ada)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
    )
    assert response.status_code == 200 and message in response.text
    assert password_works(ada.email, PASSWORD)


@pytest.mark.parametrize(("weak", "message"), [w[1:] for w in WEAK], ids=WEAK_IDS)
def test_joining_by_invitation_refuses_a_weak_password(alice, weak, message):
    _, token = services.invitation_create(
        tenant=alice.tenant, email="ada@example.com", role=Role.MEMBER, invited_by=alice.user
    )
    response = Client().post(reverse("invitation", args=[token]), {"name": "Ada", "password": weak})
    assert response.status_code == 400 and message in response.text
    assert not User.objects.filter(email="ada@example.com").exists()


def test_the_service_refuses_a_weak_password_whoever_calls_it(ada):
    with pytest.raises(Exception, match="too common"):
        services.user_password_set(user=ada, password="password1")
    assert password_works(ada.email, PASSWORD)


# --- Changing the password on the account page ------------------------------------------------


def test_the_account_menu_leads_to_the_password_page(ada):
    client = logged_in(ada)
    assert f'href="{reverse("password_change")}"' in client.get(reverse("dashboard")).text
    page = client.get(reverse("password_change")).text
    assert "Change your password" in page and 'name="old_password"' in page


def test_the_current_password_is_needed(ada):
    client = logged_in(ada)
    response = client.post(
        reverse("password_change"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and "Your old password was entered incorrectly." in response.text
    assert password_works(ada.email, PASSWORD)


def test_a_change_keeps_this_session_and_ends_every_other(ada):
    here, phone = logged_in(ada), logged_in(ada)
    assert phone.get(reverse("dashboard")).status_code == 200
    response = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Everywhere else you were logged in, you are now logged out." in response.text
    assert here.get(reverse("dashboard")).status_code == 200
    gone = phone.get(reverse("dashboard"))
    assert gone.status_code == 302 and gone["Location"].startswith(reverse("login"))
    assert password_works(ada.email, NEW_PASSWORD) and not password_works(ada.email, PASSWORD)


def test_a_reset_ends_every_session_of_the_account(ada):
    laptop, phone = logged_in(ada), logged_in(ada)
    stranger = Client()
    form = stranger.get(reset_link(ada.email), follow=True)
    stranger.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    for client in (laptop, phone):
        response = client.get(reverse("dashboard"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert password_works(ada.email, NEW_PASSWORD)


def test_logged_out_people_are_sent_to_log_in_first(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_changes_and_resets_are_in_staffs_audit_log_without_the_password(ada):
    logged_in(ada).post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    stranger = Client()
    form = stranger.get(reset_link(ada.email), follow=True)
    stranger.post(
        form.redirect_chain[-1][0],
        {"new_password1": "another-unusual-passphrase", "new_password2": "another-unusual-passphrase"},
    )
    entries = AuditEntry.objects.unscoped().filter(action="user.password_changed").order_by("id")
    assert [(e.tenant_id, e.object_id, e.actor_label) for e in entries] == [
        (None, str(ada.pk), ada.email)
    ] * 2
    assert all(e.before is None and e.after is None and e.ip_address for e in entries)
    # An account belongs to no one workspace: its members' logs do not show it.
    assert (
        not AuditEntry.objects.unscoped()
        .filter(tenant__isnull=False, action="user.password_changed")
        .exists()
    )
