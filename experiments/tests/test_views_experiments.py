"""The experiment pages through Django's test client: owners design, run and end tests;
viewers read results but change nothing; another tenant finds nothing."""

import html
import math
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from experiments import exposures, services
from experiments.models import Conversion, Experiment, Exposure, Variant
from experiments.stats import sample_size_per_variant
from experiments.tests.traffic import traffic_seed
from pricing import services as pricing_services
from pricing.models import Product
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

COFFEE = {"sku": "coffee", "name": "Coffee", "currency": "EUR", "base_price": "4.50"}


@pytest.fixture
def owner(client, alice):
    return log_in(client, alice.user, alice.tenant)


@pytest.fixture
def viewer(client, alice):
    person = MembershipFactory(tenant=alice.tenant, role="viewer").user
    return log_in(client, person, alice.tenant)


@pytest.fixture
def outsider(client, charlie):
    return log_in(client, charlie.user, charlie.tenant)


@pytest.fixture
def running(experiment):
    return services.experiment_start(experiment=experiment)


def variants_of(experiment):
    return list(
        Variant.objects.for_tenant(experiment.tenant_id)
        .filter(experiment=experiment, active=True)
        .order_by("position")
    )


def design(**overrides):
    """A create form as the browser posts it: three variant rows, the first the control."""
    data = {
        "key": "coffee-price",
        "name": "Coffee price",
        "hypothesis": "Coffee lovers pay more.",
        "primary_metric": "revenue_per_visitor",
        "coverage": "80",
        "end_at": "",
        "target_sample_size": "5000",
        "variants-TOTAL_FORMS": "3",
        "variants-INITIAL_FORMS": "2",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
        "variants-0-key": "control",
        "variants-0-price": "4.50",
        "variants-0-weight": "0.33334",
        "variants-1-key": "five",
        "variants-1-price": "5.00",
        "variants-1-weight": "0.33333",
        "variants-2-key": "five-fifty",
        "variants-2-price": "5.50",
        "variants-2-weight": "0.33333",
        "control": "0",
    }
    data.update(overrides)
    return data


