"""The shell every page shares: signing up lands in a working, navigable product."""

import re

from playwright.sync_api import Page, expect

from e2e.helpers import assert_accessible


def test_signup_lands_on_the_dashboard_with_navigation(app_url, page: Page, screenshot):
    page.goto("/signup/")
    assert_accessible(page)
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Work email").fill("ada@example.com")
    page.get_by_label("Password").fill("correct horse battery staple 42")
    page.get_by_label("Company or shop name").fill("Analytical Engines")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Analytical Engines")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    screenshot(page, "dashboard-new-workspace")
    assert_accessible(page)
