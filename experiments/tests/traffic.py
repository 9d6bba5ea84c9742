"""Visitors and purchases written straight into the database, for results worth reading."""

import random
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from experiments.models import Conversion, Experiment, Exposure, Variant

# Rows per INSERT: a screenshot's ten thousand visitors in two statements.
BATCH = 5000


def traffic_seed(
    experiment: Experiment,
    groups: Mapping[str, tuple[int, int, Decimal | str | None]],
    *,
    days: float = 1,
    seed: int = 7,
) -> None:
    """Per variant key (visitors, buyers, revenue per purchase, None for the variant's price):
    visitors spread over ``days`` days up to now, in the current phase; the first ``buyers``
    of them buy five minutes after they saw the price."""
    rng = random.Random(seed)
    now = timezone.now()
    by_key = {
        v.key: v for v in Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment)
    }
    exposed, converted = [], []
    for key, (visitors, buyers, revenue) in groups.items():
        variant = by_key[key]
        for i in range(visitors):
            at = now - timedelta(days=rng.uniform(0, days - 0.01))
            visitor = f"{key}-{i}"
            exposed.append(
                Exposure(
                    tenant_id=experiment.tenant_id,
                    experiment=experiment,
                    phase=experiment.phase,
                    variant=variant,
                    visitor_id=visitor,
                    exposed_at=at,
                )
            )
            if i < buyers:
                converted.append(
                    Conversion(
                        tenant_id=experiment.tenant_id,
                        experiment=experiment,
                        product_id=experiment.product_id,
                        phase=experiment.phase,
                        visitor_id=visitor,
                        revenue=variant.price if revenue is None else revenue,
                        occurred_at=min(at + timedelta(minutes=5), now),
                    )
                )
    Exposure.objects.bulk_create(exposed, batch_size=BATCH)
    Conversion.objects.bulk_create(converted, batch_size=BATCH)
