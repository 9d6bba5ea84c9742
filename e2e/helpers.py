"""Building blocks of the browser tests: people with real passwords, and logging them in."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connections
from playwright.sync_api import Page, expect

from tenants.models import Membership, Tenant, User
from tenants.tests.factories import PASSWORD, MembershipFactory

__all__ = ["PASSWORD", "assert_accessible", "log_in", "member", "off_the_event_loop"]


def member(
    *, role: str = "owner", tenant: Tenant | None = None, tenant_name: str | None = None
) -> Membership:
    """A person in a tenant (a new one unless given). e2e/conftest.py keeps the real password
    hashers, so the live server accepts ``PASSWORD``."""
    extra = {"tenant": tenant} if tenant is not None else {}
    if tenant_name is not None:
        extra["tenant__name"] = tenant_name
    return MembershipFactory(role=role, **extra)


def log_in(page: Page, person: Membership | User) -> None:
    """Log in through the login page, as a person would; land on the dashboard."""
    user = person.user if isinstance(person, Membership) else person
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# WCAG 2.1 levels A and AA: labels, names, contrast, landmarks, keyboard traps.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def assert_accessible(page: Page) -> None:
    """axe-core finds no WCAG 2.1 A/AA violation on the page as it is now."""
    # Evaluated through the DevTools protocol, not as a <script> tag: the page's CSP refuses
    # inline scripts, and it is the page under test, policy included.
    page.evaluate(AXE.read_text() + "\n;undefined")
    violations = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))",
        AXE_TAGS,
    )
    assert not violations, "accessibility problems:\n" + "\n".join(
        f"- {v['id']}: {v['help']} at {', '.join(v['targets'])}" for v in violations
    )


def off_the_event_loop(fn, *args, **kwargs):
    """Run service code in a thread of its own: Playwright's sync API keeps an event loop in
    the test's thread, and the services' after-commit broadcasts (async_to_sync) refuse to
    run beside one, so the change would be saved but never announced."""

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()
