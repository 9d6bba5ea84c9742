"""The team page over HTTP: what owners, admins, members, viewers and outsiders see and may do."""

import pytest
from django.urls import reverse

from tenants import services
from tenants.models import Invitation, Membership, Role
from tenants.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(alice):
    """Alice's shop: Alice owns it; Adam is an admin, Mia a member, Vic a viewer."""
    people = {"owner": alice.membership}
    for role, name in (("admin", "Adam Admin"), ("member", "Mia Member"), ("viewer", "Vic Viewer")):
        people[role] = MembershipFactory(tenant=alice.tenant, role=role, user=UserFactory(name=name))
    return people


@pytest.fixture
def pending(alice):
    invitation, _ = services.invitation_create(
        tenant=alice.tenant, email="bea@example.com", role=Role.MEMBER, invited_by=alice.user
    )
    return invitation


def as_member(client, membership):
    client.force_login(membership.user)
    session = client.session
    session["tenant_id"] = membership.tenant_id
    session.save()
    return client


def roles_of(tenant) -> dict[str, str]:
    return {m.user.email: m.role for m in Membership.objects.for_tenant(tenant).select_related("user")}


def test_the_owner_sees_members_invitations_and_every_control(client, team, alice, pending):
    page = as_member(client, alice.membership).get(reverse("team")).text
    for name in ("Adam Admin", "Mia Member", "Vic Viewer", alice.user.email):
        assert name in page
    assert "bea@example.com" in page and "Pending invitations" in page
    assert "Send invitation" in page and "Leave workspace" not in page  # the last owner cannot leave
    assert page.count('action="/team/members/') == 2 * 3 + 0  # role and remove for the three others
    assert 'value="owner"' in page  # an owner may make owners
    assert "You are its last owner" in page
    assert f'action="{reverse("invitation_resend", args=[pending.pk])}"' in page
    assert "data-confirm=" in page


def test_the_nav_links_to_the_team_page(client, alice):
    page = as_member(client, alice.membership).get(reverse("dashboard")).text
    assert f'href="{reverse("team")}"' in page and reverse("team") == "/team/"


def test_the_owner_invites_by_email_and_sees_it_pending(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    as_member(client, alice.membership)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("team"), {"email": "Bea@Example.com", "role": "admin"}, follow=True)
    assert "Invitation sent to bea@example.com as Admin. The link works for 7 days." in response.text
    invitation = Invitation.objects.for_tenant(alice.tenant).get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "bea@example.com",
        "admin",
        alice.user,
    )
    assert [m.to for m in mailoutbox] == [["bea@example.com"]]
    assert "/invitations/" in mailoutbox[0].body


def test_inviting_a_member_is_refused_next_to_the_email_field(client, team, alice):
    as_member(client, alice.membership)
    response = client.post(reverse("team"), {"email": team["member"].user.email, "role": "viewer"})
    assert response.status_code == 400
    assert 'id="id_email_error"' in response.text and "is already a member" in response.text
    assert f'value="{team["member"].user.email}"' in response.text  # what they typed stays
    assert not Invitation.objects.for_tenant(alice.tenant).exists()


