"""The results' per-variant totals agree with a plain count over the rows, whatever the mix."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate

import pytest

from experiments import selectors, services
from experiments.models import Conversion, Exposure, Variant
from experiments.tests.conftest import VARIANTS
from tenants.tests import dashboard_data

pytestmark = pytest.mark.django_db


# A conversion carries its visitor's exposure if that was stored first; the others (and rows
# written straight to the tables) do not, and results look them up.
# Three variants, so that each variant's sums are told apart from its neighbours'.
@pytest.mark.parametrize("attributed", ["none", "some", "all"])
def test_totals_match_a_count_over_random_exposures_and_conversions(alice, product, attributed):
    experiment = services.experiment_create(
        tenant=alice.tenant, product=product, key="tea-three", name="Tea, three prices",
        variants=[{**variant, "weight": "0.25"} for variant in VARIANTS]
        + [{"key": "highest", "price": "14.00", "weight": "0.5"}],
    )  # fmt: skip
    experiment = services.experiment_start(experiment=experiment)
    variants = list(
        Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).order_by("position")
    )
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    exposed = {}
    for i in range(300):
        if rng.random() < 0.8:
            exposed[f"v{i}"] = (rng.choice(variants), start + timedelta(minutes=rng.randint(0, 4000)))
    Exposure.objects.for_tenant(alice.tenant).bulk_create(
        Exposure(tenant=alice.tenant, experiment=experiment, phase=experiment.phase, variant=variant,
                 visitor_id=visitor, exposed_at=at)
        for visitor, (variant, at) in exposed.items()
    )  # fmt: skip
    conversions = []
    for _ in range(400):
        visitor = f"v{rng.randrange(300)}"
        revenue = Decimal(rng.choice([0, 5, 12, 30])) + Decimal("0.50") * rng.randint(0, 1)
        conversions.append(
            Conversion(tenant=alice.tenant, experiment=experiment, product=experiment.product,
                       phase=experiment.phase, visitor_id=visitor, revenue=revenue,
                       occurred_at=start + timedelta(minutes=rng.randint(0, 4000)))
        )  # fmt: skip
    # Another phase's exposures and conversions count for nothing here.
    Exposure.objects.for_tenant(alice.tenant).create(
        tenant=alice.tenant, experiment=experiment, phase=experiment.phase + 1, variant=variants[0],
        visitor_id="v1", exposed_at=start,
    )  # fmt: skip
    conversions.append(
        Conversion(tenant=alice.tenant, experiment=experiment, product=experiment.product,
                   phase=experiment.phase + 1, visitor_id="v1", revenue=Decimal(99),
                   occurred_at=start + timedelta(days=9))
    )  # fmt: skip
    Conversion.objects.for_tenant(alice.tenant).bulk_create(conversions)
    if attributed != "none":
        # As ingestion stores a conversion whose visitor's exposure is already stored.
        share = 2 if attributed == "some" else 1
        for i in range(0, 300, share):
            if f"v{i}" in exposed:
                variant, at = exposed[f"v{i}"]
                Conversion.objects.for_tenant(alice.tenant).filter(
                    experiment=experiment, phase=experiment.phase, visitor_id=f"v{i}"
                ).update(variant=variant, exposed_at=at)
        assert Conversion.objects.for_tenant(alice.tenant).filter(variant__isnull=False).exists()
    if attributed == "some":
        # Later purchases of visitors whose earlier ones carry the exposure: one visitor's
        # conversions, some carrying it and some not, still count once for one variant.
        later = [
            Conversion(tenant=alice.tenant, experiment=experiment, product=experiment.product,
                       phase=experiment.phase, visitor_id=f"v{i}", revenue=Decimal(7),
                       occurred_at=start + timedelta(days=2))
            for i in range(0, 60, 2)
        ]  # fmt: skip
        Conversion.objects.for_tenant(alice.tenant).bulk_create(later)
        conversions += later

    spent: dict[str, Decimal] = {}
    unattributed = 0
    for c in conversions:
        if c.phase != experiment.phase:
            continue
        if c.visitor_id not in exposed:
            unattributed += 1
        elif c.occurred_at >= exposed[c.visitor_id][1]:
            spent[c.visitor_id] = spent.get(c.visitor_id, Decimal(0)) + c.revenue
    expected = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for visitor, (variant, _) in exposed.items():
        row = expected[variant.pk]
        row[0] += 1
        if visitor in spent:
            row[1] += 1
            row[2] += spent[visitor]
            row[3] += spent[visitor] ** 2

    totals = selectors.variant_totals(experiment, experiment.phase)
    got = {t.variant.pk: [t.visitors, t.converters, t.revenue, t.revenue_squares] for t in totals}
    assert got == {v.pk: expected[v.pk] for v in variants}
    assert selectors.unattributed_conversions(experiment, experiment.phase) == unattributed
    assert unattributed > 0 and any(row[1] for row in expected.values())
    # The dashboard's and the experiments page's batched totals, and the daily chart, count alike.
    many = selectors.variant_totals_of_many([experiment], tenant_id=alice.tenant.pk)
    assert many == {experiment.pk: totals}
    by_day = defaultdict(lambda: [0, 0])
    for visitor, (variant, at) in exposed.items():
        by_day[variant.pk, at.date()][0] += 1
        by_day[variant.pk, at.date()][1] += visitor in spent
    days = sorted({day for _, day in by_day})
    series = selectors.experiment_daily_series(experiment)
    assert series["days"] == [day.isoformat() for day in days] and len(days) == 3
    for variant, line in zip(variants, series["variants"], strict=True):
        visitors = list(accumulate(by_day.get((variant.pk, day), [0, 0])[0] for day in days))
        converters = list(accumulate(by_day.get((variant.pk, day), [0, 0])[1] for day in days))
        assert line["visitors"] == visitors
        rates = [c / v if v else None for c, v in zip(converters, visitors, strict=True)]
        assert line["conversion_rate"] == rates


def _plans_of_the_results(experiments, tenant_id, *, seqscan=True):
    """The plans of the statements that count visitors and read conversions for results."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        selectors.variant_totals_of_many(experiments, tenant_id=tenant_id)
    statements = [q["sql"] for q in queries if "COUNT" in q["sql"] and "experiments_" in q["sql"]]
    plans = []
    with connection.cursor() as cursor:
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            cursor.execute("EXPLAIN " + sql)
            plans.append(" ".join(row[0] for row in cursor.fetchall()))
    return plans


