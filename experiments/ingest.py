"""Ingesting integrators' events: exposures and conversions, in batches.

Each item stands alone: a bad one is rejected with its index and reason, and the good
ones of the same batch are stored. A repeated idempotency key (in the batch or already
stored) counts once, and so does a visitor's repeated exposure to one experiment phase.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from experiments.assignment import assign
from experiments.models import IDEMPOTENCY_KEY_MAX, VISITOR_ID_MAX, Conversion, Experiment, Exposure, Variant
from pricing.models import Product
from pricing.money import MoneyError, parse_amount

MAX_EVENTS = 1000
# Clocks differ; an event stamped a little ahead of ours is still believable.
FUTURE_TOLERANCE = timedelta(minutes=5)
TYPES = ("exposure", "conversion")
# Nothing a storefront sends about a visitor is this old; earlier is a client's bug.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Statuses in which an experiment still takes conversions (late purchases of a paused or
# just-completed test are real) and exposures (only while visitors are being split).
CONVERTING = (Experiment.Status.RUNNING, Experiment.Status.PAUSED, Experiment.Status.COMPLETED)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, code: str, message: str) -> None:
        self.rejected.append({"index": index, "code": code, "message": message})


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message


def _storable(value: str) -> bool:
    """PostgreSQL stores neither NUL nor a lone UTF-16 surrogate (JSON lets a client send both)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()  # UTF-8 has no encoding for a lone surrogate
    except UnicodeEncodeError:
        return False
    return True


def _text(item: dict, name: str, limit: int, required: bool) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _Invalid(f"invalid_{name}", f"{name} must be a non-empty string of at most {limit} characters.")
    if not _storable(value):
        raise _Invalid(f"invalid_{name}", f"{name} contains a NUL or an unpaired surrogate character.")
    return value


def _timestamp(item: dict, now: datetime) -> datetime:
    raw = item.get("timestamp")
    if raw is None:
        return now
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        if parsed is not None:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # "2024-02-30", "+99:00", year 1 in a far zone
        parsed = None
    if parsed is None:
        raise _Invalid("invalid_timestamp", "timestamp must be an ISO 8601 date and time.")
    if parsed > now + FUTURE_TOLERANCE:
        raise _Invalid("invalid_timestamp", "timestamp is in the future.")
    if parsed < EARLIEST:
        raise _Invalid("invalid_timestamp", f"timestamp is before {EARLIEST:%Y}.")
    return parsed


