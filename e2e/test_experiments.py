"""Experiments in the browser: designing one with its variant rows and calculator, starting
it through the confirmation dialog, results that rise while the page is open as traffic
arrives through the real API, and the charts drawn."""

import json
import re
import urllib.request
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from e2e.helpers import log_in
from experiments import services
from experiments.models import Experiment
from experiments.stats import sample_size_per_variant
from experiments.tests.traffic import traffic_seed
from pricing import services as pricing_services
from tenants.tests.factories import MembershipFactory, api_key_for

# Beat flushes exposures every 2 s and the page polls every 5 s: a little over both, twice.
LIVE_TIMEOUT_MS = 15_000
CHARTS = ("chart-conversion", "chart-revenue", "chart-uplift", "chart-cumulative")
TEA = {"sku": "tea", "name": "Loose-leaf tea", "currency": "EUR", "base_price": "10.00"}


def post_api(app_url: str, secret: str, path: str, body: dict) -> dict:
    """What an integrator's server does: a JSON POST with its API key."""
    request = urllib.request.Request(
        f"{app_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def charts_drawn(page: Page) -> list[str]:
    """The ids of result charts that Chart.js owns and that have painted pixels."""
    return page.evaluate(
        """(ids) => ids.filter((id) => {
            const canvas = document.getElementById(id);
            if (!canvas || !window.Chart || !Chart.getChart(canvas)) return false;
            const { width, height } = canvas;
            const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
            return false;
        })""",
        list(CHARTS),
    )


def two_variants(tenant, product, key="tea-price", name="Tea price", **extra):
    return services.experiment_create(
        tenant=tenant,
        product=product,
        key=key,
        name=name,
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "12.00", "weight": "0.5"},
        ],
        **extra,
    )


def test_results_rise_while_the_page_is_open(app_url, page: Page):
    owner = MembershipFactory()
    tenant = owner.tenant
    product = pricing_services.product_create(tenant=tenant, **TEA)
    services.experiment_start(experiment=two_variants(tenant, product))
    _, secret = api_key_for(tenant)

    log_in(page, owner.user)
    page.goto("/experiments/tea-price/")
    expect(page.locator("#total-visitors")).to_have_text("0")
    expect(page.locator("#verdict")).to_contain_text("Collecting data")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-uplift'))")
    assert charts_drawn(page) == list(CHARTS)
    page.evaluate("() => { window.stillTheSamePage = true; }")

    visitors = [f"shopper-{i}" for i in range(24)]
    seen = {}
    for visitor in visitors:
        quote = post_api(app_url, secret, "/api/v1/quote/", {"visitor_id": visitor, "products": ["tea"]})
        item = quote["items"][0]
        assert item["experiment"] == "tea-price"
        seen[visitor] = item["variant"]
    buyers = visitors[:5]
    events = [
        {
            "type": "conversion",
            "visitor_id": visitor,
            "experiment": "tea-price",
            "revenue": "12.00" if seen[visitor] == "higher" else "10.00",
            "idempotency_key": f"order-{visitor}",
        }
        for visitor in buyers
    ]
    assert post_api(app_url, secret, "/api/v1/events/", {"events": events})["accepted"] == len(buyers)

    expect(page.locator("#total-visitors")).to_have_text("24", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#total-conversions")).to_have_text("5", timeout=LIVE_TIMEOUT_MS)
    for key in ("control", "higher"):
        count = sum(1 for v in seen.values() if v == key)
        cell = page.locator(f'.results-table tr[data-variant="{key}"] [data-visitors]').first
        expect(cell).to_have_text(str(count))
    assert page.evaluate("() => window.stillTheSamePage") is True  # updated in place, no reload
    # The charts took the new numbers: the cumulative chart now has a day with visitors.
    cumulative = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-cumulative')).data.datasets"
        ".map((set) => set.data.length)"
    )
    assert len(cumulative) == 2 and all(days >= 1 for days in cumulative)
    assert charts_drawn(page) == list(CHARTS)


