"""Team services: invitations (create, accept each way, expire, cancel, resend) and the rules
on roles (only owners make owners, admins leave owners alone, a tenant always keeps an owner)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from tenants import services
from tenants.models import Invitation, Membership, Role
from tenants.selectors import invitation_by_token, team_members
from tenants.tests.factories import MembershipFactory, UserFactory
from tenants.tests.helpers import log_in_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(alice):
    """Alice's shop: Alice owns it; Adam is an admin, Mia a member, Vic a viewer."""
    people = {"owner": alice.membership}
    for role, name in (("admin", "Adam"), ("member", "Mia"), ("viewer", "Vic")):
        people[role] = MembershipFactory(tenant=alice.tenant, role=role, user=UserFactory(name=name))
    return people


def invite(tenant, by, email="bea@example.com", role=Role.MEMBER):
    return services.invitation_create(tenant=tenant, email=email, role=role, invited_by=by)


def roles_of(tenant) -> dict[str, str]:
    return {m.user.email: m.role for m in Membership.objects.for_tenant(tenant).select_related("user")}


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/invitations/[^\s/]+/)", message.body).group(1)


# --- Inviting -------------------------------------------------------------------------


def test_an_invitation_keeps_only_the_hash_of_its_token_and_emails_a_working_link(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invite(alice.tenant, alice.user, email=" Bea@Example.COM ", role=Role.ADMIN)
    assert invitation.email == "bea@example.com"
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64
    assert invitation.expires_at - invitation.created_at == services.INVITATION_TTL == timedelta(days=7)
    assert invitation_by_token(token=token) == invitation
    [message] = mail.outbox
    assert message.to == ["bea@example.com"]
    assert message.subject == f"{alice.user.name} invited you to {alice.tenant.name} on Pricelab"
    assert link_in(message) == f"/invitations/{token}/"
    assert "as Admin" in message.body
    assert message.alternatives[0].mimetype == "text/html" and token in message.alternatives[0].content
    invitation.refresh_from_db()
    assert invitation.emailed_at is not None


def test_the_email_task_sends_once_and_not_for_a_replaced_token(alice, django_capture_on_commit_callbacks):
    invitation, token = invite(alice.tenant, alice.user)  # on_commit never runs: nothing sent yet
    assert mail.outbox == []
    send = {"tenant_id": alice.tenant.pk, "invitation_id": invitation.pk, "token": token}
    assert services.invitation_email_send(**send) is True
    assert services.invitation_email_send(**send) is False  # a task retried or delivered twice
    assert len(mail.outbox) == 1
    _, new_token = services.invitation_resend(invitation=invitation, actor=alice.user)
    assert services.invitation_email_send(**send) is False  # the old token: superseded
    assert services.invitation_email_send(**{**send, "token": new_token}) is True
    assert len(mail.outbox) == 2


def test_a_failed_delivery_is_owed_again(alice, monkeypatch):
    invitation, token = invite(alice.tenant, alice.user)
    send = {"tenant_id": alice.tenant.pk, "invitation_id": invitation.pk, "token": token}

    def down(self, *args, **kwargs):
        raise OSError("mail server unreachable")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", down)
    with pytest.raises(OSError):
        services.invitation_email_send(**send)
    invitation.refresh_from_db()
    assert invitation.emailed_at is None
    monkeypatch.undo()
    assert services.invitation_email_send(**send) is True


def test_admins_invite_but_only_owners_invite_owners(team, alice):
    invitation, _ = invite(alice.tenant, team["admin"].user, role=Role.ADMIN)
    assert invitation.invited_by == team["admin"].user
    with pytest.raises(ValidationError) as refused:
        invite(alice.tenant, team["admin"].user, email="olga@example.com", role=Role.OWNER)
    assert refused.value.message_dict == {"role": ["Only an owner can invite another owner."]}
    invite(alice.tenant, alice.user, email="olga@example.com", role=Role.OWNER)


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_invite(team, alice, role):
    with pytest.raises(PermissionDenied):
        invite(alice.tenant, team[role].user)
    assert not Invitation.objects.for_tenant(alice.tenant).exists()


def test_someone_already_in_the_team_is_not_invited(team, alice):
    with pytest.raises(ValidationError) as refused:
        invite(alice.tenant, alice.user, email=team["member"].user.email.upper())
    assert "already a member" in refused.value.message_dict["email"][0]


def test_one_pending_invitation_per_address_and_an_expired_one_is_replaced(alice, charlie):
    first, _ = invite(alice.tenant, alice.user)
    with pytest.raises(ValidationError) as refused:
        invite(alice.tenant, alice.user, email="BEA@example.com")
    assert "already invited" in refused.value.message_dict["email"][0]
    invite(charlie.tenant, charlie.user)  # another tenant may invite the same person
    Invitation.objects.for_tenant(alice.tenant).filter(pk=first.pk).update(expires_at=timezone.now())
    second, _ = invite(alice.tenant, alice.user, role=Role.VIEWER)
    first.refresh_from_db()
    assert first.status == Invitation.Status.CANCELLED
    assert second.status == Invitation.Status.PENDING and second.role == Role.VIEWER


def test_invitation_emails_are_capped_per_tenant_and_hour(alice, charlie):
    for i in range(services.INVITATION_EMAILS_PER_HOUR - 1):
        invite(alice.tenant, alice.user, email=f"p{i}@example.com")
    last, _ = invite(alice.tenant, alice.user, email="last@example.com")
    with pytest.raises(ValidationError) as refused:
        services.invitation_resend(invitation=last, actor=alice.user)  # resends count too
    assert "20 invitations this hour" in refused.value.messages[0]
    with pytest.raises(ValidationError):
        invite(alice.tenant, alice.user, email="one-more@example.com")
    assert Invitation.objects.for_tenant(alice.tenant).count() == services.INVITATION_EMAILS_PER_HOUR
    invite(charlie.tenant, charlie.user, email="one-more@example.com")  # Charlie's cap is his own


# --- Accepting ------------------------------------------------------------------------


def test_the_invited_person_with_an_account_joins_with_the_role(alice):
    bea = UserFactory(email="bea@example.com")
    invitation, token = invite(alice.tenant, alice.user, role=Role.VIEWER)
    membership = services.invitation_accept(invitation=invitation_by_token(token=token), user=bea)
    assert (membership.user, membership.role, membership.tenant) == (bea, Role.VIEWER, alice.tenant)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED and invitation.accepted_by == bea


def test_someone_with_another_email_cannot_accept(alice, charlie):
    invitation, _ = invite(alice.tenant, alice.user)
    with pytest.raises(ValidationError) as refused:
        services.invitation_accept(invitation=invitation, user=charlie.user)
    assert refused.value.code == "wrong_account"
    assert charlie.user.email not in roles_of(alice.tenant)


def test_a_new_person_signs_up_from_the_invitation_under_its_email(alice):
    invitation, _ = invite(alice.tenant, alice.user, role=Role.ADMIN)
    user, membership = services.invitation_accept_signup(
        invitation=invitation, name=" Bea Baker ", password="a-long-and-unusual-passphrase"
    )
    assert (user.email, user.name) == ("bea@example.com", "Bea Baker")
    assert user.check_password("a-long-and-unusual-passphrase")
    assert membership.role == Role.ADMIN


def test_a_weak_password_creates_nothing(alice):
    invitation, _ = invite(alice.tenant, alice.user)
    with pytest.raises(ValidationError):
        services.invitation_accept_signup(invitation=invitation, name="Bea", password="password")
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
    assert "bea@example.com" not in roles_of(alice.tenant)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
        ({"cancelled_at": timezone.now()}, "cancelled"),
        ({"accepted_at": timezone.now()}, "accepted"),
    ],
)
def test_an_expired_cancelled_or_used_invitation_lets_nobody_in(alice, change, status):
    bea = UserFactory(email="bea@example.com")
    invitation, _ = invite(alice.tenant, alice.user)
    Invitation.objects.for_tenant(alice.tenant).filter(pk=invitation.pk).update(**change)
    with pytest.raises(ValidationError) as refused:
        services.invitation_accept(invitation=invitation, user=bea)
    assert refused.value.code == status
    assert "bea@example.com" not in roles_of(alice.tenant)