def test_an_invalid_email_is_refused_next_to_its_field(client, alice):
    response = as_member(client, alice.membership).post(
        reverse("team"), {"email": "not-an-email", "role": "member"}
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text


def test_an_admin_manages_the_team_but_cannot_offer_or_touch_owners(client, team, alice):
    as_member(client, team["admin"])
    page = client.get(reverse("team")).text
    assert "Send invitation" in page
    assert 'value="owner"' not in page
    assert f'action="{reverse("member_remove", args=[alice.membership.pk])}"' not in page
    assert f'action="{reverse("member_remove", args=[team["viewer"].pk])}"' in page
    # Through crafted requests: an owner cannot be changed or removed; nobody becomes owner.
    assert (
        client.post(reverse("member_role", args=[alice.membership.pk]), {"role": "viewer"}).status_code == 403
    )
    assert client.post(reverse("member_remove", args=[alice.membership.pk])).status_code == 403
    refused = client.post(reverse("member_role", args=[team["viewer"].pk]), {"role": "owner"})
    assert refused.status_code == 400 and "not one of the available choices" in refused.text
    assert client.post(reverse("team"), {"email": "o@example.com", "role": "owner"}).status_code == 400
    assert roles_of(alice.tenant)[alice.user.email] == "owner"
    assert roles_of(alice.tenant)[team["viewer"].user.email] == "viewer"
    assert not Invitation.objects.for_tenant(alice.tenant).exists()


def test_the_owner_changes_a_role(client, team, alice):
    as_member(client, alice.membership)
    response = client.post(reverse("member_role", args=[team["viewer"].pk]), {"role": "admin"}, follow=True)
    assert "Vic Viewer is now admin." in response.text
    assert roles_of(alice.tenant)[team["viewer"].user.email] == "admin"


def test_the_last_owner_is_told_why_they_stay_owner(client, alice):
    as_member(client, alice.membership)
    response = client.post(reverse("member_role", args=[alice.membership.pk]), {"role": "admin"})
    assert response.status_code == 400
    assert (
        "You are the last owner of" in response.text and "Make someone else an owner first." in response.text
    )
    left = client.post(reverse("team_leave"))
    assert left.status_code == 400 and "You are the last owner" in left.text
    assert roles_of(alice.tenant)[alice.user.email] == "owner"


def test_removing_a_member_ends_their_access_on_their_next_request(client, team, alice):
    mia = as_member(type(client)(), team["member"])
    assert mia.get(reverse("team")).status_code == 200
    as_member(client, alice.membership)
    response = client.post(reverse("member_remove", args=[team["member"].pk]), follow=True)
    assert "Removed Mia Member from" in response.text and "They lost access at once." in response.text
    assert team["member"].user.email not in roles_of(alice.tenant)
    assert mia.get(reverse("team")).status_code == 403
    dashboard = mia.get(reverse("dashboard"), follow=True)
    assert "You are no longer a member of that workspace." in dashboard.text


def test_a_member_leaves_and_lands_in_their_other_workspace_or_a_new_one(client, team, alice):
    as_member(client, team["member"])
    response = client.post(reverse("team_leave"), follow=True)
    assert f"You left {alice.tenant.name}." in response.text
    assert response.redirect_chain[-1][0] == reverse("tenant_new")
    assert team["member"].user.email not in roles_of(alice.tenant)


def test_resend_and_cancel_from_the_team_page(
    client, alice, pending, mailoutbox, django_capture_on_commit_callbacks
):
    as_member(client, alice.membership)
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(reverse("invitation_resend", args=[pending.pk]), follow=True)
    assert "Sent the invitation to bea@example.com again." in resent.text
    assert len(mailoutbox) == 1
    cancelled = client.post(reverse("invitation_cancel", args=[pending.pk]), follow=True)
    assert "Cancelled the invitation to bea@example.com." in cancelled.text
    assert "No pending invitations" in cancelled.text
    pending.refresh_from_db()
    assert pending.status == Invitation.Status.CANCELLED
    # A cancelled invitation is gone from the page and its buttons answer 404.
    assert client.post(reverse("invitation_resend", args=[pending.pk])).status_code == 404


def test_the_action_urls_take_only_posts(client, team, alice):
    as_member(client, alice.membership)
    assert client.get(reverse("member_remove", args=[team["member"].pk])).status_code == 405
    assert team["member"].user.email in roles_of(alice.tenant)


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_the_team_without_controls_and_are_refused(
    client, team, alice, pending, role
):
    as_member(client, team[role])
    page = client.get(reverse("team")).text
    assert "Adam Admin" in page and "bea@example.com" in page
    assert "Send invitation" not in page and "/team/members/" not in page and "/resend/" not in page
    assert "Leave workspace" in page  # everyone may leave
    other = team["viewer" if role == "member" else "member"]
    posts = [
        (reverse("team"), {"email": "x@example.com", "role": "member"}),
        (reverse("member_role", args=[other.pk]), {"role": "admin"}),
        (reverse("member_remove", args=[other.pk]), {}),
        (reverse("member_role", args=[team[role].pk]), {"role": "owner"}),
        (reverse("invitation_resend", args=[pending.pk]), {}),
        (reverse("invitation_cancel", args=[pending.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert roles_of(alice.tenant) == {m.user.email: m.role for m in team.values()}
    pending.refresh_from_db()
    assert pending.status == Invitation.Status.PENDING
    assert Invitation.objects.for_tenant(alice.tenant).count() == 1


def test_an_outsider_cannot_see_or_touch_another_tenants_team(client, team, alice, charlie, pending):
    as_member(client, charlie.membership)
    page = client.get(reverse("team")).text
    assert "Adam Admin" not in page and "bea@example.com" not in page
    for url, data in [
        (reverse("member_role", args=[team["member"].pk]), {"role": "viewer"}),
        (reverse("member_remove", args=[team["member"].pk]), {}),
        (reverse("invitation_resend", args=[pending.pk]), {}),
        (reverse("invitation_cancel", args=[pending.pk]), {}),
    ]:
        assert client.post(url, data).status_code == 404, url
    assert roles_of(alice.tenant)[team["member"].user.email] == "member"
    pending.refresh_from_db()
    assert pending.status == Invitation.Status.PENDING


def test_the_team_page_needs_a_login(client):
    response = client.get(reverse("team"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