def test_visitors_are_counted_from_an_index_only_a_count_by_variant_can_use(alice, experiment):
    """Each variant's count reads its range of the small index alone, for one experiment or
    several; lookups by visitor cannot pick it (its condition), which they did without
    statistics (models.Exposure)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    experiment = services.experiment_start(experiment=experiment)
    mug = dashboard_data.product(alice.tenant, "mug", "5.00")
    other = dashboard_data.running_experiment(alice.tenant, mug, "mug-price", "Mug price", {})
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_exposure"
            " (tenant_id, experiment_id, phase, variant_id, visitor_id, exposed_at)"
            " SELECT %s, %s, %s, %s, 'v' || i, now() FROM generate_series(1, 20000) AS i",
            [alice.tenant.pk, experiment.pk, experiment.phase, variant.pk],
        )
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'exposure_variant'")
        (definition,) = cursor.fetchone()
    counts = _plans_of_the_results([experiment, other], alice.tenant.pk, seqscan=False)[0]
    assert counts.count("Index Only Scan using exposure_variant") == 4  # two variants each
    assert "Seq Scan" not in counts
    assert definition.endswith("(tenant_id, variant_id, phase) WHERE (variant_id IS NOT NULL)")


def test_conversions_are_read_from_their_index_alone(alice, experiment):
    """On PostgreSQL the conversions' index carries what results read (migration
    experiments 0007), so a phase's conversions are not read from the table."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no covering indexes")
    experiment = services.experiment_start(experiment=experiment)
    conversions = _plans_of_the_results([experiment], alice.tenant.pk, seqscan=False)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'conversion_visitor'")
        (definition,) = cursor.fetchone()
    assert "Index Only Scan using conversion_visitor on experiments_conversion c" in conversions
    assert "Sort" not in conversions  # one experiment: read in visitor order
    assert definition.endswith(
        "(tenant_id, experiment_id, phase, visitor_id) INCLUDE (occurred_at, revenue, variant_id, exposed_at)"
    )


def test_the_experiments_page_counts_each_experiments_visitors_in_its_current_phase(
    alice, charlie, experiment
):
    experiment = services.experiment_start(experiment=experiment)
    variants = list(
        Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).order_by("position")
    )
    mug = dashboard_data.product(alice.tenant, "mug", "5.00")
    idle = services.experiment_create(  # never started: no visitors
        tenant=alice.tenant, product=mug, key="mug-price", name="Mug price", variants=VARIANTS
    )
    rows = [(variants[0], experiment.phase, f"v{i}") for i in range(5)]
    rows += [(variants[1], experiment.phase, f"w{i}") for i in range(3)]
    rows += [(variants[1], experiment.phase + 1, f"old{i}") for i in range(4)]  # another phase
    Exposure.objects.for_tenant(alice.tenant).bulk_create(
        Exposure(tenant=alice.tenant, experiment=experiment, phase=phase, variant=variant, visitor_id=visitor)
        for variant, phase, visitor in rows
    )
    Variant.objects.for_tenant(alice.tenant).filter(pk=variants[1].pk).update(active=False)  # retired
    # Another tenant's exposures of an experiment with the same key and visitor ids.
    charlie_tea = dashboard_data.product(charlie.tenant, "tea", "10.00")
    theirs = dashboard_data.running_experiment(charlie.tenant, charlie_tea, "tea-price", "Tea", {})
    their_variant = Variant.objects.for_tenant(charlie.tenant).filter(experiment=theirs).first()
    Exposure.objects.for_tenant(charlie.tenant).bulk_create(
        Exposure(tenant=charlie.tenant, experiment=theirs, phase=theirs.phase, variant=their_variant,
                 visitor_id=f"v{i}")
        for i in range(7)
    )  # fmt: skip

    visitors = selectors.experiments_visitors(alice.tenant, [experiment.pk, idle.pk, theirs.pk])
    assert visitors == {experiment.pk: 8}
    assert selectors.experiments_visitors(charlie.tenant, [theirs.pk, experiment.pk]) == {theirs.pk: 7}
    assert selectors.experiments_visitors(alice.tenant, []) == {}