def test_cancelling_withdraws_the_link(team, alice):
    invitation, token = invite(alice.tenant, alice.user)
    services.invitation_cancel(invitation=invitation, actor=team["admin"].user)
    assert invitation_by_token(token=token).status == Invitation.Status.CANCELLED
    with pytest.raises(ValidationError):
        services.invitation_cancel(invitation=invitation, actor=alice.user)


def test_resending_renews_the_week_and_replaces_the_link(alice):
    invitation, old = invite(alice.tenant, alice.user)
    Invitation.objects.for_tenant(alice.tenant).filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    renewed, new = services.invitation_resend(invitation=invitation, actor=alice.user)
    assert new != old
    assert invitation_by_token(token=old) is None
    assert invitation_by_token(token=new) == renewed
    assert renewed.status == Invitation.Status.PENDING
    assert renewed.expires_at > timezone.now() + timedelta(days=6)


def test_an_admin_cannot_resend_or_cancel_an_owner_invitation(team, alice):
    invitation, _ = invite(alice.tenant, alice.user, role=Role.OWNER)
    for action in (services.invitation_resend, services.invitation_cancel):
        with pytest.raises(PermissionDenied):
            action(invitation=invitation, actor=team["admin"].user)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


# --- Roles, removal, leaving ------------------------------------------------------------


