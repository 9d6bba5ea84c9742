"""The products pages through Django's test client: what owners, viewers and outsiders get."""

import html
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from experiments import services as experiment_services
from pricing import services
from pricing.models import PriceChange, PricePoint, Product
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

TEA = {"sku": "tea-1kg", "name": "Assam tea, 1 kg", "currency": "EUR", "base_price": "24.90"}
VARIANTS = [
    {"key": "control", "price": "24.90", "weight": "0.5", "is_control": True},
    {"key": "higher", "price": "27.90", "weight": "0.5"},
]


@pytest.fixture
def owner(client, alice):
    return log_in(client, alice.user, alice.tenant)


@pytest.fixture
def viewer(client, alice):
    return log_in(client, MembershipFactory(tenant=alice.tenant, role="viewer").user, alice.tenant)


@pytest.fixture
def outsider(client, charlie):
    return log_in(client, charlie.user, charlie.tenant)


@pytest.fixture
def tea(alice):
    return services.product_create(tenant=alice.tenant, **TEA)


def start_experiment(tenant, product, key="tea-price"):
    experiment = experiment_services.experiment_create(
        tenant=tenant, product=product, key=key, name="Tea price test", variants=VARIANTS
    )
    return experiment_services.experiment_start(experiment=experiment)


def field_html(page: str, name: str) -> str:
    """The markup of one form field's wrapper: its label, input and error."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="id_{name}">.*?</div>', page, re.S)
    assert match, f"no field {name} on the page"
    return html.unescape(match.group(0))


def history_rows(page: str) -> list[str]:
    body = re.search(r'<tbody id="price-history-rows">(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


def text_of(response) -> str:
    """The page as a person reads it: entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(response.text).split())


def snapshot(product: Product) -> tuple:
    product.refresh_from_db()
    points = PricePoint.objects.for_tenant(product.tenant_id).filter(product=product).count()
    return product.name, product.base_price, product.active, points


# --- list ----------------------------------------------------------------------------


def test_list_shows_each_product_with_live_price_state_and_experiment(owner, alice, charlie, tea):
    coffee = services.product_create(
        tenant=alice.tenant, sku="coffee-250g", name="Coffee beans", currency="USD", base_price="9.5"
    )
    services.product_update(product=coffee, active=False)
    start_experiment(alice.tenant, tea)
    services.product_create(
        tenant=charlie.tenant, sku="charlies-secret", name="Charlie's", currency="EUR", base_price=1
    )

    page = owner.get(reverse("products")).text

    assert 'data-live-price="tea-1kg">24.90 EUR<' in page
    assert 'data-live-price="coffee-250g">9.50 USD<' in page
    assert "Assam tea, 1 kg" in page and "Coffee beans" in page
    assert '<span class="badge inactive">Inactive</span>' in page
    assert 'href="/experiments/tea-price/"' in page and ">Running</span> tea-price" in page
    assert "New product" in page and reverse("product_new") in page
    assert "charlies-secret" not in page


def test_list_searches_by_name_or_sku_and_filters_by_state(owner, alice, tea):
    services.product_create(tenant=alice.tenant, sku="mug", name="Blue mug", currency="EUR", base_price=8)
    services.product_update(
        product=services.product_create(
            tenant=alice.tenant, sku="old-tea", name="Old tea", currency="EUR", base_price=3
        ),
        active=False,
    )

    by_name = owner.get(reverse("products"), {"q": "mug"}).text
    assert "Blue mug" in by_name and "Assam tea" not in by_name
    by_sku = owner.get(reverse("products"), {"q": "TEA-1"}).text
    assert "Assam tea" in by_sku and "Blue mug" not in by_sku
    inactive = owner.get(reverse("products"), {"state": "inactive"}).text
    assert "Old tea" in inactive and "Assam tea" not in inactive
    active_tea = owner.get(reverse("products"), {"state": "active", "q": "tea"}).text
    assert "Assam tea" in active_tea and "Old tea" not in active_tea
    nothing = owner.get(reverse("products"), {"q": "bicycle"}).text
    assert "No products match “bicycle”" in nothing


