"""The Content-Security-Policy in a real browser: every main page, the API docs and Django
admin load and work without a single violation, and the live board still updates over
WebSocket under the policy. Also a storefront page on another origin quoting with a
publishable key, and refused a secret key."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from e2e.helpers import log_in, member, off_the_event_loop
from pricing import services as pricing_services
from tenants import services as tenant_services
from tenants.models import KeyKind, User
from tenants.tests import dashboard_data as data
from tenants.tests.factories import PASSWORD
from tenants.tests.helpers import current_code

PAGES = [
    "/",
    "/products/",
    "/products/tea/",
    "/products/tea/edit/",
    "/experiments/",
    "/experiments/tea-price/",
    "/experiments/new/",
    "/keys/",
    "/webhooks/",
    "/team/",
    "/billing/",
]
# Collects what the browser reports: securitypolicyviolation events in the page, and the
# console's CSP messages (for violations in workers or before the listener is attached).
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


class Violations:
    def __init__(self, page: Page):
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH)
        page.on(
            "console",
            lambda message: (
                self.console.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

    def assert_none(self, where: str) -> None:
        seen = self.page.evaluate("window.__csp || []") + self.console
        assert not seen, f"{where}: CSP violations: {seen}"
        self.console.clear()


def _shop(tenant):
    tea = data.product(tenant, "tea", "9.90", "Loose-leaf tea")
    data.running_experiment(
        tenant, tea, "tea-price", "Tea price", {"control": (400, 20), "higher": (380, 25)}
    )
    data.usage(tenant, quotes=640, events=120)
    data.product(tenant, "mug", "14.00", "Mug")


@pytest.fixture
def owner(app_url):
    owner = member(role="owner", tenant_name="Harbour Tea")
    off_the_event_loop(_shop, owner.tenant)
    return owner


def test_the_main_pages_load_without_a_csp_violation(owner, page: Page):
    violations = Violations(page)
    log_in(page, owner)
    for path in PAGES:
        response = page.goto(path)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # scripts, charts and the live feed start
        violations.assert_none(path)
    # The meters got their width from app.js, not from a style attribute.
    page.goto("/billing/")
    width = page.locator(".meter > span").first.evaluate("(el) => el.style.width")
    assert width.endswith("%") and width != "0%"


def test_the_live_board_updates_over_websocket_under_the_policy(owner, page: Page):
    violations = Violations(page)
    log_in(page, owner)
    page.goto("/products/")
    status = page.locator("[data-live-status]")
    expect(status).to_have_attribute("data-state", "live", timeout=10_000)
    assert status.get_attribute("data-transport") == "ws"
    off_the_event_loop(
        lambda: pricing_services.price_change(
            product=owner.tenant.products.get(sku="mug"), price="15.20", source="api"
        )
    )
    expect(page.locator('[data-live-price="mug"]')).to_contain_text("15.20", timeout=5_000)
    violations.assert_none("live board")


def test_the_api_docs_load_and_run_without_a_csp_violation(owner, page: Page):
    violations = Violations(page)
    log_in(page, owner)
    page.goto("/api/docs/")
    expect(page.get_by_text("Pricelab API").first).to_be_visible(timeout=10_000)
    expect(page.locator(".opblock").first).to_be_visible()
    violations.assert_none("/api/docs/")


def test_django_admin_loads_and_its_scripts_work_without_a_csp_violation(owner, page: Page):
    def staff_with_authenticator():
        staff = User.objects.create_superuser("staff-csp@example.com", PASSWORD)
        device, _ = tenant_services.staff_two_factor_enrol(user=staff)
        return device

    device = off_the_event_loop(staff_with_authenticator)
    violations = Violations(page)
    page.goto("/admin/login/")
    page.get_by_label("Email").fill("staff-csp@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authentication code").fill(current_code(device))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    violations.assert_none("/admin/")
    page.goto("/admin/tenants/tenant/")
    # The changelist's "select all" checkbox is admin JavaScript (actions.js).
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_be_visible()
    violations.assert_none("/admin/tenants/tenant/")
    page.goto("/admin/tenants/tenant/add/")
    page.wait_for_load_state("load")
    violations.assert_none("/admin/tenants/tenant/add/")


STOREFRONT = b"<!doctype html><title>Storefront</title><p>A shop on another origin.</p>"


class _Storefront(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(STOREFRONT)

    def log_message(self, *args):
        pass


@pytest.fixture
def storefront():
    """A page on another origin, served from loopback like the product (Chrome refuses a
    page it thinks public the way into a loopback address)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Storefront)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


QUOTE = """async ([url, key]) => {
  const response = await fetch(url, {method: "POST", headers: {"Authorization": `Bearer ${key}`,
    "Content-Type": "application/json"}, body: JSON.stringify({visitor_id: "v1", products: ["tea"]})});
  return [response.status, await response.json()];
}"""


def test_a_storefront_on_another_origin_quotes_with_a_publishable_key(owner, page: Page, app_url, storefront):
    """Another origin's page calls the API through CORS: a publishable key from an allowed
    origin quotes; a secret key is refused with a code the page can read."""

    def setup():
        tenant_services.tenant_origins_set(tenant=owner.tenant, origins=[storefront])
        _, publishable = tenant_services.api_key_create(
            tenant=owner.tenant, name="Web", kind=KeyKind.PUBLISHABLE
        )
        _, secret = tenant_services.api_key_create(tenant=owner.tenant, name="Server", scopes=["read"])
        return publishable, secret

    publishable, secret = off_the_event_loop(setup)
    page.goto(f"{storefront}/")
    status, body = page.evaluate(QUOTE, [f"{app_url}/api/v1/quote/", publishable])
    assert status == 200 and body["items"][0]["sku"] == "tea"
    status, body = page.evaluate(QUOTE, [f"{app_url}/api/v1/quote/", secret])
    assert status == 403 and body["code"] == "secret_key_from_browser"