def test_an_owner_changes_any_role_and_may_make_owners(team, alice):
    services.membership_role_change(membership=team["viewer"], role=Role.OWNER, actor=alice.user)
    services.membership_role_change(membership=team["admin"], role=Role.MEMBER, actor=alice.user)
    roles = roles_of(alice.tenant)
    assert roles[team["viewer"].user.email] == Role.OWNER
    assert roles[team["admin"].user.email] == Role.MEMBER


def test_an_admin_changes_members_but_never_owners_nor_to_owner(team, alice):
    admin = team["admin"].user
    services.membership_role_change(membership=team["viewer"], role=Role.MEMBER, actor=admin)
    with pytest.raises(PermissionDenied):
        services.membership_role_change(membership=team["member"], role=Role.OWNER, actor=admin)
    with pytest.raises(PermissionDenied):
        services.membership_role_change(membership=alice.membership, role=Role.VIEWER, actor=admin)
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=alice.membership, actor=admin)
    assert roles_of(alice.tenant)[alice.user.email] == Role.OWNER


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_change_nobody(team, alice, role):
    for target in (team["viewer"], team["member"]):
        with pytest.raises(PermissionDenied):
            services.membership_role_change(membership=target, role=Role.ADMIN, actor=team[role].user)
        with pytest.raises(PermissionDenied):
            services.membership_remove(membership=target, actor=team[role].user)
    assert len(roles_of(alice.tenant)) == 4


def test_the_last_owner_is_never_demoted_nor_removed(team, alice):
    with pytest.raises(ValidationError) as refused:
        services.membership_role_change(membership=alice.membership, role=Role.ADMIN, actor=alice.user)
    assert refused.value.messages == [
        f"You are the last owner of {alice.tenant.name}. Make someone else an owner first."
    ]
    with pytest.raises(ValidationError):
        services.membership_leave(membership=alice.membership)
    with pytest.raises(ValidationError):
        services.membership_remove(membership=alice.membership, actor=alice.user)
    assert roles_of(alice.tenant)[alice.user.email] == Role.OWNER
    # With a second owner, the first may step down.
    services.membership_role_change(membership=team["admin"], role=Role.OWNER, actor=alice.user)
    services.membership_role_change(membership=alice.membership, role=Role.ADMIN, actor=alice.user)
    assert roles_of(alice.tenant)[alice.user.email] == Role.ADMIN


def test_one_owner_cannot_remove_the_other_when_that_would_leave_none(team, alice):
    services.membership_role_change(membership=team["admin"], role=Role.OWNER, actor=alice.user)
    services.membership_remove(membership=team["admin"], actor=alice.user)  # two owners: allowed
    with pytest.raises(ValidationError):
        services.membership_leave(membership=alice.membership)


def test_removing_a_member_takes_effect_and_tells_their_live_feeds(
    team, alice, monkeypatch, django_capture_on_commit_callbacks
):
    told = []
    monkeypatch.setattr("pricing.live.access_withdrawn", lambda tenant_id, **kw: told.append((tenant_id, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_remove(membership=team["member"], actor=team["admin"].user)
    assert team["member"].user.email not in roles_of(alice.tenant)
    assert told == [(alice.tenant.pk, {"user_id": team["member"].user.pk, "reason": "membership_removed"})]


def test_a_person_leaves_a_workspace(team, alice):
    services.membership_leave(membership=team["viewer"])
    assert team["viewer"].user.email not in roles_of(alice.tenant)


def test_the_team_lists_owners_first(team, alice):
    assert [m.role for m in team_members(tenant=alice.tenant)] == ["owner", "admin", "member", "viewer"]


def test_staff_see_invitations_in_admin_and_can_cancel_one(client, alice):
    invitation, token = invite(alice.tenant, alice.user)
    staff = UserFactory(is_staff=True, is_superuser=True)
    log_in_staff(client, staff)
    listing = client.get("/admin/tenants/invitation/")
    assert listing.status_code == 200 and "bea@example.com" in listing.text and "Pending" in listing.text
    assert token not in listing.text and invitation.token_hash not in listing.text
    assert client.get("/admin/tenants/invitation/add/").status_code == 403
    client.post(
        "/admin/tenants/invitation/", {"action": "cancel", "_selected_action": [invitation.pk]}, follow=True
    )
    assert invitation_by_token(token=token).status == Invitation.Status.CANCELLED