def text_of(response) -> str:
    """The page as a person reads it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


# The list ------------------------------------------------------------------------------


def test_list_shows_experiments_by_status_with_counts(owner, alice, product, running):
    coffee = pricing_services.product_create(tenant=alice.tenant, **COFFEE)
    draft = services.experiment_create(
        tenant=alice.tenant,
        product=coffee,
        key="coffee-draft",
        name="Coffee draft",
        variants=[
            {"key": "control", "price": "4.50", "weight": "0.5", "is_control": True},
            {"key": "more", "price": "5.00", "weight": "0.5"},
        ],
    )
    traffic_seed(running, {"control": (30, 3, 10), "higher": (25, 2, 12)})

    page = owner.get(reverse("experiments"))
    text = text_of(page)
    assert "Running 1" in text and "Draft 1" in text and "Paused 0" in text and "Archived 0" in text
    assert 'aria-current="page">Running' in page.text
    assert "Tea price" in text and "tea-price" in text and "Tea" in text
    assert '<span class="badge running">Running</span>' in page.text
    assert "55" in text  # visitors so far
    assert "Collecting data" in text  # too few visitors for a leader
    assert "Coffee draft" not in text

    drafts = text_of(owner.get(reverse("experiments"), {"status": "draft"}))
    assert "Coffee draft" in drafts and draft.key in drafts and "Tea price" not in drafts


def test_a_running_experiment_lists_its_leader_and_uplift(owner, running):
    traffic_seed(running, {"control": (1000, 50, 10), "higher": (1000, 80, 12)})
    text = text_of(owner.get(reverse("experiments")))
    assert "2,000" in text
    assert "higher +60.0 %" in text
    assert "chance to beat control" in text


def test_first_visit_opens_the_first_status_with_experiments(owner, experiment):
    page = owner.get(reverse("experiments"))
    assert 'aria-current="page">Draft' in page.text and "Tea price" in page.text


def test_no_experiments_explains_what_one_is_and_links_to_create(owner, product):
    page = owner.get(reverse("experiments"))
    text = text_of(page)
    assert "No experiments yet" in text and "shows different prices of one product" in text
    assert reverse("experiment_new") in page.text


def test_no_products_says_to_add_one_first(owner):
    text = text_of(owner.get(reverse("experiments")))
    assert "No experiments yet" in text and "add a product" in text


# Designing -----------------------------------------------------------------------------


def test_the_new_page_offers_active_products_two_rows_and_the_calculator(owner, alice, product):
    pricing_services.product_create(tenant=alice.tenant, **{**COFFEE, "sku": "old", "active": False})
    page = owner.get(reverse("experiment_new"))
    assert page.status_code == 200
    assert 'data-price="10.00"' in page.text and 'data-currency="EUR"' in page.text
    assert "(old)" not in page.text
    assert 'name="variants-0-key"' in page.text and 'name="variants-1-key"' in page.text
    assert 'value="0" id="control-0" checked' in page.text
    assert "must add up to 1" in page.text
    assert 'hx-trigger="input changed delay:300ms, submit"' in page.text
    assert "as target sample size" in page.text


def test_owner_creates_an_experiment_with_variants(owner, alice, product):
    coffee = pricing_services.product_create(tenant=alice.tenant, **COFFEE)
    response = owner.post(reverse("experiment_new"), design(product=coffee.pk))
    assert response.status_code == 303
    assert response["Location"] == reverse("experiment_detail", args=["coffee-price"])
    experiment = Experiment.objects.for_tenant(alice.tenant).get(key="coffee-price")
    assert experiment.status == "draft" and experiment.product == coffee
    assert experiment.coverage == Decimal("0.8") and experiment.target_sample_size == 5000
    assert experiment.primary_metric == "revenue_per_visitor"
    assert [(v.key, str(v.price), str(v.weight), v.is_control) for v in variants_of(experiment)] == [
        ("control", "4.5000", "0.33334", True),
        ("five", "5.0000", "0.33333", False),
        ("five-fifty", "5.5000", "0.33333", False),
    ]
    page = text_of(owner.get(response["Location"]))
    assert "Created the draft “Coffee price”" in page and "This is a draft" in page


def test_weights_that_do_not_add_up_are_refused_and_the_form_keeps_what_was_typed(owner, alice, product):
    response = owner.post(
        reverse("experiment_new"), design(product=product.pk, **{"variants-2-weight": "0.2"})
    )
    assert response.status_code == 400
    assert not Experiment.objects.for_tenant(alice.tenant).exists()
    formset = response.context["formset"]
    assert any("Weights must add up to 1" in e for e in formset.non_form_errors())
    assert 'id="variants-errors"' in response.text
    for typed in (
        'value="five-fifty"',
        'value="5.50"',
        'value="0.2"',
        'value="Coffee price"',
        'value="5000"',
    ):
        assert typed in response.text
    assert f'<option value="{product.pk}" selected data-currency="EUR"' in response.text


def test_a_price_with_a_decimal_comma_is_refused_not_read_as_a_hundred_times_more(owner, alice, product):
    response = owner.post(
        reverse("experiment_new"), design(product=product.pk, **{"variants-1-price": "5,50"})
    )
    assert response.status_code == 400
    row = response.context["formset"].forms[1]
    assert "a point for decimals" in " ".join(row.errors["price"])
    assert 'value="5,50"' in response.text  # kept as typed, to be corrected
    assert not Experiment.objects.for_tenant(alice.tenant).exists()


def test_a_bad_price_is_shown_on_its_own_row(owner, alice, product):
    response = owner.post(
        reverse("experiment_new"), design(product=product.pk, **{"variants-1-price": "5.005"})
    )
    assert response.status_code == 400
    rows = response.context["formset"].forms
    assert "EUR has 2 decimal places" in " ".join(rows[1].non_field_errors())
    assert not rows[0].errors and not rows[2].errors
    assert not Experiment.objects.for_tenant(alice.tenant).exists()


def test_field_errors_go_next_to_their_fields(owner, alice, product, experiment):
    response = owner.post(
        reverse("experiment_new"),
        design(product=product.pk, key="tea-price", **{"variants-1-weight": "abc"}),
    )
    assert response.status_code == 400
    assert response.context["formset"].forms[1].errors["weight"] == ["Enter a number."]
    response = owner.post(reverse("experiment_new"), design(product=product.pk, key="tea-price"))
    assert response.context["form"].errors["key"] == ["An experiment with key 'tea-price' already exists."]
    assert 'id="id_key_error"' in response.text
    response = owner.post(reverse("experiment_new"), design(product=product.pk, key="new"))
    assert "name of a page here" in response.context["form"].errors["key"][0]
    response = owner.post(reverse("experiment_new"), design(product=product.pk, control=""))
    assert "Exactly one variant must be the control." in response.context["formset"].non_form_errors()
    response = owner.post(
        reverse("experiment_new"), design(product=product.pk, **{"variants-TOTAL_FORMS": "1"})
    )
    assert "at least 2 variants" in " ".join(response.context["formset"].non_form_errors())
    assert Experiment.objects.for_tenant(alice.tenant).count() == 1


def test_owner_edits_a_draft_but_not_a_running_experiment(owner, alice, experiment):
    page = owner.get(reverse("experiment_edit", args=["tea-price"]))
    assert 'value="Tea price"' in page.text and 'value="12.00"' in page.text
    data = design(
        name="Tea price, take two",
        coverage="50",
        **{"variants-TOTAL_FORMS": "2", "variants-1-key": "cheaper", "variants-1-price": "9.00"},
    )
    data["variants-0-weight"] = data["variants-1-weight"] = "0.5"
    response = owner.post(reverse("experiment_edit", args=["tea-price"]), data)
    assert response.status_code == 303
    experiment.refresh_from_db()
    assert experiment.name == "Tea price, take two" and experiment.key == "tea-price"
    assert experiment.coverage == Decimal("0.5")
    assert [(v.key, str(v.price)) for v in variants_of(experiment)] == [
        ("control", "4.5000"),
        ("cheaper", "9.0000"),
    ]
    services.experiment_start(experiment=experiment)
    response = owner.get(reverse("experiment_edit", args=["tea-price"]), follow=True)
    assert "only a draft's design can be changed" in text_of(response)
    response = owner.post(reverse("experiment_edit", args=["tea-price"]), {**data, "name": "Sneaky"})
    experiment.refresh_from_db()
    assert response.status_code == 303 and experiment.name == "Tea price, take two"


# The lifecycle -------------------------------------------------------------------------


def test_start_pause_resume_and_complete_with_the_winner_rolled_out(owner, alice, product, experiment):
    detail = reverse("experiment_detail", args=["tea-price"])
    page = owner.get(detail)
    assert "Start experiment" in page.text and "data-confirm=" in page.text

    response = owner.post(reverse("experiment_start", args=["tea-price"]), follow=True)
    assert "Started “Tea price”" in text_of(response)
    assert 'hx-trigger="every 5s"' in response.text and "Pause" in response.text
    experiment.refresh_from_db()
    assert experiment.status == "running"

    response = owner.post(reverse("experiment_pause", args=["tea-price"]), follow=True)
    assert "every visitor of Tea sees 10.00 EUR" in text_of(response)
    experiment.refresh_from_db()
    assert experiment.status == "paused"

    response = owner.post(reverse("experiment_start", args=["tea-price"]), follow=True)
    assert "Resumed “Tea price”" in text_of(response)

    response = owner.post(
        reverse("experiment_complete", args=["tea-price"]), {"winner": "higher", "rollout": "on"}, follow=True
    )
    text = text_of(response)
    assert "higher won; Tea costs 12.00 EUR for everyone" in text
    assert "with higher (12.00 EUR) as the winner" in text
    experiment.refresh_from_db()
    product.refresh_from_db()
    assert experiment.status == "completed" and experiment.winner.key == "higher"
    assert product.base_price == Decimal("12.00")
    assert 'hx-trigger="every 5s"' not in response.text  # nothing left to poll

    response = owner.post(reverse("experiment_archive", args=["tea-price"]), follow=True)
    assert "Archived “Tea price”" in text_of(response)
    experiment.refresh_from_db()
    assert experiment.status == "archived"


def test_completing_without_rollout_keeps_the_price(owner, product, running):
    response = owner.post(
        reverse("experiment_complete", args=["tea-price"]), {"winner": "higher"}, follow=True
    )
    assert "with higher as the winner; Tea stays at 10.00 EUR" in text_of(response)
    product.refresh_from_db()
    running.refresh_from_db()
    assert product.base_price == Decimal("10.00") and running.winner.key == "higher"


def test_completing_with_no_winner(owner, product, running):
    response = owner.post(reverse("experiment_complete", args=["tea-price"]), {"winner": ""}, follow=True)
    assert "without a winner: Tea stays at 10.00 EUR" in text_of(response)
    running.refresh_from_db()
    assert running.status == "completed" and running.winner is None


def test_a_refused_step_is_a_message_on_the_page_not_an_error_page(owner, alice, product, running):
    response = owner.post(reverse("experiment_archive", args=["tea-price"]))
    assert response.status_code == 303
    page = owner.get(response["Location"])
    assert page.status_code == 200
    assert "The experiment is running; it cannot be archived." in text_of(page)
    running.refresh_from_db()
    assert running.status == "running"

    rival = services.experiment_create(
        tenant=alice.tenant,
        product=product,
        key="tea-rival",
        name="Tea rival",
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
            {"key": "lower", "price": "9.00", "weight": "0.5"},
        ],
    )
    page = owner.post(reverse("experiment_start", args=["tea-rival"]), follow=True)
    assert "Experiment 'tea-price' is already running on this product." in text_of(page)
    rival.refresh_from_db()
    assert rival.status == "draft"

    page = owner.post(reverse("experiment_complete", args=["tea-price"]), {"winner": "nobody"}, follow=True)
    assert "Choose a winner among the variants" in text_of(page)
    running.refresh_from_db()
    assert running.status == "running"


def test_actions_take_only_post(owner, experiment):
    assert owner.get(reverse("experiment_start", args=["tea-price"])).status_code == 405
    experiment.refresh_from_db()
    assert experiment.status == "draft"


# Results -------------------------------------------------------------------------------


def test_results_show_both_metrics_with_intervals_chance_and_p_value(owner, running):
    """500/10,000 against 560/10,000: the engine's reference numbers, as the page shows them."""
    traffic_seed(running, {"control": (10_000, 500, 10), "higher": (10_000, 560, 12)}, days=10)
    page = owner.get(reverse("experiment_detail", args=["tea-price"]))
    text = text_of(page)
    assert "Conversion rate" in text and "Revenue per visitor" in text
    assert "20,000" in text  # visitors
    assert "5.00 %" in text and "5.60 %" in text
    assert "+12.0 %" in text and "\u22121.1 % to +25.1 %" in text
    assert "96.3 %" in text and "0.0736" in text
    assert "0.5000 EUR" in text and "0.6720 EUR" in text  # revenue per visitor
    assert "No significant difference in conversion rate yet" in text
    assert "Sample ratio mismatch" not in text
    for canvas in ("chart-conversion", "chart-revenue", "chart-uplift", "chart-cumulative"):
        assert f'id="{canvas}"' in page.text
    data = page.context["chart_data"]
    assert len(data["series"]["days"]) >= 10
    control_series = data["series"]["variants"][0]
    assert control_series["visitors"][-1] == 10_000
    assert control_series["conversion_rate"][-1] == pytest.approx(0.05)
    assert data["variants"][0]["conversion_rate_ci"][0] < 0.05 < data["variants"][0]["conversion_rate_ci"][1]
    assert 'id="results-data"' in page.text and "js/results.js" in page.text