def test_an_empty_list_says_what_to_do_next(owner):
    page = owner.get(reverse("products")).text
    assert "No products yet." in page and "New product" in page


def test_viewer_sees_products_but_no_edit_controls(viewer, tea):
    listing = viewer.get(reverse("products")).text
    assert 'data-live-price="tea-1kg"' in listing
    assert "New product" not in listing
    detail = viewer.get(reverse("product_detail", args=["tea-1kg"])).text
    assert "24.90 EUR" in detail
    assert "Edit product" not in detail and reverse("product_edit", args=["tea-1kg"]) not in detail


def test_viewer_empty_list_does_not_offer_to_add(viewer):
    page = viewer.get(reverse("products")).text
    assert "No products yet." in page and "New product" not in page


# --- create --------------------------------------------------------------------------


def test_owner_creates_a_product_and_its_first_price(owner, alice):
    form = owner.get(reverse("product_new")).text
    assert '<option value="EUR" selected>' in form  # nothing yet: the default currency
    assert form.index('value="USD"') < form.index('value="AED"')  # common currencies first

    response = owner.post(
        reverse("product_new"), {**TEA, "currency": "JPY", "base_price": "1200"}, follow=True
    )

    product = Product.objects.for_tenant(alice.tenant).get(sku="tea-1kg")
    assert (product.name, product.currency, product.base_price) == ("Assam tea, 1 kg", "JPY", Decimal("1200"))
    assert response.redirect_chain[-1][0] == reverse("product_detail", args=["tea-1kg"])
    assert "Created Assam tea, 1 kg (tea-1kg) at 1200 JPY." in html.unescape(response.text)
    point = PricePoint.objects.for_tenant(alice.tenant).get(product=product)
    assert (point.source, point.changed_by) == (PricePoint.Source.MANUAL, alice.user)
    # The next product's form proposes the currency this shop uses.
    assert '<option value="JPY" selected>' in owner.get(reverse("product_new")).text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"base_price": "24.999"}, "base_price", "EUR has 2 decimal places; 24.999 has more."),
        ({"base_price": "-3"}, "base_price", "A price must be zero or more."),
        ({"base_price": "cheap"}, "base_price", "'cheap' is not a number."),
        ({"currency": "JPY", "base_price": "12.5"}, "base_price", "JPY has 0 decimal places"),
        ({"currency": "XAU"}, "currency", "Select a valid choice."),
        ({"sku": "has space"}, "sku", "Use letters, digits"),
        ({"sku": "new"}, "sku", "reserved"),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_invalid_product_shows_the_error_next_to_its_field(owner, alice, change, field, message):
    response = owner.post(reverse("product_new"), {**TEA, **change})

    assert response.status_code == 400
    assert message in field_html(response.text, field)
    typed = {**TEA, **change}
    for kept in ("sku", "name", "base_price"):
        if typed[kept]:
            assert f'value="{html.escape(typed[kept])}"' in response.text
    assert not Product.objects.for_tenant(alice.tenant).exists()


def test_a_duplicate_sku_is_refused_next_to_the_sku(owner, alice, tea):
    response = owner.post(reverse("product_new"), {**TEA, "name": "Another tea"})
    assert response.status_code == 400
    assert "A product with sku 'tea-1kg' already exists." in field_html(response.text, "sku")
    assert Product.objects.for_tenant(alice.tenant).get().name == "Assam tea, 1 kg"


# --- detail --------------------------------------------------------------------------


