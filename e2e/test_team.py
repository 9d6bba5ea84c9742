"""The team in a real browser: an owner invites someone, the invitee opens the link in a
browser of their own, signs up and lands in the workspace with the role they were given;
removing a member asks first, in the page's dialog."""

import re

from django.test import Client
from playwright.sync_api import Page, expect

from tenants import services
from tenants.models import Invitation, Membership, Role
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

NEW_PASSWORD = "correct horse battery staple 42"


def shop():
    """Analytical Engines with a team of four and one pending invitation."""
    tenant = TenantFactory(name="Analytical Engines")
    people = {}
    for name, role in (
        ("Ada Lovelace", Role.OWNER),
        ("Grace Hopper", Role.ADMIN),
        ("Alan Turing", Role.MEMBER),
        ("Katherine Johnson", Role.VIEWER),
    ):
        email = f"{name.split()[0].lower()}@example.com"
        people[name] = MembershipFactory(tenant=tenant, role=role, user=UserFactory(name=name, email=email))
    services.invitation_create(
        tenant=tenant, email="edsger@example.com", role=Role.MEMBER, invited_by=people["Ada Lovelace"].user
    )
    return tenant, people


def logged_in(context, app_url: str, membership: Membership) -> None:
    """Give a browser the session of a logged-in member. The login form is tested elsewhere; its
    limit of a few attempts a minute per address is shared by every browser test on 127.0.0.1."""
    client = Client()
    client.force_login(membership.user)
    session = client.session
    session["tenant_id"] = membership.tenant_id
    session.save()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": app_url}])


def test_an_invited_person_signs_up_from_the_link_and_joins_with_their_role(
    app_url, page: Page, new_context, screenshot
):
    tenant, people = shop()
    ada = people["Ada Lovelace"]

    # The pages a visitor sees first.
    page.goto("/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to Pricelab")
    screenshot(page, "login")
    page.goto("/signup/")
    expect(page.get_by_role("button", name="Create account")).to_be_visible()
    screenshot(page, "signup")

    owner = new_context()
    logged_in(owner, app_url, ada)
    team = owner.new_page()
    team.goto("/team/")
    team.get_by_label("Email address").fill("bea@example.com")
    team.get_by_label("Role", exact=True).select_option("admin")
    team.get_by_role("button", name="Send invitation").click()
    expect(team.locator(".messages")).to_contain_text("Invitation sent to bea@example.com as Admin")
    invitations = team.get_by_role("table").nth(1)
    expect(invitations.get_by_role("row", name=re.compile("bea@example.com"))).to_contain_text("Admin")
    screenshot(team, "team")

    # The link went out in an email from the worker; the database keeps only its hash. So ask
    # for a fresh link through the service the Resend button calls, as the invitee would.
    invitation = Invitation.objects.for_tenant(tenant).get(email="bea@example.com")
    _, token = services.invitation_resend(invitation=invitation, actor=ada.user)

    invitee = new_context().new_page()
    invitee.goto(f"/invitations/{token}/")
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Join Analytical Engines")
    expect(invitee.get_by_label("Email", exact=True)).to_have_value("bea@example.com")
    screenshot(invitee, "team-invitation")
    invitee.get_by_label("Your name").fill("Bea Baker")
    invitee.get_by_label("Password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Create account and join").click()
    expect(invitee).to_have_url(re.compile(r"/$"))
    expect(invitee.locator(".messages")).to_contain_text(
        "Welcome to Analytical Engines. You joined as admin."
    )
    expect(invitee.locator(".account .badge.role")).to_have_text("admin")
    invitee.goto("/team/")
    expect(invitee.get_by_role("button", name="Send invitation")).to_be_visible()  # admins invite too
    assert Membership.objects.for_tenant(tenant).get(user__email="bea@example.com").role == Role.ADMIN

    # The owner's page now lists Bea among the members and no longer as invited.
    team.reload()
    expect(team.get_by_role("table").first).to_contain_text("Bea Baker")
    expect(team.get_by_role("table").nth(1)).not_to_contain_text("bea@example.com")


def test_removing_a_member_asks_first_then_takes_effect(app_url, page: Page):
    tenant, people = shop()
    logged_in(page.context, app_url, people["Ada Lovelace"])
    page.goto("/team/")
    members = page.get_by_role("table").first
    remove = page.get_by_role("button", name="Remove Alan Turing")
    dialog = page.locator("#confirm-dialog")

    remove.click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Remove Alan Turing?")
    expect(dialog).to_contain_text("loses access to Analytical Engines at once")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(members).to_contain_text("Alan Turing")
    assert Membership.objects.for_tenant(tenant).filter(user=people["Alan Turing"].user).exists()

    remove.click()
    dialog.get_by_role("button", name="Remove from team").click()
    expect(page.locator(".messages")).to_contain_text("Removed Alan Turing from Analytical Engines.")
    expect(members).not_to_contain_text("Alan Turing")
    assert not Membership.objects.for_tenant(tenant).filter(user=people["Alan Turing"].user).exists()
