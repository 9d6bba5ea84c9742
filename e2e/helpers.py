"""Building blocks of the browser tests: people with real passwords, and logging them in."""

from playwright.sync_api import Page, expect

from tenants.models import Membership, Tenant
from tenants.tests.factories import PASSWORD, MembershipFactory

__all__ = ["PASSWORD", "log_in", "member"]


def member(*, role: str = "owner", tenant: Tenant | None = None, tenant_name: str | None = None) -> Membership:
    """A person in a tenant (a new one unless given). e2e/conftest.py keeps the real password
    hashers, so the live server accepts ``PASSWORD``."""
    extra = {"tenant": tenant} if tenant is not None else {}
    if tenant_name is not None:
        extra["tenant__name"] = tenant_name
    return MembershipFactory(role=role, **extra)


def log_in(page: Page, membership: Membership) -> None:
    """Log in through the login page, as a person would; land on the dashboard."""
    page.goto("/login/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