def events_ingest(*, tenant_id: int, events: list[Any]) -> IngestResult:
    """Store a batch of events; answer what was accepted, duplicated and rejected."""
    now = timezone.now()
    result = IngestResult()
    items = [e if isinstance(e, dict) else {} for e in events]

    def refs(name: str) -> set[str]:
        # Only strings that could be stored: a NUL would fail the lookup, and the batch.
        return {i[name] for i in items if isinstance(i.get(name), str) and _storable(i[name])}

    experiments = {
        e.key: e
        for e in Experiment.objects.for_tenant(tenant_id)
        .filter(key__in=refs("experiment"))
        .select_related("product")
    }
    products = {p.sku: p for p in Product.objects.for_tenant(tenant_id).filter(sku__in=refs("product"))}
    # A conversion named by sku belongs to the product's running experiment, if any.
    by_product = {
        e.product_id: e
        for e in Experiment.objects.for_tenant(tenant_id)
        .filter(product__in=products.values(), status=Experiment.Status.RUNNING)
        .select_related("product")
    }
    variants: dict[int, list[Variant]] = {}
    wanted = {e.pk for e in experiments.values()} | {e.pk for e in by_product.values()}
    for v in (
        Variant.objects.for_tenant(tenant_id)
        .filter(experiment_id__in=wanted, active=True)
        .order_by("position")
    ):
        variants.setdefault(v.experiment_id, []).append(v)

    # Rows as tuples in the tables' column order (EXPOSURE_COLUMNS, CONVERSION_COLUMNS):
    # building a model instance per event cost more than storing it.
    exposures: dict[tuple, tuple] = {}
    conversions: dict[tuple[str, str | int], tuple] = {}
    for index, raw in enumerate(events):
        try:
            if not isinstance(raw, dict):
                raise _Invalid("invalid_event", "Each event must be an object.")
            kind = raw.get("type")
            if kind not in TYPES:
                raise _Invalid("invalid_type", "type must be 'exposure' or 'conversion'.")
            visitor = _text(raw, "visitor_id", VISITOR_ID_MAX, required=True)
            key = _text(raw, "idempotency_key", IDEMPOTENCY_KEY_MAX, required=False)
            at = _timestamp(raw, now)
            experiment_key = _text(raw, "experiment", 64, required=False)
            sku = _text(raw, "product", 64, required=False)
            if experiment_key is not None:
                experiment = experiments.get(experiment_key)
                if experiment is None:
                    raise _Invalid("unknown_experiment", f"No experiment {experiment_key!r}.")
                product = experiment.product
            elif sku is not None:
                product = products.get(sku)
                if product is None:
                    raise _Invalid("unknown_product", f"No product {sku!r}.")
                experiment = by_product.get(product.pk)
            else:
                raise _Invalid("missing_target", "Give an experiment key or a product sku.")

            if kind == "exposure":
                if experiment is None or experiment.status != Experiment.Status.RUNNING:
                    raise _Invalid("experiment_not_running", "Exposures count only while an experiment runs.")
                options = variants.get(experiment.pk, [])
                assignment = assign(
                    visitor_id=visitor,
                    seed=experiment.seed,
                    weights=[float(v.weight) for v in options],
                    coverage=float(experiment.coverage),
                    hash_version=experiment.hash_version,
                )
                if not assignment.in_experiment:
                    raise _Invalid("not_in_experiment", "This visitor is outside the experiment's coverage.")
                identity = (experiment.pk, experiment.phase, visitor)
                if identity in exposures:
                    result.duplicates += 1
                    continue
                exposures[identity] = (
                    tenant_id,
                    experiment.pk,
                    experiment.phase,
                    options[assignment.variation].pk,
                    visitor,
                    at,
                )
            else:
                if experiment is not None and experiment.status not in CONVERTING:
                    raise _Invalid(
                        "experiment_not_running", f"Experiment {experiment.key!r} is {experiment.status}."
                    )
                try:
                    revenue = parse_amount(raw.get("revenue", 0), product.currency)
                except MoneyError as error:
                    raise _Invalid("invalid_revenue", str(error)) from None
                slot = ("key", key) if key is not None else ("index", index)
                if slot in conversions:
                    result.duplicates += 1
                    continue
                conversions[slot] = (
                    tenant_id,
                    experiment.pk if experiment is not None else None,
                    product.pk,
                    experiment.phase if experiment is not None else 0,
                    visitor,
                    revenue,
                    key,
                    at,
                    now,
                )
        except _Invalid as invalid:
            result.reject(index, invalid.code, invalid.message)

    with transaction.atomic():
        if exposures:
            stored = _exposures_store(tenant_id, list(exposures.values()))
            result.duplicates += len(exposures) - stored
            result.accepted += stored
        if conversions:
            stored = _conversions_store(tenant_id, list(conversions.values()))
            result.duplicates += len(conversions) - stored
            result.accepted += stored
    return result


EXPOSURE_COLUMNS = ("tenant_id", "experiment_id", "phase", "variant_id", "visitor_id", "exposed_at")
CONVERSION_COLUMNS = (
    "tenant_id", "experiment_id", "product_id", "phase", "visitor_id", "revenue", "idempotency_key",
    "occurred_at", "received_at",
)  # fmt: skip


# Staged conversions, each with its visitor's exposure in the phase if that is stored.
_SELECT_WITH_EXPOSURE = f"""
SELECT {{columns}}, e.variant_id, e.exposed_at FROM {{staging}} AS s
LEFT JOIN {Exposure._meta.db_table} AS e
  ON e.tenant_id = s.tenant_id AND e.experiment_id = s.experiment_id
 AND e.phase = s.phase AND e.visitor_id = s.visitor_id
"""  # noqa: S608


