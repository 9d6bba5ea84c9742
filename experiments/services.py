"""Writes for experiments: design, lifecycle, phases and rollout of a winner."""

import functools
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import actor_for
from audit.services import audit_record, diff, snapshot
from experiments import exposures, selectors
from experiments.models import Experiment, Phase, ResultsSnapshot, Variant
from pricing import config, live
from pricing import services as pricing_services
from pricing.models import PriceChange, PricePoint, Product
from pricing.money import MoneyError, format_amount, parse_amount
from tenants.models import Tenant, User

Status = Experiment.Status
# Weights must add up to 1 within this tolerance (GrowthBook falls back to equal weights
# beyond 0.99..1.01; we refuse instead, so what runs is what was designed).
WEIGHT_TOLERANCE = Decimal("0.0001")
MIN_VARIANTS = 2
MAX_VARIANTS = 10
# The decimal places of Variant.weight and Experiment.coverage.
WEIGHT_DECIMALS = Variant._meta.get_field("weight").decimal_places
COVERAGE_DECIMALS = Experiment._meta.get_field("coverage").decimal_places
# Below this many visitors in a phase the exact results take well under 100 ms
# (bench/scale.py), so they are computed on every request; from it on, the API serves the
# phase's snapshot while it is fresh, and the beat task keeps it fresh.
RESULTS_LIVE_MAX_VISITORS = 100_000
# A reader's results request flushes at most this many buffer batches itself (10,000
# exposures), so what was quoted a moment ago shows; the beat task handles any backlog.
RESULTS_FLUSH_BATCHES = 2


class VariantSpec(TypedDict, total=False):
    key: str
    name: str
    price: Any
    weight: Any
    is_control: bool


class TransitionError(ValidationError):
    """A lifecycle step that the experiment's status does not allow."""


