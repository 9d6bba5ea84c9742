"""Opening an emailed invitation link: join, log in first, switch account, or sign up and join."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants import services
from tenants.models import Invitation, Membership, Role, User
from tenants.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture
def invited(alice):
    """An invitation for bea@example.com to Alice's shop as admin, and its link."""
    invitation, token = services.invitation_create(
        tenant=alice.tenant, email="bea@example.com", role=Role.ADMIN, invited_by=alice.user
    )
    return invitation, reverse("invitation", args=[token])


def role_in(tenant, email) -> str | None:
    membership = Membership.objects.for_tenant(tenant).filter(user__email=email).first()
    return membership.role if membership else None


def test_the_emailed_link_lets_a_new_person_sign_up_and_join(
    alice, mailoutbox, django_capture_on_commit_callbacks
):
    owner = Client()
    owner.force_login(alice.user)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(reverse("team"), {"email": "bea@example.com", "role": "member"})
    link = re.search(r"https?://[^/\s]+(/invitations/[^\s]+/)", mailoutbox[0].body).group(1)
    bea = Client()
    form = bea.get(link)
    assert form.status_code == 200
    assert f"Join {alice.tenant.name}" in form.text
    assert 'value="bea@example.com" readonly' in form.text
    assert form["Cache-Control"].startswith("max-age=0") and "no-store" in form["Cache-Control"]
    response = bea.post(link, {"name": "Bea Baker", "password": NEW_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert f"Welcome to {alice.tenant.name}. You joined as member." in response.text
    assert User.objects.get(email="bea@example.com").name == "Bea Baker"
    assert role_in(alice.tenant, "bea@example.com") == Role.MEMBER
    # The link is spent.
    assert "already been used" in Client().get(link).text


def test_the_short_signup_keeps_what_was_typed_and_shows_errors_by_the_field(alice, invited):
    _, link = invited
    response = Client().post(link, {"name": "Bea Baker", "password": "password"})
    assert response.status_code == 400
    assert "This password is too common." in response.text
    assert 'value="Bea Baker"' in response.text
    assert not User.objects.filter(email="bea@example.com").exists()


def test_the_invited_person_logged_in_joins_with_one_click(client, alice, charlie, invited):
    bea = UserFactory(email="bea@example.com")
    client.force_login(bea)
    _, link = invited
    page = client.get(link)
    assert f"Join {alice.tenant.name}" in page.text and "You are logged in as bea@example.com" in page.text
    assert role_in(alice.tenant, "bea@example.com") is None  # opening the link is not accepting it
    response = client.post(link, follow=True)
    assert "You joined as admin." in response.text
    assert f"<h1>{alice.tenant.name}</h1>" in response.text  # the dashboard of the workspace joined
    assert role_in(alice.tenant, "bea@example.com") == Role.ADMIN
    # Clicking the link again takes them there.
    again = client.get(link, follow=True)
    assert f"You are already a member of {alice.tenant.name}." in again.text


def test_someone_with_an_account_who_is_logged_out_logs_in_first(client, alice, invited):
    UserFactory(email="bea@example.com")
    _, link = invited
    page = client.get(link)
    assert "Log in to accept" in page.text
    login_url = f"{reverse('login')}?next={link}"
    assert f'href="{login_url}"' in page.text
    response = client.post(login_url, {"username": "bea@example.com", "password": PASSWORD, "next": link})
    assert response["Location"] == link
    assert client.post(link).status_code == 302
    assert role_in(alice.tenant, "bea@example.com") == Role.ADMIN


def test_someone_logged_in_under_another_email_is_told_to_switch_account(client, alice, charlie, invited):
    client.force_login(charlie.user)
    _, link = invited
    page = client.get(link)
    assert "This invitation is for someone else" in page.text
    assert f"you are logged in as <strong>{charlie.user.email}</strong>" in page.text
    assert 'name="next" value="/invitations/' in page.text  # log out, then back to the link
    assert client.post(link).status_code == 400
    assert role_in(alice.tenant, charlie.user.email) is None
    invitation = Invitation.objects.for_tenant(alice.tenant).get()
    assert invitation.status == Invitation.Status.PENDING


@pytest.mark.parametrize(
    ("change", "heading"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "This invitation has expired"),
        ({"cancelled_at": timezone.now()}, "This invitation was cancelled"),
        ({"accepted_at": timezone.now()}, "This invitation has already been used"),
    ],
)
def test_an_expired_cancelled_or_used_link_gets_a_clear_page(client, alice, invited, change, heading):
    invitation, link = invited
    Invitation.objects.for_tenant(alice.tenant).filter(pk=invitation.pk).update(**change)
    page = client.get(link)
    assert page.status_code == 410
    assert heading in page.text
    refused = client.post(link, {"name": "Bea", "password": NEW_PASSWORD})
    assert refused.status_code == 410
    assert not User.objects.filter(email="bea@example.com").exists()


def test_an_unknown_or_replaced_link_gets_a_clear_page(client, alice, invited):
    invitation, old_link = invited
    services.invitation_resend(invitation=invitation, actor=alice.user)
    for link in (old_link, reverse("invitation", args=["made-up"])):
        page = client.get(link)
        assert page.status_code == 404
        assert "This invitation link doesn't work" in page.text


def test_accepting_is_limited_like_signup(client, alice, invited):
    _, link = invited
    codes = [client.post(link, {"name": "Bea", "password": "x"}).status_code for _ in range(6)]
    assert codes == [400] * 5 + [429]
