"""Every main page of a busy workspace, checked the way an auditor would: no WCAG 2.1 A/AA
problem (axe-core), and nothing wider than a phone's screen."""

import pytest
from playwright.sync_api import Page

from e2e.helpers import assert_accessible, log_in, member, off_the_event_loop
from pricing import webhooks
from tenants import services as tenant_services
from tenants.tests import dashboard_data as data

PAGES = [
    "/",
    "/products/",
    "/products/tea/",
    "/products/tea/edit/",
    "/products/new/",
    "/experiments/",
    "/experiments/?status=running",
    "/experiments/tea-price/",
    "/experiments/new/",
    "/experiments/calculator/",
    "/keys/",
    "/webhooks/",
    "/webhooks/new/",
    "/team/",
    "/billing/",
    "/workspaces/new/",
    "/no-such-page/",
]
PHONE = {"width": 390, "height": 844}


def _shop(tenant):
    tea = data.product(tenant, "tea", "9.90", "Loose-leaf tea")
    data.product(tenant, "mug", "14.00", "Mug")
    data.running_experiment(
        tenant, tea, "tea-price", "Tea price", {"control": (400, 20), "higher": (380, 25)}
    )
    data.usage(tenant, quotes=640, events=120)
    tenant_services.api_key_create(tenant=tenant, name="Checkout", scopes=["read", "write"])
    webhooks.endpoint_create(tenant=tenant, url="http://127.0.0.1:9/pricelab", event_types=["price.changed"])


@pytest.fixture
def owner(app_url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # no DNS here: the endpoint is on loopback
    owner = member(role="owner", tenant_name="Harbour Tea")
    off_the_event_loop(_shop, owner.tenant)
    return owner


def test_every_main_page_passes_axe(owner, page: Page):
    log_in(page, owner)
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        try:
            assert_accessible(page)
        except AssertionError as problem:
            raise AssertionError(f"{path}: {problem}") from None


def test_every_main_page_fits_a_phone(owner, page: Page):
    page.set_viewport_size(PHONE)
    log_in(page, owner)
    too_wide = {}
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            # Name the outermost elements that stick out, to say where to look.
            culprits = page.evaluate(
                """(limit) => [...document.querySelectorAll("main *")]
                    .filter((el) => el.getBoundingClientRect().right > limit + 1)
                    .filter((el) => el.parentElement.getBoundingClientRect().right <= limit + 1)
                    .slice(0, 4)
                    .map((el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
                         + (el.id ? "#" + el.id : ""))""",
                PHONE["width"],
            )
            too_wide[path] = (width, culprits)
    assert not too_wide, f"pages wider than {PHONE['width']} px: {too_wide}"