def _decimal(value: Any, field: str, places: int) -> Decimal:
    """A share (weight, coverage) as Decimal with at most ``places`` decimals, as its column holds."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{value!r} is not a number."}) from None
    # NaN would make every comparison below raise; the column has no room for more decimals.
    if not number.is_finite():
        raise ValidationError({field: f"{value!r} is not a number."})
    step = Decimal(1).scaleb(-places)
    if abs(number) > 1:
        return number  # out of range: the caller's range check says so
    if number != number.quantize(step, rounding=ROUND_DOWN):
        raise ValidationError({field: f"{value} has more than {places} decimal places."})
    return number.quantize(step)


def _clean_variants(product: Product, specs: Sequence[VariantSpec]) -> list[dict]:
    if not MIN_VARIANTS <= len(specs) <= MAX_VARIANTS:
        raise ValidationError({"variants": f"An experiment needs {MIN_VARIANTS} to {MAX_VARIANTS} variants."})
    keys = [spec.get("key", "") for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValidationError({"variants": "Variant keys must be unique."})
    if sum(bool(spec.get("is_control")) for spec in specs) != 1:
        raise ValidationError({"variants": "Exactly one variant must be the control."})
    cleaned = []
    for position, spec in enumerate(specs):
        try:
            price = parse_amount(spec.get("price"), product.currency)
        except MoneyError as error:
            raise ValidationError({"variants": f"{spec.get('key')}: {error}"}) from None
        weight = _decimal(spec.get("weight"), "variants", WEIGHT_DECIMALS)
        if not 0 < weight <= 1:
            raise ValidationError({"variants": f"{spec.get('key')}: a weight is between 0 and 1."})
        cleaned.append(
            {
                "key": spec["key"],
                "name": spec.get("name") or spec["key"],
                "price": price,
                "weight": weight,
                "is_control": bool(spec.get("is_control")),
                "position": position,
            }
        )
    total = sum(v["weight"] for v in cleaned)
    if abs(total - 1) > WEIGHT_TOLERANCE:
        raise ValidationError({"variants": f"Weights must add up to 1; they add up to {total}."})
    return cleaned


def _clean_coverage(coverage: Any) -> Decimal:
    value = _decimal(coverage, "coverage", COVERAGE_DECIMALS)
    if not 0 < value <= 1:
        raise ValidationError({"coverage": "Coverage is a share of visitors, above 0 and at most 1."})
    return value


def _set_variants(experiment: Experiment, cleaned: list[dict]) -> None:
    """Make the experiment's active variants exactly ``cleaned``.

    A draft has no exposures, so its variants are simply replaced. A started experiment
    keeps every row: variants are updated in place by key, and dropped ones retired, so
    earlier phases keep their exposures.
    """
    variants = Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment)
    if experiment.status == Status.DRAFT:
        variants.delete()
        Variant.objects.bulk_create(
            [Variant(tenant_id=experiment.tenant_id, experiment=experiment, **spec) for spec in cleaned]
        )
        return
    existing = {v.key: v for v in variants}
    for spec in cleaned:
        variant = existing.pop(spec["key"], None)
        if variant is None:
            Variant.objects.create(tenant_id=experiment.tenant_id, experiment=experiment, **spec)
            continue
        for field, value in spec.items():
            setattr(variant, field, value)
        variant.active = True
        variant.save()
    variants.filter(pk__in=[v.pk for v in existing.values()]).update(active=False)


def _snapshot(experiment: Experiment) -> list[dict]:
    return [
        {
            "key": v.key,
            "price": format_amount(v.price, experiment.product.currency),
            "weight": str(v.weight),
            "is_control": v.is_control,
        }
        for v in Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, active=True)
    ]


def _changed(experiment: Experiment) -> None:
    transaction.on_commit(functools.partial(config.bump, experiment.tenant_id))


def _announce(experiment: Experiment, source: str) -> None:
    """Tell live clients that what visitors of the product are quoted changed."""
    product = Product.objects.for_tenant(experiment.tenant_id).get(pk=experiment.product_id)
    live.price_changed(
        product=product,
        price=product.base_price,
        previous_price=product.base_price,
        source=source,
        experiment=experiment.key,
    )


# What the audit log keeps of an experiment's design (variants are listed beside them).
_AUDITED_FIELDS = (
    "name", "hypothesis", "seed", "coverage", "primary_metric", "end_at", "target_sample_size", "status",
)  # fmt: skip


def _audit_state(experiment: Experiment) -> dict[str, Any]:
    state = {**snapshot(experiment, _AUDITED_FIELDS), "variants": _snapshot(experiment)}
    # 1 and 1.0000 are one coverage: compare them as one.
    state["coverage"] = format(Decimal(experiment.coverage).normalize(), "f")
    return state


def _audit(
    experiment: Experiment,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    changed_by: User | None,
    api_key_id: int | None,
) -> None:
    if before is not None:
        before, after = diff(before, after)
        if not after:
            return  # nothing changed: nothing to record
    audit_record(
        tenant=experiment.tenant_id,
        actor=actor_for(user=changed_by, api_key_id=api_key_id),
        action=action,
        target=experiment,
        before=before,
        after=after,
    )


@transaction.atomic
def experiment_create(
    *,
    tenant: Tenant,
    product: Product,
    key: str,
    name: str,
    variants: Sequence[VariantSpec],
    hypothesis: str = "",
    seed: str = "",
    coverage: Any = 1,
    primary_metric: str = Experiment.Metric.CONVERSION_RATE,
    end_at: datetime | None = None,
    target_sample_size: int | None = None,
    changed_by: User | None = None,
    api_key_id: int | None = None,
) -> Experiment:
    """Design an experiment (draft). It changes no price until started."""
    if product.tenant_id != tenant.pk:
        raise ValidationError({"product": "No such product."})
    cleaned = _clean_variants(product, variants)
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                tenant=tenant,
                product=product,
                key=key,
                seed=seed or key,
                name=name,
                hypothesis=hypothesis,
                coverage=_clean_coverage(coverage),
                primary_metric=primary_metric,
                end_at=end_at,
                target_sample_size=target_sample_size,
            )
    except IntegrityError:
        raise ValidationError({"key": f"An experiment with key {key!r} already exists."}) from None
    _set_variants(experiment, cleaned)
    after = {"product": product.sku, **_audit_state(experiment)}
    _audit(experiment, "experiment.created", None, after, changed_by, api_key_id)
    return experiment


# Fields that decide who sees what: frozen while an experiment runs, changed only by a new phase.
ASSIGNMENT_FIELDS = ("variants", "coverage", "seed")


@transaction.atomic
def experiment_update(
    *,
    experiment: Experiment,
    changed_by: User | None = None,
    api_key_id: int | None = None,
    new_phase_reason: str = "",
    **changes: Any,
) -> Experiment:
    """Change an experiment. Variants, weights, coverage and seed of a started experiment
    change only with ``new_phase_reason``: a new phase starts and results start afresh."""
    experiment = Experiment.objects.for_tenant(experiment.tenant_id).select_for_update().get(pk=experiment.pk)
    if experiment.status in (Status.COMPLETED, Status.ARCHIVED):
        raise TransitionError(f"The experiment is {experiment.status}; it cannot be changed.")
    touches_assignment = any(changes.get(f) is not None for f in ASSIGNMENT_FIELDS)
    started = experiment.status in (Status.RUNNING, Status.PAUSED)
    if started and touches_assignment and not new_phase_reason:
        raise ValidationError(
            {
                "new_phase_reason": "Variants, weights, coverage and seed are frozen while the experiment "
                "runs. Give a reason to start a new phase; its results start afresh."
            }
        )
    before = _audit_state(experiment)
    for field in ("name", "hypothesis", "end_at", "target_sample_size", "primary_metric"):
        if field in changes:
            setattr(experiment, field, changes[field])
    if changes.get("coverage") is not None:
        experiment.coverage = _clean_coverage(changes["coverage"])
    if changes.get("seed"):
        experiment.seed = changes["seed"]
    if changes.get("variants") is not None:
        _set_variants(experiment, _clean_variants(experiment.product, changes["variants"]))
    experiment.save()
    if started and touches_assignment:
        _phase_open(experiment, reason=new_phase_reason, changed_by=changed_by)
    after = _audit_state(experiment)
    if started and touches_assignment:
        before["phase"], after["phase"] = experiment.phase - 1, experiment.phase
        after["new_phase_reason"] = new_phase_reason
    _audit(experiment, "experiment.updated", before, after, changed_by, api_key_id)
    _changed(experiment)
    return experiment


def _phase_open(experiment: Experiment, *, reason: str, changed_by: User | None) -> None:
    now = timezone.now()
    Phase.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, ended_at=None).update(
        ended_at=now
    )
    experiment.phase += 1
    experiment.save(update_fields=["phase", "updated_at"])
    Phase.objects.create(
        tenant_id=experiment.tenant_id,
        experiment=experiment,
        number=experiment.phase,
        started_at=now,
        seed=experiment.seed,
        coverage=experiment.coverage,
        variants=_snapshot(experiment),
        reason=reason,
        changed_by=changed_by,
    )


def _locked(experiment: Experiment, allowed: Sequence[str], action: str) -> Experiment:
    locked = Experiment.objects.for_tenant(experiment.tenant_id).select_for_update().get(pk=experiment.pk)
    if locked.status not in allowed:
        raise TransitionError(f"The experiment is {locked.status}; it cannot be {action}.")
    return locked


@transaction.atomic
def experiment_start(
    *, experiment: Experiment, changed_by: User | None = None, api_key_id: int | None = None
) -> Experiment:
    """Start (or resume) an experiment: its product's visitors are split from now on."""
    experiment = _locked(experiment, (Status.DRAFT, Status.PAUSED), "started")
    running = (
        Experiment.objects.for_tenant(experiment.tenant_id)
        .filter(product_id=experiment.product_id, status=Status.RUNNING)
        .exclude(pk=experiment.pk)
        .first()
    )
    if running is not None:
        raise TransitionError(f"Experiment {running.key!r} is already running on this product.")
    first_start = experiment.status == Status.DRAFT
    experiment.status = Status.RUNNING
    if first_start:
        experiment.started_at = timezone.now()
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError:  # another start on this product won the race
        raise TransitionError("Another experiment is already running on this product.") from None
    if first_start:
        _phase_open(experiment, reason="started", changed_by=changed_by)
    action = "experiment.started" if first_start else "experiment.resumed"
    before = {"status": Status.DRAFT if first_start else Status.PAUSED}
    _audit(experiment, action, before, {"status": Status.RUNNING}, changed_by, api_key_id)
    _announce(experiment, PriceChange.Source.EXPERIMENT_STARTED)
    _changed(experiment)
    return experiment


