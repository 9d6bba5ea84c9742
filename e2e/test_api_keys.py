"""An owner issues a key in the browser, copies it, and it works against the API at once;
revoked, it stops working at once."""

import json
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

from e2e.helpers import assert_accessible, log_in, member


def _api(app_url: str, path: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{app_url}{path}", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_key_created_and_copied_in_the_browser_works_against_the_api(app_url, page: Page, screenshot):
    owner = member(role="owner", tenant_name="Fjord Coffee")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, owner)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Checkout server")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Your new key “Checkout server”")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("pl_")
    assert copied == page.get_by_test_id("new-secret").input_value()
    screenshot(page, "api-keys")
    assert_accessible(page)

    status, body = _api(app_url, "/api/v1/tenant/", copied)
    assert status == 200
    assert body["name"] == "Fjord Coffee"

    # Shown once: a reload shows the key's prefix, never the secret.
    page.goto("/keys/")
    expect(page.get_by_text(copied[:11] + "…")).to_be_visible()
    assert copied not in page.content()

    page.get_by_role("link", name="Revoke Checkout server").click()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("It stops working now.")).to_be_visible()
    status, body = _api(app_url, "/api/v1/tenant/", copied)
    assert (status, body["code"]) == (401, "api_key_revoked")
