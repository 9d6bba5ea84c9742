"""Writing the audit log. Every write service that changes prices, experiments, plans, keys,
members or webhooks calls audit_record in its own transaction, so a change that is rolled
back leaves no entry, and an entry is never written for a change that did not happen."""

import datetime
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from audit import context
from audit.actors import Actor
from audit.models import ActorKind, AuditEntry
from tenants.models import ApiKey, Tenant

# Field names whose values are never written to the log, whatever the caller passes: key
# hashes, signing secrets, tokens and passwords. Matched on the whole name, lower-cased.
SECRET_FIELDS = frozenset(
    {"key_hash", "secret", "token", "token_hash", "password", "raw", "signing_secret", "webhook_secret"}
)
_LABEL_MAX = 200


def _is_secret(name: str) -> bool:
    name = name.lower()
    return name in SECRET_FIELDS or name.endswith(("_secret", "_hash", "_token", "password"))


def _plain(value: Any) -> Any:
    """A JSON value for a model field's value: money as a string, times in ISO 8601, rows by id."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _is_secret(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of a row as JSON values; a foreign key by its id, secrets never."""
    values = {}
    for name in fields:
        if _is_secret(name):
            continue
        field = obj._meta.get_field(name)
        values[name] = _plain(getattr(obj, field.attname))
    return values


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what changed, on both sides."""
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _tenant_id(tenant: Tenant | int | None) -> int | None:
    return tenant.pk if isinstance(tenant, Tenant) else tenant


def _actor_fields(actor: Actor, tenant_id: int | None) -> dict[str, Any]:
    label = actor.label
    if actor.kind == ActorKind.API_KEY and not actor.api_key_prefix:
        keys = ApiKey.objects.unscoped() if tenant_id is None else ApiKey.objects.for_tenant(tenant_id)
        label = keys.filter(pk=actor.api_key_id).values_list("prefix", flat=True).first() or label
    return {
        "actor_kind": actor.kind,
        "actor_user_id": actor.user.pk if actor.user is not None else None,
        "actor_api_key_id": actor.api_key_id,
        "actor_label": label[:254],
    }


def audit_record(
    *,
    tenant: Tenant | int | None,
    actor: Actor,
    action: str,
    target: models.Model | tuple[str, Any, str],
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry. ``target`` is the changed row, or (type, id, label) for one that is
    gone or is not a row; ``before``/``after`` hold the changed fields only (secrets are
    dropped here whatever the caller passes). Call it inside the change's transaction."""
    if isinstance(target, models.Model):
        object_type, object_id, object_label = target._meta.model_name, target.pk, str(target)
    else:
        object_type, object_id, object_label = target
    tenant_id = _tenant_id(tenant)
    info = context.current()
    entry = AuditEntry(
        tenant_id=tenant_id,
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        object_label=str(object_label)[:_LABEL_MAX],
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        request_id=info.request_id,
        ip_address=info.ip_address,
        user_agent=info.user_agent,
        **_actor_fields(actor, tenant_id),
    )
    entry.save()
    return entry