@transaction.atomic
def experiment_pause(
    *, experiment: Experiment, changed_by: User | None = None, api_key_id: int | None = None
) -> Experiment:
    """Pause: every visitor gets the base price; results keep what was collected. Without a
    person or key, the pause is Pricelab's own (past end_at or at the target sample)."""
    experiment = _locked(experiment, (Status.RUNNING,), "paused")
    experiment.status = Status.PAUSED
    experiment.save()
    before, after = {"status": Status.RUNNING}, {"status": Status.PAUSED}
    _audit(experiment, "experiment.paused", before, after, changed_by, api_key_id)
    _announce(experiment, PriceChange.Source.EXPERIMENT_PAUSED)
    _changed(experiment)
    return experiment


@transaction.atomic
def experiment_complete(
    *,
    experiment: Experiment,
    winner_key: str | None = None,
    rollout: bool = True,
    changed_by: User | None = None,
    api_key_id: int | None = None,
) -> Experiment:
    """End the experiment. With a winner and rollout, its price becomes the product's price."""
    experiment = _locked(experiment, (Status.RUNNING, Status.PAUSED), "completed")
    locked_status = experiment.status
    was_running = experiment.status == Status.RUNNING
    winner = None
    if winner_key is not None:
        winner = (
            Variant.objects.for_tenant(experiment.tenant_id)
            .filter(experiment=experiment, key=winner_key, active=True)
            .first()
        )
        if winner is None:
            raise ValidationError({"winner": f"No variant {winner_key!r} in this experiment."})
    now = timezone.now()
    experiment.status = Status.COMPLETED
    experiment.completed_at = now
    experiment.winner = winner
    experiment.save()
    _audit(
        experiment,
        "experiment.completed",
        {"status": locked_status, "winner": None},
        {"status": Status.COMPLETED, "winner": winner.key if winner else None, "rollout": rollout},
        changed_by,
        api_key_id,
    )
    Phase.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, ended_at=None).update(
        ended_at=now
    )
    rolled_out = None
    if winner is not None and rollout:
        rolled_out = pricing_services.price_change(
            product=experiment.product,
            price=winner.price,
            source=PricePoint.Source.EXPERIMENT,
            changed_by=changed_by,
            api_key_id=api_key_id,
            note=f"winner {winner.key} of {experiment.key}",
            experiment=experiment.key,
        )
    if was_running and rolled_out is None:
        # Visitors go back from variant prices to the (unchanged) base price.
        _announce(experiment, PriceChange.Source.EXPERIMENT_COMPLETED)
    _changed(experiment)
    return experiment


