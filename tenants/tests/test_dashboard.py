"""The dashboard as customers read it: usage against the plan, running experiments with their
leader, the live price board, recent price changes and the first-run checklist."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.services import account_plan_set
from experiments import services as experiment_services
from experiments.selectors import variant_totals, variant_totals_of_many
from pricing import services as pricing_services
from pricing.models import PricePoint
from tenants.models import Role
from tenants.tests import dashboard_data as data
from tenants.tests.dashboard_data import VARIANTS
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

# Session, person, plan, usage, products, experiments and their totals (variants, visitors,
# conversions, in a transaction of their own: 6), changes, checklist, team and the workspace
# switcher: 17 today, with a little room.
DASHBOARD_MAX_QUERIES = 19


def product(party, sku, price, name=None):
    return data.product(party.tenant, sku, price, name)


def running_experiment(party, prod, key, name, split, target=400):
    return data.running_experiment(party.tenant, prod, key, name, split, target)


def usage(party, *, quotes: int, events: int) -> None:
    data.usage(party.tenant, quotes=quotes, events=events)


def text_of(html: str) -> str:
    """The page's words, as a person reads them: tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" ,", ",")


def dashboard(client, party):
    client.force_login(party.user)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response.text


@pytest.fixture
def shop(alice):
    """Alice's shop: two products, a repriced coffee, a running tea experiment, 85 % of Free used."""
    tea = product(alice, "tea", "10.00", "Green tea")
    coffee = product(alice, "coffee", "4.50", "Coffee beans")
    pricing_services.price_change(product=coffee, price="5.00", source=PricePoint.Source.MANUAL)
    # 10 % of control's visitors buy, 20 % of the higher price's: the higher price leads.
    running_experiment(
        alice, tea, "tea-price", "Tea at 12 euros", {"control": (200, 20), "higher": (200, 40)}
    )
    usage(alice, quotes=700, events=150)
    return alice


def test_the_dashboard_shows_usage_against_the_plan_as_a_warning_meter(client, shop):
    html = dashboard(client, shop)
    words = text_of(html)
    assert "850 of 1,000 units 85 %" in words
    assert "Nearing the limit" in words
    assert 'class="meter warn"' in html and 'data-width="85"' in html
    assert "700 quotes · 150 events · Free plan" in words
    assert "150 units left this month." in words
    assert "quotes keep answering with base prices (experiments are skipped) and events are refused" in words
    assert f'href="{reverse("billing")}"' in html


def test_the_dashboard_names_the_leader_of_each_running_experiment(client, shop):
    words = text_of(dashboard(client, shop))
    assert "Tea at 12 euros on Green tea" in words
    assert "Leading on conversion rate: Higher price at 12.00 EUR" in words
    # +100 % with a standard error of 0.51: 97.5 % chance to beat control.
    assert "+100.0 % uplift, 97.5 % chance to beat control" in words
    assert "400 visitors · 50 % of the target (400 a variant)" in words
    assert 'href="/experiments/tea-price/"' in dashboard(client, shop)


def test_when_control_leads_the_dashboard_says_so_with_the_best_challenger(client, alice):
    tea = product(alice, "tea", "10.00", "Green tea")
    running_experiment(
        alice, tea, "tea-price", "Tea at 12", {"control": (300, 60), "higher": (300, 30)}, None
    )
    words = text_of(dashboard(client, alice))
    assert "Leading on conversion rate: Control (control) at 10.00 EUR" in words
    assert "Best challenger Higher price: -50.0 %" in words
    assert "600 visitors so far · no target set" in words


def test_the_live_board_lists_every_product_on_sale_with_its_price_and_last_move(client, shop):
    product(shop, "mug", "8.00", "Mug")
    pricing_services.product_update(
        product=pricing_services.product_create(
            tenant=shop.tenant, sku="old", name="Retired", currency="EUR", base_price="1.00"
        ),
        active=False,
    )
    html = dashboard(client, shop)
    assert 'data-live-price="tea">10.00 EUR<' in html
    assert 'data-live-price="coffee">5.00 EUR<' in html
    assert 'data-live-price="mug">8.00 EUR<' in html
    assert 'data-live-price="old"' not in html
    assert "data-live-status" in html and "js/live.js" in html and "js/dashboard.js" in html
    words = text_of(html)
    assert "Coffee beans coffee 5.00 EUR ▲ up from 4.50 EUR" in words
    assert "Testing tea-price" in words  # the tea's price is under test