def _insert_new(
    table: str, columns: tuple[str, ...], rows: list[tuple], *, with_exposure: bool = False
) -> int:
    """Insert rows, skipping any that a unique constraint already holds. Returns how many were new.

    The rows are COPYed into a session-local staging table, then moved with one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING: COPY is PostgreSQL's fastest way in, and
    the unique indexes decide what is a duplicate (also against a concurrent batch)
    instead of a SELECT beforehand. Every row carries the tenant_id the caller was given,
    as the scoped queryset would have. ``with_exposure`` (conversions): each row also
    takes its visitor's stored exposure (``Conversion.variant``, ``exposed_at``).
    """
    staging = f"ingest_{table}"
    names = ", ".join(columns)
    target, select = names, f"SELECT {names} FROM {staging}"  # noqa: S608 (names from the model)
    if with_exposure:
        target = f"{names}, variant_id, exposed_at"
        select = _SELECT_WITH_EXPOSURE.format(columns=", ".join(f"s.{c}" for c in columns), staging=staging)
    with connection.cursor() as cursor:
        # Created once per connection; emptied at every commit (and unused ones cost nothing).
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({target}) {select} ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")  # a second batch in this transaction starts empty
    return inserted


def _exposures_store(tenant_id: int, rows: list[tuple]) -> int:
    """Store first exposures; a visitor already exposed in the phase is skipped. Returns how many were new."""
    if connection.vendor == "postgresql":
        return _insert_new(Exposure._meta.db_table, EXPOSURE_COLUMNS, rows)
    # Other databases (the embedded SQLite): look up what is stored, then insert the rest.
    stored = _stored_exposures(tenant_id, [(row[1], row[2], row[4]) for row in rows])
    fresh = [row for row in rows if (row[1], row[2], row[4]) not in stored]
    Exposure.objects.bulk_create(
        [Exposure(**dict(zip(EXPOSURE_COLUMNS, row, strict=True))) for row in fresh], ignore_conflicts=True
    )
    return len(fresh)


def _conversions_store(tenant_id: int, rows: list[tuple]) -> int:
    """Store conversions; one whose idempotency key is stored is skipped. Returns how many were new.

    Each takes its visitor's exposure in the phase if it is stored by then
    (``Conversion.variant``, ``exposed_at``); results look up the others.
    """
    if connection.vendor == "postgresql":
        return _insert_new(Conversion._meta.db_table, CONVERSION_COLUMNS, rows, with_exposure=True)
    keys = [row[6] for row in rows if row[6]]
    seen = set(
        Conversion.objects.for_tenant(tenant_id)
        .filter(idempotency_key__in=keys)
        .values_list("idempotency_key", flat=True)
    )
    fresh = [row for row in rows if row[6] not in seen]
    exposures = _stored_exposures(tenant_id, [(row[1], row[3], row[4]) for row in fresh if row[1]])
    conversions = []
    for row in fresh:
        variant_id, exposed_at = exposures.get((row[1], row[3], row[4]), (None, None))
        fields = dict(zip(CONVERSION_COLUMNS, row, strict=True))
        conversions.append(Conversion(**fields, variant_id=variant_id, exposed_at=exposed_at))
    Conversion.objects.bulk_create(conversions, ignore_conflicts=True)
    return len(fresh)


def _stored_exposures(tenant_id: int, identities: list[tuple]) -> dict[tuple, tuple]:
    """The stored exposures among (experiment_id, phase, visitor_id): identity → (variant_id, exposed_at)."""
    visitors_by_experiment: dict[tuple[int, int], list[str]] = {}
    for experiment_id, phase, visitor in identities:
        visitors_by_experiment.setdefault((experiment_id, phase), []).append(visitor)
    found = {}
    for (experiment_id, phase), visitors in visitors_by_experiment.items():
        for visitor, variant_id, exposed_at in (
            Exposure.objects.for_tenant(tenant_id)
            .filter(experiment_id=experiment_id, phase=phase, visitor_id__in=visitors)
            .values_list("visitor_id", "variant_id", "exposed_at")
        ):
            found[(experiment_id, phase, visitor)] = (variant_id, exposed_at)
    return found
