"""Products in a real browser: a price edited in one page shows in every open page of the
tenant within a second, over WebSocket and over the SSE fallback; the history chart grows
live; deactivating asks first."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from e2e.helpers import log_in, off_the_event_loop
from experiments import services as experiment_services
from pricing import services
from pricing.models import PricePoint, Product
from tenants.models import Role
from tenants.tests.factories import MembershipFactory, TenantFactory, api_key_for

# The promise of the live board: a change is on every open page within this time.
LIVE_WITHIN_MS = 1000
# Connecting (WebSocket or SSE) and subscribing may take a little longer than a change.
CONNECT_MS = 10_000


def seed_shop():
    return off_the_event_loop(_seed_shop)


def _seed_shop():
    """A tea shop with an owner and a member, a few products and months of price history."""
    tenant = TenantFactory(name="Leaf & Bean", slug="leaf-and-bean")
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    member = MembershipFactory(tenant=tenant, role=Role.MEMBER).user
    storefront, _secret = api_key_for(tenant, name="Storefront sync")
    now = timezone.now()

    def product(sku, name, price, *, days_ago, changes=(), active=True):
        item = services.product_create(
            tenant=tenant,
            sku=sku,
            name=name,
            currency="EUR",
            base_price=price,
            source="manual",
            changed_by=owner,
        )
        Product.objects.for_tenant(tenant).filter(pk=item.pk).update(
            created_at=now - timedelta(days=days_ago)
        )
        _backdate(item, now - timedelta(days=days_ago))
        for days, new_price, source in changes:
            # What a person changes carries their name; what the storefront's sync changes, its key.
            who = {"api_key_id": storefront.pk} if source == "api" else {"changed_by": owner}
            services.price_change(product=item, price=new_price, source=source, **who)
            _backdate(item, now - timedelta(days=days))
        if not active:
            services.product_update(product=item, active=False)
            Product.objects.for_tenant(tenant).filter(pk=item.pk).update(updated_at=now - timedelta(days=9))
        item.refresh_from_db()
        return item

    tea = product(
        "tea-1kg",
        "Assam tea, 1 kg",
        "22.90",
        days_ago=92,
        changes=[
            (64, "24.90", "manual"),
            (37, "26.50", "api"),
            (15, "23.90", "manual"),
            (4, "24.90", "manual"),
        ],
    )
    coffee = product(
        "coffee-500g", "Single-origin coffee, 500 g", "13.90", days_ago=70, changes=[(30, "14.50", "api")]
    )
    product("matcha-30g", "Ceremonial matcha, 30 g", "19.00", days_ago=45)
    product("gift-card-50", "Gift card", "50.00", days_ago=120)
    product("mug-stoneware", "Stoneware mug", "12.00", days_ago=200, active=False)
    experiment = experiment_services.experiment_create(
        tenant=tenant,
        product=coffee,
        key="coffee-price",
        name="Coffee at 15.90?",
        variants=[
            {"key": "control", "price": "14.50", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "15.90", "weight": "0.5"},
        ],
    )
    experiment_services.experiment_start(experiment=experiment)
    return tenant, owner, member, tea


def _backdate(product, when):
    """Move the newest history entry (and the product's last change) into the past."""
    points = PricePoint.objects.for_tenant(product.tenant_id).filter(product=product)
    points.filter(pk=points.latest("valid_from", "id").pk).update(valid_from=when)
    Product.objects.for_tenant(product.tenant_id).filter(pk=product.pk).update(updated_at=when)


def open_live(page: Page, path: str) -> None:
    """Open a page and wait until its live feed has subscribed."""
    page.goto(path)
    expect(page.locator("[data-live-status]").first).to_have_attribute(
        "data-state", "live", timeout=CONNECT_MS
    )
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads


def edit_price(page: Page, sku: str, price: str) -> None:
    page.goto(f"/products/{sku}/edit/")
    page.get_by_label(re.compile(r"^Base price")).fill(price)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text(f"to {price} EUR")


def test_a_price_edited_in_one_page_appears_in_another_within_a_second(app_url, new_context, screenshot):
    _tenant, owner, member, _tea = seed_shop()
    editor = new_context().new_page()
    watcher = new_context().new_page()
    log_in(editor, owner)
    log_in(watcher, member)
    open_live(watcher, "/products/")
    price = watcher.locator('[data-live-price="tea-1kg"]')
    expect(price).to_have_text("24.90 EUR")
    expect(watcher.get_by_role("link", name=re.compile("coffee-price"))).to_have_attribute(
        "href", "/experiments/coffee-price/"
    )
    screenshot(watcher, "products-list")

    edit_price(editor, "tea-1kg", "27.90")

    expect(price).to_have_text("27.90 EUR", timeout=LIVE_WITHIN_MS)
    assert watcher.evaluate("window.__sameDocument") is True


def test_the_sse_fallback_also_shows_the_change(app_url, page: Page):
    _tenant, owner, _member, _tea = seed_shop()
    log_in(page, owner)
    watcher = page.context.new_page()
    watcher.add_init_script("window.PRICELAB_LIVE_TRANSPORT = 'sse'")
    open_live(watcher, "/products/")
    expect(watcher.locator("[data-live-status]")).to_have_attribute("data-transport", "sse")
    expect(watcher.locator("[data-live-text]")).to_have_text("Live (SSE)")

    edit_price(page, "tea-1kg", "27.90")

    expect(watcher.locator('[data-live-price="tea-1kg"]')).to_have_text("27.90 EUR", timeout=LIVE_WITHIN_MS)
    assert watcher.evaluate("window.__sameDocument") is True


def test_the_history_chart_and_table_grow_live(app_url, page: Page, screenshot):
    _tenant, owner, _member, tea = seed_shop()
    log_in(page, owner)
    open_live(page, "/products/tea-1kg/")
    canvas = page.locator("#price-chart")
    expect(canvas).to_have_attribute("data-points", "5")
    assert page.evaluate("Chart.getChart(document.getElementById('price-chart')) !== undefined")
    rows = page.locator("#price-history-rows tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("23.90 EUR → 24.90 EUR")
    screenshot(page, "product-detail")

    # Changed elsewhere (an integrator's API call, say): this page learns it from the feed.
    off_the_event_loop(services.price_change, product=tea, price="25.40", source=PricePoint.Source.API)

    expect(page.locator(".price-hero")).to_have_text("25.40 EUR", timeout=LIVE_WITHIN_MS)
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("24.90 EUR → 25.40 EUR")
    expect(rows.first).to_contain_text("API")
    expect(canvas).to_have_attribute("data-points", "6")
    assert (
        page.evaluate("Chart.getChart(document.getElementById('price-chart')).data.datasets[0].data.at(-2).y")
        == 25.4
    )


def test_deactivating_asks_in_a_dialog_first(app_url, page: Page):
    _tenant, owner, _member, tea = seed_shop()
    log_in(page, owner)
    page.goto("/products/tea-1kg/edit/")
    page.get_by_role("button", name="Deactivate product…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Visitors will no longer get a quote for Assam tea, 1 kg")
    dialog.get_by_role("button", name="Cancel").click()
    tea.refresh_from_db()
    assert tea.active is True

    page.get_by_role("button", name="Deactivate product…").click()
    dialog.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".messages")).to_contain_text("visitors no longer get a quote for it")
    tea.refresh_from_db()
    assert tea.active is False


def test_a_price_under_test_cannot_be_edited_by_hand(app_url, page: Page):
    _tenant, owner, _member, _tea = seed_shop()
    log_in(page, owner)
    page.goto("/products/coffee-500g/edit/")
    page.get_by_label(re.compile(r"^Base price")).fill("9.90")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Experiment 'coffee-price' is testing this product's price"
    )
    expect(page.get_by_label(re.compile(r"^Base price"))).to_have_value("9.90")