def test_design_an_experiment_with_the_calculator_then_start_it(app_url, page: Page, screenshot):
    owner = MembershipFactory()
    pricing_services.product_create(tenant=owner.tenant, **TEA)
    log_in(page, owner.user)

    page.goto("/experiments/")
    expect(page.get_by_text("No experiments yet")).to_be_visible()
    page.get_by_role("link", name="Design your first experiment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New experiment")

    page.get_by_label("Name", exact=True).fill("Premium tea pricing")
    page.get_by_label("Key", exact=True).fill("premium-tea")
    page.get_by_label("Hypothesis").fill("Tea lovers will pay 20 % more for loose-leaf tea.")
    page.get_by_label("Product", exact=True).select_option(label="Loose-leaf tea (tea) · 10.00 EUR")
    expect(page.get_by_label("Price of variant 1")).to_have_value("10.00")  # today's price for the control
    page.get_by_label("Key of variant 2").fill("higher")
    page.get_by_label("Price of variant 2").fill("11.50")
    page.get_by_role("button", name="Add a variant").click()
    page.get_by_label("Key of variant 3").fill("premium")
    page.get_by_label("Price of variant 3").fill("12.90")
    expect(page.get_by_label("Weight of variant 3")).to_have_value("0.33334")
    expect(page.locator("[data-weight-total]")).to_contain_text("add up to 1 ✓")
    page.get_by_label("Weight of variant 1").fill("0.5")
    expect(page.locator("[data-weight-total]")).to_contain_text("must add up to 1")
    page.get_by_role("button", name="Split evenly").click()
    expect(page.locator("[data-weight-total]")).to_contain_text("add up to 1 ✓")

    # The calculator follows the design (three variants) and recomputes as the person types.
    expect(page.get_by_label("Variants (with control)")).to_have_value("3")
    page.get_by_label("Baseline conversion rate (%)").fill("4")
    page.get_by_label("Minimum detectable effect (relative, %)").fill("15")
    needed = sample_size_per_variant(baseline_rate=0.04, relative_mde=0.15, power=0.8)
    expect(page.locator("#calc-per-variant")).to_have_text(f"{needed:,}")
    page.get_by_label("Visitors a day (optional)").fill("1200")
    expect(page.locator("#calc-days")).to_contain_text(f"{-(-needed * 3 // 1200)} days")
    page.get_by_role("button", name=re.compile("as target sample size")).click()
    expect(page.get_by_label("Target visitors per variant (optional)")).to_have_value(str(needed))
    page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar stays at the top of the picture
    screenshot(page, "experiment-new")

    page.get_by_role("button", name="Create draft").click()
    expect(page).to_have_url(re.compile(r"/experiments/premium-tea/$"))
    expect(page.get_by_text("Created the draft “Premium tea pricing”")).to_be_visible()

    page.get_by_role("button", name="Start experiment").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("split between 3 variants")
    dialog.get_by_role("button", name="Start experiment").click()
    expect(page.get_by_text("Started “Premium tea pricing”")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("Running")
    experiment = Experiment.objects.for_tenant(owner.tenant).get(key="premium-tea")
    assert experiment.status == "running" and experiment.target_sample_size == needed


def test_screenshots_of_the_list_and_results(app_url, page: Page, screenshot):
    owner = MembershipFactory()
    tenant = owner.tenant
    tea = pricing_services.product_create(tenant=tenant, **TEA)
    coffee = pricing_services.product_create(
        tenant=tenant, sku="coffee", name="House coffee beans", currency="EUR", base_price="8.90"
    )
    cocoa = pricing_services.product_create(
        tenant=tenant, sku="cocoa", name="Drinking chocolate", currency="EUR", base_price="6.50"
    )
    running = services.experiment_create(
        tenant=tenant,
        product=tea,
        key="tea-price-2026",
        name="Tea: how high can we go?",
        hypothesis="Regulars buy loose-leaf tea for its taste, not its price: up to 12.90 EUR keeps them.",
        primary_metric=Experiment.Metric.REVENUE_PER_VISITOR,
        target_sample_size=5000,
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.34", "is_control": True},
            {"key": "eleven-fifty", "price": "11.50", "weight": "0.33"},
            {"key": "twelve-ninety", "price": "12.90", "weight": "0.33"},
        ],
    )
    running = services.experiment_start(experiment=running)
    Experiment.objects.for_tenant(tenant).filter(pk=running.pk).update(
        started_at=timezone.now() - timedelta(days=12)
    )
    traffic_seed(
        running,
        {"control": (3400, 177, None), "eleven-fifty": (3300, 165, None), "twelve-ninety": (3300, 135, None)},
        days=12,
    )
    done = services.experiment_start(
        experiment=services.experiment_create(
            tenant=tenant,
            product=coffee,
            key="coffee-charm-price",
            name="Coffee: 8.90 or 8.99?",
            variants=[
                {"key": "control", "price": "8.90", "weight": "0.5", "is_control": True},
                {"key": "charm", "price": "8.99", "weight": "0.5"},
            ],
        )
    )
    services.experiment_complete(experiment=done, winner_key="charm", rollout=True)
    two_variants(tenant, cocoa, key="cocoa-winter", name="Cocoa winter price")
    matcha = pricing_services.product_create(
        tenant=tenant, sku="matcha", name="Ceremonial matcha", currency="EUR", base_price="24.00"
    )
    fresh = services.experiment_create(
        tenant=tenant,
        product=matcha,
        key="matcha-bundle",
        name="Matcha: a round price",
        variants=[
            {"key": "control", "price": "24.00", "weight": "0.5", "is_control": True},
            {"key": "round", "price": "25.00", "weight": "0.5"},
        ],
    )
    traffic_seed(
        services.experiment_start(experiment=fresh), {"control": (61, 4, None), "round": (58, 3, None)}
    )

    log_in(page, owner.user)
    page.goto("/experiments/")
    expect(page.locator(".tabs a[aria-current=page]")).to_contain_text("Running")
    expect(page.get_by_role("link", name="Tea: how high can we go?")).to_be_visible()
    expect(page.get_by_role("cell", name="10,000")).to_be_visible()
    expect(page.get_by_text("Collecting data")).to_be_visible()  # the matcha test is too young
    screenshot(page, "experiments-list")

    page.get_by_role("link", name="Tea: how high can we go?").click()
    expect(page.locator("#total-visitors")).to_have_text("10,000")
    page.wait_for_function(
        "() => window.Chart && ['chart-conversion','chart-revenue','chart-uplift','chart-cumulative']"
        ".every((id) => Chart.getChart(document.getElementById(id)))"
    )
    page.wait_for_timeout(600)  # the charts' first animation
    assert charts_drawn(page) == list(CHARTS)
    days = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-cumulative')).data.labels.length"
    )
    assert days >= 12
    screenshot(page, "experiment-results")
