"""Reading the audit log: one tenant's entries, filtered, newest first."""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from audit.models import ActorKind, AuditEntry
from tenants.models import Tenant


def audit_entries(*, tenant: Tenant, **filters: Any) -> QuerySet[AuditEntry]:
    """The tenant's entries, filtered (see audit_filter), newest first."""
    return audit_filter(AuditEntry.objects.for_tenant(tenant), **filters)


def audit_filter(
    entries: QuerySet[AuditEntry],
    *,
    action: str = "",
    actor: str = "",
    actor_kind: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Narrow a tenant's entries. ``action`` ending in a dot matches a family (``experiment.``);
    ``actor`` is an email or a key prefix; ``since`` is inclusive, ``until`` exclusive."""
    if action.endswith("."):
        entries = entries.filter(action__startswith=action)
    elif action:
        entries = entries.filter(action=action)
    if actor:
        # Staff are shown to customers as "Pricelab staff": their emails are not a filter.
        entries = entries.filter(actor_label__iexact=actor).exclude(actor_kind=ActorKind.STAFF)
    if actor_kind:
        entries = entries.filter(actor_kind=actor_kind)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-id")