def test_a_sample_ratio_mismatch_is_a_warning_with_what_to_do(owner, running):
    traffic_seed(running, {"control": (1200, 60, 10), "higher": (800, 40, 12)})
    page = owner.get(reverse("experiment_detail", args=["tea-price"]))
    assert 'class="callout err" role="alert" id="srm-warning"' in page.text
    text = text_of(page)
    assert "Sample ratio mismatch: do not trust these results yet." in text and "What to do" in text


def test_progress_toward_the_target_and_unattributed_conversions_are_shown(owner, alice, running):
    services.experiment_update(experiment=running, target_sample_size=400)
    traffic_seed(running, {"control": (100, 10, 10), "higher": (120, 10, 12)})
    Conversion.objects.create(
        tenant=alice.tenant, experiment=running, phase=running.phase, visitor_id="stranger", revenue=5
    )
    page = owner.get(reverse("experiment_detail", args=["tea-price"]))
    assert '<div class="meter" aria-hidden="true"><span data-width="25"></span></div>' in page.text
    text = text_of(page)
    assert "100 of 400 visitors in the smallest variant" in text
    assert "1 conversion came from visitors who never saw this experiment" in text


def test_the_polled_results_include_exposures_still_in_the_buffer(owner, alice, running):
    control, higher = variants_of(running)
    now = timezone.now()
    exposures.record(
        [
            exposures.encode(
                tenant_id=alice.tenant.pk,
                experiment_id=running.pk,
                phase=running.phase,
                variant_id=(control if i % 2 else higher).pk,
                visitor_id=f"buffered-{i}",
                at=now,
            )
            for i in range(7)
        ]
    )
    partial = owner.get(reverse("experiment_results", args=["tea-price"]), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert re.search(r'id="total-visitors">\s*7<', partial.text)
    assert 'id="results-data"' in partial.text
    followed = owner.get(reverse("experiment_results", args=["tea-price"]))
    assert followed.status_code == 302
    assert followed["Location"] == reverse("experiment_detail", args=["tea-price"])


def test_polling_stops_once_the_experiment_is_over(owner, running):
    services.experiment_complete(experiment=running)
    partial = owner.get(reverse("experiment_results", args=["tea-price"]), HTTP_HX_REQUEST="true")
    assert partial.status_code == 286  # htmx's "stop polling"
    assert 'id="total-visitors"' in partial.text


def test_a_draft_has_no_results_yet(owner, experiment):
    text = text_of(owner.get(reverse("experiment_detail", args=["tea-price"])))
    assert "Results appear here once it runs" in text and "Visitors see" not in text


def test_complete_form_suggests_the_significant_winner(owner, running):
    traffic_seed(running, {"control": (2000, 100, 10), "higher": (2000, 200, 12)})
    page = owner.get(reverse("experiment_detail", args=["tea-price"]))
    assert page.context["suggested"] == "higher"
    assert '<option value="higher" selected>' in page.text
    assert "The results favour higher" in text_of(page)


# The sample-size calculator ------------------------------------------------------------


def calculator(client, **params):
    query = {"calc-baseline": "5", "calc-mde": "10", "calc-power": "0.8", "calc-variants": "2"}
    query.update({f"calc-{k}": v for k, v in params.items()})
    return client.get(reverse("experiment_calculator"), query, HTTP_HX_REQUEST="true")


def test_the_calculator_gives_the_visitors_a_person_would_compute(owner):
    expected = sample_size_per_variant(baseline_rate=0.05, relative_mde=0.10, power=0.8)
    partial = calculator(owner)
    assert "<html" not in partial.text
    assert f'data-per-variant="{expected}"' in partial.text
    assert f"{expected:,} visitors per variant" in text_of(partial)
    assert f"{expected * 2:,} visitors in all" in text_of(partial)

    stricter = sample_size_per_variant(baseline_rate=0.03, relative_mde=0.05, power=0.9)
    partial = calculator(owner, baseline="3", mde="5", power="0.9", variants="3", daily_visitors="1000")
    assert f'data-per-variant="{stricter}"' in partial.text
    days = math.ceil(stricter * 3 / 1000)
    assert f"About {days:,} days at 1,000 visitors a day" in text_of(partial)
    assert "Using the visitors a day you entered" in text_of(partial)


def test_the_calculator_uses_the_products_measured_traffic(owner, alice, running, product):
    # Twice 700 distinct visitors over the last 7 days: 200 a day.
    traffic_seed(running, {"control": (700, 0, 0), "higher": (700, 0, 0)}, days=7)
    Exposure.objects.filter(tenant=alice.tenant).update(
        exposed_at=timezone.now() - timedelta(days=6, hours=12)
    )
    partial = calculator(owner, product=str(product.pk))
    text = text_of(partial)
    expected = sample_size_per_variant(baseline_rate=0.05, relative_mde=0.10, power=0.8)
    assert f"About {math.ceil(expected * 2 / 200):,} days at 200 visitors a day" in text
    assert "1,400 distinct visitors who saw an experiment price of Tea over the last 7 days" in text


def test_the_calculator_says_when_traffic_is_unknown_and_when_inputs_are_wrong(owner, product):
    text = text_of(calculator(owner, product=str(product.pk)))
    assert "its traffic is unknown" in text
    text = text_of(calculator(owner, baseline="150"))
    assert "Check the inputs" in text and "Baseline conversion rate" in text


def test_the_calculator_is_a_page_of_its_own(viewer):
    page = viewer.get(reverse("experiment_calculator"))
    assert page.status_code == 200 and "<html" in page.text
    expected = sample_size_per_variant(baseline_rate=0.05, relative_mde=0.10, power=0.8)
    assert f'data-per-variant="{expected}"' in page.text
    assert "as target sample size" not in page.text  # no design form to fill on this page


# Who may do what -----------------------------------------------------------------------


def every_post(key):
    return [
        (reverse("experiment_new"), design()),
        (reverse("experiment_edit", args=[key]), design(name="Changed")),
        (reverse("experiment_start", args=[key]), {}),
        (reverse("experiment_pause", args=[key]), {}),
        (reverse("experiment_complete", args=[key]), {"winner": "higher", "rollout": "on"}),
        (reverse("experiment_archive", args=[key]), {}),
    ]


def test_a_viewer_reads_results_but_has_no_controls_and_every_post_is_refused(
    viewer, alice, product, running
):
    traffic_seed(running, {"control": (150, 10, 10), "higher": (150, 12, 12)})
    page = viewer.get(reverse("experiment_detail", args=["tea-price"]))
    text = text_of(page)
    assert "300" in text and "Conversion rate" in text
    for control in ("Pause", "Complete the experiment", "Complete…", "Edit design", 'action="/experiments/'):
        assert control not in page.text
    listing = viewer.get(reverse("experiments"))
    assert "Tea price" in listing.text and "New experiment" not in listing.text
    assert viewer.get(reverse("experiment_new")).status_code == 403
    assert viewer.get(reverse("experiment_edit", args=["tea-price"])).status_code == 403
    for url, data in every_post("tea-price"):
        assert viewer.post(url, {**data, "product": product.pk}).status_code == 403, url
    running.refresh_from_db()
    product.refresh_from_db()
    assert running.status == "running" and running.name == "Tea price"
    assert product.base_price == Decimal("10.00")
    assert Experiment.objects.for_tenant(alice.tenant).count() == 1


def test_a_viewer_sees_a_draft_without_start_or_edit(viewer, experiment):
    page = viewer.get(reverse("experiment_detail", args=["tea-price"]))
    assert page.status_code == 200 and "Tea price" in page.text
    assert "Start experiment" not in page.text and "Edit design" not in page.text


def test_another_tenants_experiment_is_404_everywhere_and_untouched(outsider, alice, product, running):
    for url in (
        reverse("experiment_detail", args=["tea-price"]),
        reverse("experiment_edit", args=["tea-price"]),
        reverse("experiment_results", args=["tea-price"]),
    ):
        assert outsider.get(url).status_code == 404, url
    for url, data in every_post("tea-price")[1:]:
        assert outsider.post(url, data).status_code == 404, url
    running.refresh_from_db()
    product.refresh_from_db()
    assert running.status == "running" and running.name == "Tea price"
    assert product.base_price == Decimal("10.00")
    assert "Tea price" not in outsider.get(reverse("experiments")).text
    # Alice's product is no choice of Charlie's: not to design with, not to measure traffic of.
    response = outsider.post(reverse("experiment_new"), design(product=product.pk))
    assert response.status_code == 400 and "product" in response.context["form"].errors
    assert "Select a valid choice" in text_of(calculator(outsider, product=str(product.pk)))
    assert not Experiment.objects.for_tenant(alice.tenant).exclude(pk=running.pk).exists()


def test_pages_need_a_login(client, experiment):
    for url in (reverse("experiments"), reverse("experiment_detail", args=["tea-price"])):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_navigation_links_to_experiments(owner):
    page = owner.get(reverse("experiments"))
    assert f'<a href="{reverse("experiments")}" aria-current="page">Experiments</a>' in page.text


@pytest.mark.parametrize("status", ["running", "draft", "paused", "completed", "archived"])
def test_every_tab_renders_its_rows(owner, alice, product, status):
    experiment = services.experiment_create(
        tenant=alice.tenant,
        product=product,
        key=f"t-{status}",
        name=f"Test {status}",
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
            {"key": "b", "price": "11.00", "weight": "0.5"},
        ],
    )
    steps = {
        "running": [services.experiment_start],
        "paused": [services.experiment_start, services.experiment_pause],
        "completed": [services.experiment_start, services.experiment_complete],
        "archived": [services.experiment_start, services.experiment_complete, services.experiment_archive],
    }
    for step in steps.get(status, []):
        experiment = step(experiment=experiment)
    text = text_of(owner.get(reverse("experiments"), {"status": status}))
    assert f"Test {status}" in text
    assert Product.objects.for_tenant(alice.tenant).count() == 1


def test_an_end_in_the_past_is_refused(owner, alice, product):
    response = owner.post(reverse("experiment_new"), design(product=product.pk, end_at="2020-01-01T10:00"))
    assert response.status_code == 400
    assert response.context["form"].errors["end_at"] == ["Choose a time in the future, or leave it empty."]
    assert 'value="2020-01-01T10:00"' in response.text
    assert not Experiment.objects.for_tenant(alice.tenant).exists()


def test_an_end_date_is_kept_in_utc(owner, alice, product):
    later = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = owner.post(
        reverse("experiment_new"), design(product=product.pk, end_at=later.strftime("%Y-%m-%dT%H:%M"))
    )
    assert response.status_code == 303
    assert Experiment.objects.for_tenant(alice.tenant).get(key="coffee-price").end_at == later