@transaction.atomic
def experiment_archive(
    *, experiment: Experiment, changed_by: User | None = None, api_key_id: int | None = None
) -> Experiment:
    """Put a finished or abandoned experiment out of the way."""
    experiment = _locked(experiment, (Status.DRAFT, Status.COMPLETED), "archived")
    before = {"status": experiment.status}
    experiment.status = Status.ARCHIVED
    experiment.save()
    _audit(experiment, "experiment.archived", before, {"status": Status.ARCHIVED}, changed_by, api_key_id)
    return experiment


def results_refresh(*, experiment: Experiment, with_series: bool = False) -> dict[str, Any]:
    """Compute the current phase's results; keep them as the phase's snapshot if it is large.

    ``with_series``: keep the daily chart beside them, computed now (the beat task does;
    a request does not wait for a chart it may not show, and then the snapshot holds none).
    """
    results = selectors.experiment_results(experiment)
    visitors = sum(variant["visitors"] for variant in results["variants"])
    if visitors >= RESULTS_LIVE_MAX_VISITORS:
        ResultsSnapshot.objects.for_tenant(experiment.tenant_id).update_or_create(
            tenant_id=experiment.tenant_id,
            experiment=experiment,
            phase=results["phase"],
            defaults={
                "visitors": visitors,
                "results": results,
                "series": selectors.experiment_daily_series(experiment) if with_series else None,
                "computed_at": selectors.parse_computed_at(results),
            },
        )
    return results


def results_current(*, experiment: Experiment) -> dict[str, Any]:
    """The current phase's results as a reader sees them, in the API and on the page alike.

    A large phase is served from its snapshot while that is fresh; otherwise the results
    are computed now, with the exposures buffered a moment ago included.
    """
    results = selectors.results_snapshot(experiment)
    if results is None:
        exposures.flush(max_batches=RESULTS_FLUSH_BATCHES)
        results = results_refresh(experiment=experiment)
    return results


def series_current(*, experiment: Experiment) -> dict[str, Any]:
    """The current phase's cumulative daily chart, from the same snapshot as the results
    while it is fresh (so the chart and the tables agree), else computed now.

    A chart computed now is kept beside a fresh snapshot that has none (one a request
    stored), so that the page's next polls do not each compute it again.
    """
    series = selectors.series_snapshot(experiment)
    if series is None:
        series = selectors.experiment_daily_series(experiment)
        ResultsSnapshot.objects.for_tenant(experiment.tenant_id).filter(
            experiment=experiment,
            phase=experiment.phase,
            series__isnull=True,
            computed_at__gte=timezone.now() - selectors.RESULTS_MAX_AGE,
        ).update(series=series)
    return series
