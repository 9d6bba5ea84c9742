"""The journey the issue names, in one browser: sign up, add a product, design an
experiment, start it, send simulated shoppers through the API, and watch the results
arrive on the open page."""

import re

from django.core.management import call_command
from playwright.sync_api import Page, expect

from e2e.helpers import assert_accessible, off_the_event_loop
from experiments.models import Conversion, Experiment

# Within the Free plan's 60 API requests a minute: one quote per shopper, one event batch.
SHOPPERS = 50
# Exposures are flushed by beat every 2 s and the results poll every 5 s.
RESULTS_TIMEOUT_MS = 20_000


def test_sign_up_to_live_results(app_url, page: Page, screenshot):
    page.goto("/signup/")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Work email").fill("grace@example.com")
    page.get_by_label("Password").fill("correct horse battery staple 42")
    page.get_by_label("Company or shop name").fill("Harbour Tea")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/$"))

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Products").click()
    page.get_by_role("link", name="New product").first.click()
    page.get_by_label("SKU").fill("tea-1kg")
    page.get_by_label("Name").fill("Assam tea, 1 kg")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Base price").fill("24.90")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_text("24.90 EUR").first).to_be_visible()

    nav.get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name=re.compile("experiment", re.IGNORECASE)).filter(
        has_text=re.compile("first|new", re.IGNORECASE)
    ).first.click()
    page.get_by_label("Name", exact=True).fill("Assam price test")
    page.get_by_label("Key", exact=True).fill("assam-price")
    page.get_by_label("Product", exact=True).select_option(label="Assam tea, 1 kg (tea-1kg) · 24.90 EUR")
    expect(page.get_by_label("Price of variant 1")).to_have_value("24.90")
    page.get_by_label("Key of variant 2").fill("higher")
    page.get_by_label("Price of variant 2").fill("27.90")
    page.get_by_role("button", name="Create draft").click()
    expect(page).to_have_url(re.compile(r"/experiments/assam-price/$"))

    page.get_by_role("button", name="Start experiment").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Start experiment").click()
    expect(page.locator("h1 .badge")).to_have_text("Running")
    expect(page.locator("#total-visitors")).to_have_text("0")

    # An integrator's traffic, over HTTP against the live server, while the page stays open.
    off_the_event_loop(
        call_command,
        "simulate_traffic",
        experiment="assam-price",
        visitors=SHOPPERS,
        base_url=app_url,
        rate=0.3,
        seed=7,
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    expect(page.locator("#total-visitors")).to_have_text(str(SHOPPERS), timeout=RESULTS_TIMEOUT_MS)
    experiment = Experiment.objects.unscoped().get(key="assam-price", tenant__name="Harbour Tea")
    converted = (
        Conversion.objects.for_tenant(experiment.tenant_id)
        .filter(experiment=experiment)
        .values("visitor_id")
        .distinct()
        .count()
    )
    assert converted > 0
    expect(page.locator("#total-conversions")).to_have_text(str(converted), timeout=RESULTS_TIMEOUT_MS)
    expect(page.locator("#verdict")).not_to_be_empty()
    assert_accessible(page)