def test_detail_shows_the_price_big_and_its_history_newest_first(owner, alice, tea):
    services.price_change(product=tea, price="27.90", source=PricePoint.Source.MANUAL, changed_by=alice.user)
    services.price_change(product=tea, price="26.50", source=PricePoint.Source.API, api_key_id=alice.key.pk)

    page = owner.get(reverse("product_detail", args=["tea-1kg"])).text

    assert 'data-live-price="tea-1kg">26.50 EUR<' in page
    rows = history_rows(page)
    assert len(rows) == 3
    assert "27.90 EUR → 26.50 EUR" in rows[0] and "API" in rows[0] and alice.key.prefix in rows[0]
    assert "24.90 EUR → 27.90 EUR" in rows[1] and "Manual edit" in rows[1] and alice.user.email in rows[1]
    assert "first price" in rows[2]
    chart = json.loads(re.search(r'id="price-history-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert [p["price"] for p in chart["points"]] == ["24.90", "27.90", "26.50"]  # oldest first
    assert (chart["sku"], chart["currency"], chart["decimals"]) == ("tea-1kg", "EUR", 2)
    assert "price-history.js" in page and "chart.umd.min.js" in page
    assert "None" in page and "Every visitor gets the base price" in page


def test_detail_names_the_experiment_testing_the_product(owner, alice, tea):
    experiment = start_experiment(alice.tenant, tea)
    page = text_of(owner.get(reverse("product_detail", args=["tea-1kg"])))
    assert 'href="/experiments/tea-price/"' in page
    assert "is running on this product: visitors in it are quoted its variants' prices" in page
    experiment_services.experiment_pause(experiment=experiment)
    page = text_of(owner.get(reverse("product_detail", args=["tea-1kg"])))
    assert "is paused on this product: every visitor gets the base price until it resumes" in page


def test_an_unknown_sku_is_404(owner):
    assert owner.get(reverse("product_detail", args=["nothing-here"])).status_code == 404


# --- edit ----------------------------------------------------------------------------


def test_owner_changes_the_price_and_it_is_recorded_and_announced(
    owner, alice, tea, django_capture_on_commit_callbacks
):
    form = owner.get(reverse("product_edit", args=["tea-1kg"])).text
    assert 'value="24.90"' in form and "Base price (EUR)" in form

    with django_capture_on_commit_callbacks(execute=False):
        response = owner.post(
            reverse("product_edit", args=["tea-1kg"]), {"name": TEA["name"], "price": "27.9"}, follow=True
        )

    assert "tea-1kg: price changed from 24.90 EUR to 27.90 EUR." in html.unescape(response.text)
    tea.refresh_from_db()
    assert tea.base_price == Decimal("27.90")
    assert "24.90 EUR → 27.90 EUR" in history_rows(response.text)[0]
    latest = PricePoint.objects.for_tenant(alice.tenant).filter(product=tea).latest("valid_from")
    assert (latest.source, latest.changed_by) == (PricePoint.Source.MANUAL, alice.user)
    change = PriceChange.objects.for_tenant(alice.tenant).latest("version")
    assert (change.sku, change.price, change.previous_price, change.source) == (
        "tea-1kg",
        Decimal("27.90"),
        Decimal("24.90"),
        "manual",
    )


def test_a_rename_alone_adds_nothing_to_the_price_history(owner, alice, tea):
    response = owner.post(
        reverse("product_edit", args=["tea-1kg"]), {"name": "Assam, 1 kg", "price": "24.90"}, follow=True
    )
    assert "tea-1kg: renamed to Assam, 1 kg." in html.unescape(response.text)
    assert snapshot(tea) == ("Assam, 1 kg", Decimal("24.90"), True, 1)


def test_an_invalid_price_is_shown_next_to_the_field_and_kept(owner, tea):
    response = owner.post(reverse("product_edit", args=["tea-1kg"]), {"name": "Renamed", "price": "24.999"})
    assert response.status_code == 400
    assert "EUR has 2 decimal places; 24.999 has more." in field_html(response.text, "price")
    assert 'value="24.999"' in response.text and 'value="Renamed"' in response.text
    assert snapshot(tea) == (TEA["name"], Decimal("24.90"), True, 1)


def test_a_running_experiment_refuses_a_hand_edit_with_a_clear_message(owner, alice, tea):
    start_experiment(alice.tenant, tea)
    form = owner.get(reverse("product_edit", args=["tea-1kg"])).text
    assert "cannot be changed by hand until the experiment is completed" in form

    response = owner.post(reverse("product_edit", args=["tea-1kg"]), {"name": "Renamed", "price": "29.90"})

    assert response.status_code == 409
    text = html.unescape(response.text)
    assert "The price was not changed." in text
    assert "Experiment 'tea-price' is testing this product's price." in text
    assert 'role="alert"' in response.text and 'href="/experiments/tea-price/"' in response.text
    assert 'value="29.90"' in response.text  # what was typed stays
    assert snapshot(tea) == (TEA["name"], Decimal("24.90"), True, 1)  # the rename was not half-applied


def test_a_paused_experiment_also_holds_the_price_but_renaming_works(owner, alice, tea):
    experiment_services.experiment_pause(experiment=start_experiment(alice.tenant, tea))
    refused = owner.post(reverse("product_edit", args=["tea-1kg"]), {"name": TEA["name"], "price": "1"})
    assert refused.status_code == 409 and "is testing this product's price" in html.unescape(refused.text)
    renamed = owner.post(reverse("product_edit", args=["tea-1kg"]), {"name": "Assam", "price": "24.90"})
    assert renamed.status_code == 302
    assert snapshot(tea) == ("Assam", Decimal("24.90"), True, 1)


def test_deactivating_asks_first_then_stops_quotes_and_activating_restores(owner, api, alice, tea):
    form = html.unescape(owner.get(reverse("product_edit", args=["tea-1kg"])).text)
    assert 'data-confirm="Visitors will no longer get a quote for Assam tea, 1 kg' in form

    response = owner.post(reverse("product_active", args=["tea-1kg"]), {"active": "false"}, follow=True)

    assert "Assam tea, 1 kg is inactive: visitors no longer get a quote for it." in html.unescape(
        response.text
    )
    assert snapshot(tea)[2] is False
    quote = api.post(
        "/api/v1/quote/", {"visitor_id": "v1", "products": ["tea-1kg"]}, format="json", **alice.auth
    )
    assert quote.json()["items"][0]["error"]["code"] == "unknown_product"
    assert "Activate product" in owner.get(reverse("product_edit", args=["tea-1kg"])).text

    owner.post(reverse("product_active", args=["tea-1kg"]), {"active": "true"})
    assert snapshot(tea)[2] is True
    assert owner.post(reverse("product_active", args=["tea-1kg"]), {"active": "maybe"}).status_code == 400
    assert snapshot(tea)[2] is True


# --- who may do what -----------------------------------------------------------------


def test_viewer_cannot_create_edit_or_deactivate(viewer, alice, tea):
    before = snapshot(tea)
    assert viewer.get(reverse("product_new")).status_code == 403
    assert viewer.get(reverse("product_edit", args=["tea-1kg"])).status_code == 403
    assert viewer.post(reverse("product_new"), {**TEA, "sku": "other"}).status_code == 403
    edit = viewer.post(reverse("product_edit", args=["tea-1kg"]), {"name": "Hacked", "price": "0.01"})
    assert edit.status_code == 403
    assert viewer.post(reverse("product_active", args=["tea-1kg"]), {"active": "false"}).status_code == 403
    assert snapshot(tea) == before
    assert list(Product.objects.for_tenant(alice.tenant).values_list("sku", flat=True)) == ["tea-1kg"]


def test_an_outsider_gets_404_for_another_tenants_product_and_changes_nothing(outsider, charlie, tea):
    own = services.product_create(tenant=charlie.tenant, **{**TEA, "sku": "charlie-tea", "name": "Charlie's"})
    before = snapshot(tea)
    for name in ("product_detail", "product_edit"):
        assert outsider.get(reverse(name, args=["tea-1kg"])).status_code == 404
    edit = outsider.post(reverse("product_edit", args=["tea-1kg"]), {"name": "Mine", "price": "0.01"})
    assert edit.status_code == 404
    assert outsider.post(reverse("product_active", args=["tea-1kg"]), {"active": "false"}).status_code == 404
    assert snapshot(tea) == before
    listing = outsider.get(reverse("products")).text
    assert "tea-1kg" not in listing and own.sku in listing


def test_the_same_sku_in_two_tenants_opens_each_ones_own(outsider, charlie, tea):
    services.product_create(tenant=charlie.tenant, **{**TEA, "name": "Charlie's tea", "base_price": "3.00"})
    page = outsider.get(reverse("product_detail", args=["tea-1kg"])).text
    assert "Charlie&#x27;s tea" in page and "3.00 EUR" in page and "Assam" not in page


def test_anonymous_visitors_are_sent_to_log_in(client, tea):
    response = client.get(reverse("product_detail", args=["tea-1kg"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