def test_recent_price_changes_show_what_changed_newest_first(client, shop):
    html = dashboard(client, shop)
    recent = html[html.index('id="recent-changes"') :]
    words = text_of(recent)
    started = words.index("tea Experiment started · tea-price 10.00 EUR")
    repriced = words.index("coffee Manual edit 4.50 EUR → 5.00 EUR")
    created = words.index("coffee Product created 4.50 EUR")
    assert started < repriced < created
    assert 'data-max="10"' in recent
    assert 'id="price-source-labels"' in html


def test_recent_changes_keep_a_fixed_length(client, alice):
    tea = product(alice, "tea", "1.00")
    for cents in range(2, 20):
        pricing_services.price_change(product=tea, price=f"{cents}.00", source=PricePoint.Source.API)
    html = dashboard(client, alice)
    recent = html[
        html.index('id="recent-changes"') : html.index("</tbody>", html.index('id="recent-changes"'))
    ]
    assert recent.count("<tr data-version=") == 10
    # The newest ten of nineteen: the moves up to 10.00 EUR and beyond.
    assert '→ <strong class="up">10.00 EUR</strong>' in recent
    assert '→ <strong class="up">9.00 EUR</strong>' not in recent


def test_a_new_workspace_gets_the_first_run_checklist(client):
    owner = MembershipFactory().user  # a tenant with nothing yet: no product, key or experiment
    client.force_login(owner)
    words = text_of(client.get(reverse("dashboard")).text)
    assert "Get started with Pricelab 0 of 3 done" in words
    assert "1 Add a product and its price Add a product" in words
    assert "2 Create an API key for your storefront Create a key" in words
    assert "3 Start a price experiment Design an experiment" in words
    assert "No products on sale yet" in words
    assert "No experiment is running" in words
    assert "No price changes yet" in words
    assert "0 of 1,000 units 0 %" in words
    assert '"products": ["your-sku"]' in client.get(reverse("dashboard")).text.replace("&quot;", '"')


def test_each_checklist_step_is_ticked_when_done_and_the_list_goes_when_all_are(client, alice):
    # Alice's workspace has a key (conftest) but no product or experiment yet.
    words = text_of(dashboard(client, alice))
    assert "1 of 3 done" in words
    assert "✓ Create an API key for your storefront Done" in words
    tea = product(alice, "tea", "10.00")
    words = text_of(dashboard(client, alice))
    assert "2 of 3 done" in words and "✓ Add a product and its price Done" in words
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=tea, key="t", name="T", variants=VARIANTS
    )
    assert "2 of 3 done" in text_of(dashboard(client, alice))  # designed is not started
    experiment_services.experiment_start(experiment=experiment)
    words = text_of(dashboard(client, alice))
    assert "Get started with Pricelab" not in words
    assert "curl -H" in words and "/api/v1/quote/" in words  # the snippet stays, with a real sku
    assert '"products": ["tea"]' in dashboard(client, alice).replace("&quot;", '"')


def test_a_viewer_sees_the_dashboard_without_controls_to_change_anything(client, alice):
    viewer = MembershipFactory(tenant=alice.tenant, role=Role.VIEWER).user
    product(alice, "tea", "10.00")
    client.force_login(viewer)
    html = client.get(reverse("dashboard")).text
    words = text_of(html)
    assert "your role: viewer" in words
    assert 'data-live-price="tea"' in html
    controls = (">Add a product</a>", ">New experiment</a>", ">Design an experiment</a>", ">create one</a>")
    for control in (*controls, ">Create a key</a>"):
        assert control not in html, control
    # The owner, on the same page, has them.
    owner_html = dashboard(client, alice)
    for control in controls:
        assert control in owner_html, control


