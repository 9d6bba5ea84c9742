"""The results' per-variant totals agree with a plain count over the rows, whatever the mix."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from experiments import selectors, services
from experiments.models import Conversion, Exposure, Variant
from experiments.tests.conftest import VARIANTS

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
            exposed[f"v{i}"] = (rng.choice(variants), start + timedelta(minutes=rng.randint(0, 1000)))
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
                       occurred_at=start + timedelta(minutes=rng.randint(0, 1000)))
        )  # fmt: skip
    # Another phase's conversions count for nothing here.
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


def test_visitors_are_counted_from_an_index_only_a_count_by_variant_can_use(alice, experiment):
    """The per-variant count reads the small index alone; lookups by visitor cannot pick it
    (its condition), which they did without statistics (models.Exposure)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    experiment = services.experiment_start(experiment=experiment)
    variant = Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_exposure"
            " (tenant_id, experiment_id, phase, variant_id, visitor_id, exposed_at)"
            " SELECT %s, %s, %s, %s, 'v' || i, now() FROM generate_series(1, 20000) AS i",
            [alice.tenant.pk, experiment.pk, experiment.phase, variant.pk],
        )
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT count(*) FROM experiments_exposure"
            " WHERE tenant_id = %s AND variant_id = %s AND phase = %s",
            [alice.tenant.pk, variant.pk, experiment.phase],
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'exposure_variant'")
        (definition,) = cursor.fetchone()
    assert "Index Only Scan using exposure_variant" in plan
    assert definition.endswith("(tenant_id, variant_id, phase) WHERE (variant_id IS NOT NULL)")


def test_conversions_are_read_from_their_index_alone(alice, experiment):
    """On PostgreSQL the conversions' index carries what results read (migration
    experiments 0007), so a phase's conversions are not read from the table."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no covering indexes")
    experiment = services.experiment_start(experiment=experiment)
    variants = list(Variant.objects.for_tenant(alice.tenant).filter(experiment=experiment))
    params = {"tenant": alice.tenant.pk, "experiment": experiment.pk, "phase": experiment.phase}
    params |= {f"variant{i}": variant.pk for i, variant in enumerate(variants)}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + selectors._conversions_sql(len(variants)), params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'conversion_visitor'")
        (definition,) = cursor.fetchone()
    assert "Index Only Scan using conversion_visitor on experiments_conversion c" in plan
    assert definition.endswith(
        "(tenant_id, experiment_id, phase, visitor_id) INCLUDE (occurred_at, revenue, variant_id, exposed_at)"
    )
