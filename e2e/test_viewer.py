"""A viewer sees everything and can change nothing: no controls on any page, and a change
forced past the page (a hand-made POST with a valid CSRF token) is refused."""

from decimal import Decimal

from playwright.sync_api import Page, expect

from e2e.helpers import assert_accessible, log_in, member, off_the_event_loop
from experiments import services as experiment_services
from pricing import services as pricing_services
from pricing.models import Product


def _shop(tenant):
    tea = pricing_services.product_create(
        tenant=tenant, sku="tea", name="Tea", currency="EUR", base_price="9.90"
    )
    pricing_services.product_create(tenant=tenant, sku="mug", name="Mug", currency="EUR", base_price="14.00")
    experiment = experiment_services.experiment_create(
        tenant=tenant,
        product=tea,
        key="tea-price",
        name="Tea price",
        variants=[
            {"key": "control", "price": "9.90", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "10.90", "weight": "0.5"},
        ],
    )
    experiment_services.experiment_start(experiment=experiment)


def test_a_viewer_sees_no_controls_and_a_forced_change_is_refused(app_url, page: Page, screenshot):
    owner = member(role="owner", tenant_name="Harbour Tea")
    viewer = member(role="viewer", tenant=owner.tenant)
    off_the_event_loop(_shop, owner.tenant)
    log_in(page, viewer)

    page.goto("/products/")
    expect(page.get_by_role("cell", name="Mug")).to_be_visible()
    expect(page.get_by_role("link", name="New product")).to_have_count(0)
    page.goto("/products/mug/")
    expect(page.get_by_text("14.00 EUR").first).to_be_visible()
    expect(page.get_by_role("link", name="Edit product")).to_have_count(0)
    # The edit page itself, where the owner changes and deactivates, is refused outright.
    assert page.goto("/products/mug/edit/").status == 403
    expect(page.get_by_role("button", name="Deactivate product…")).to_have_count(0)

    page.goto("/experiments/tea-price/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tea price")
    for action in ("Pause", "Complete…", "Archive"):
        expect(page.get_by_role("button", name=action)).to_have_count(0)
        expect(page.get_by_role("link", name=action)).to_have_count(0)

    page.goto("/keys/")
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    page.goto("/webhooks/")
    expect(page.get_by_role("link", name="Add endpoint")).to_have_count(0)
    page.goto("/team/")
    expect(page.get_by_role("button", name="Send invitation")).to_have_count(0)
    screenshot(page, "team-as-viewer")
    assert_accessible(page)

    # Past the page: the same POST an owner's form sends, with the viewer's own CSRF token.
    page.goto("/products/mug/")
    status = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const body = new URLSearchParams({csrfmiddlewaretoken: token, name: "Mug", price: "1.00"});
            const response = await fetch("/products/mug/edit/", {method: "POST", body});
            return response.status;
        }"""
    )
    assert status == 403
    mug = Product.objects.for_tenant(owner.tenant).get(sku="mug")
    assert mug.base_price == Decimal("14.00")
    status = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const body = new URLSearchParams({csrfmiddlewaretoken: token});
            return (await fetch("/experiments/tea-price/pause/", {method: "POST", body})).status;
        }"""
    )
    assert status == 403