def test_a_viewer_of_a_new_workspace_is_told_who_creates_keys(client):
    viewer = MembershipFactory(role=Role.VIEWER).user
    client.force_login(viewer)
    words = text_of(client.get(reverse("dashboard")).text)
    assert "2 Create an API key for your storefront To do an owner or admin creates keys" in words


def test_a_member_may_add_products_but_not_keys(client, alice):
    member = MembershipFactory(tenant=alice.tenant, role=Role.MEMBER).user
    client.force_login(member)
    html = client.get(reverse("dashboard")).text
    assert ">Add a product</a>" in html and ">New experiment</a>" in html
    assert ">Create a key</a>" not in html


def test_another_tenants_products_experiments_and_changes_never_appear(client, shop, charlie):
    mug = product(charlie, "charlie-mug", "7.00", "Charlie's mug")
    pricing_services.price_change(product=mug, price="7.50", source=PricePoint.Source.API)
    running_experiment(
        charlie, mug, "charlie-mug-test", "Charlie mug test", {"control": (50, 5), "higher": (50, 9)}
    )
    usage(charlie, quotes=3, events=4)
    alice_page = dashboard(client, shop)
    for secret in ("charlie-mug", "Charlie mug test", "Charlie&#x27;s mug", "7.50 EUR", "charlie"):
        assert secret not in alice_page, secret
    charlie_page = dashboard(client, charlie)
    assert 'data-live-price="charlie-mug">7.50 EUR<' in charlie_page
    assert "7 of 1,000 units" in text_of(charlie_page)
    for secret in (
        'data-live-price="tea"',
        'data-live-price="coffee"',
        "Tea at 12 euros",
        "tea-price",
        "850",
    ):
        assert secret not in charlie_page, secret


def _grow(party, n: int, start: int) -> None:
    """n more products, half of them under a running experiment with traffic and a price change."""
    for i in range(start, start + n):
        prod = product(party, f"sku-{i}", "3.00")
        if i % 2:
            pricing_services.price_change(product=prod, price="3.50", source=PricePoint.Source.API)
        else:
            running_experiment(
                party, prod, f"exp-{i}", f"Experiment {i}", {"control": (30, 3), "higher": (30, 4)}
            )


def test_the_number_of_queries_stays_flat_as_products_and_experiments_grow(
    client, alice, django_assert_max_num_queries
):
    _grow(alice, 2, 0)
    client.force_login(alice.user)
    client.get(reverse("dashboard"))  # warm the session and plan caches, as a second visit would
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("dashboard"))
    _grow(alice, 30, 2)
    with django_assert_max_num_queries(len(small)):
        page = client.get(reverse("dashboard"))
    assert page.text.count("data-live-price=") == 32
    assert "The newest 8 of 16 running" in text_of(page.text)
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        client.get(reverse("dashboard"))


def test_the_batched_totals_agree_with_the_results_page(alice):
    tea = product(alice, "tea", "10.00")
    mug = product(alice, "mug", "5.00")
    first = running_experiment(alice, tea, "a", "A", {"control": (40, 4), "higher": (35, 7)})
    second = running_experiment(alice, mug, "b", "B", {"control": (12, 1), "higher": (0, 0)})
    many = variant_totals_of_many([first, second], tenant_id=alice.tenant.pk)
    for experiment in (first, second):
        assert many[experiment.pk] == variant_totals(experiment, experiment.phase)


def test_a_pro_tenant_past_its_units_reads_overage_not_a_refusal(client, alice):
    account_plan_set(tenant=alice.tenant, plan_code="pro")
    usage(alice, quotes=100_000, events=20_000)
    html = dashboard(client, alice)
    words = text_of(html)
    assert "120,000 of 100,000 units 120 %" in words and "In overage" in words
    assert 'class="meter over"' in html and 'data-width="100"' in html
    assert "billed as overage" in words and "refused" not in words


def test_a_free_tenant_past_its_units_is_told_what_stops(client, alice):
    usage(alice, quotes=1_000, events=0)
    html = dashboard(client, alice)
    words = text_of(html)
    assert "1,000 of 1,000 units 100 %" in words and "Limit reached" in words
    assert "This month's 1,000 units are used up." in words
    assert "Compare plans and upgrade" in words
    assert 'class="meter over"' in html
