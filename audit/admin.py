"""The audit log in admin (read-only, for staff and finance), and the mixin that records
what staff change in admin: saves, deletions and inline rows."""

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.actors import Actor
from audit.models import AuditEntry
from audit.services import _is_secret, audit_record, diff, snapshot
from config.admin import ReadOnlyAdmin


def _audited_fields(model: type[models.Model], exclude: tuple[str, ...] = ()) -> list[str]:
    return [
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in exclude and not _is_secret(f.name)
    ]


def _tenant_of(obj: models.Model) -> Any:
    from tenants.models import Tenant

    return obj.pk if isinstance(obj, Tenant) else getattr(obj, "tenant_id", None)


def _stored(obj: models.Model) -> models.Model | None:
    """The row as the database has it, before the form's values are saved over it."""
    return type(obj)._base_manager.filter(pk=obj.pk).first() if obj.pk is not None else None


class AuditedAdminMixin:
    """Records each staff save and delete in the audit log, with the changed fields before
    and after (secrets never). Admin actions call services, which record for themselves when
    given ``by=Actor.staff(request.user)``.

    ``audit_object`` names the object in action codes (``<object>.created|changed|deleted``);
    ``audit_exclude`` leaves fields out (bookkeeping, not changes)."""

    audit_object: str = ""
    audit_exclude: tuple[str, ...] = ()

    def audit_action(self, obj: models.Model, verb: str, changed: set[str]) -> str:
        return f"{self.audit_object or obj._meta.model_name}.{verb}"

    def audit_inline_action(self, obj: models.Model, verb: str, changed: set[str]) -> str:
        return f"{obj._meta.model_name}.{verb}"

    def audit_label(self, obj: models.Model) -> str:
        return str(obj)

    def _record(
        self, request: HttpRequest, obj: models.Model, verb: str, before: dict | None, after: dict | None,
        inline: bool = False,
    ) -> None:  # fmt: skip
        if before is not None and after is not None:
            before, after = diff(before, after)
            if not after:
                return  # saved without a change
        changed = set(after or before or {})
        name = self.audit_inline_action if inline else self.audit_action
        audit_record(
            tenant=_tenant_of(obj),
            actor=Actor.staff(request.user),
            action=name(obj, verb, changed),
            target=(obj._meta.model_name, obj.pk, self.audit_label(obj)),
            before=before,
            after=after,
        )

    def _snapshot(self, obj: models.Model | None) -> dict | None:
        if obj is None:
            return None
        return snapshot(obj, _audited_fields(type(obj), self.audit_exclude))

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        before = self._snapshot(_stored(obj)) if change else None
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        self._record(request, obj, "changed" if change else "created", before, self._snapshot(obj))

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self._record(request, obj, "deleted", self._snapshot(obj), None)
        super().delete_model(request, obj)  # type: ignore[misc]

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self._record(request, obj, "deleted", self._snapshot(obj), None)
        super().delete_queryset(request, queryset)  # type: ignore[misc]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows (a tenant's members) are changes of their own: one entry each."""
        befores = {
            f.instance.pk: self._snapshot(_stored(f.instance))
            for f in formset.initial_forms
            if f.instance.pk is not None
        }
        # Recorded first: a deleted row has no id once it is gone. One transaction either way.
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                before = befores.get(deleted.instance.pk)
                self._record(request, deleted.instance, "deleted", before, None, inline=True)
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj, _fields in formset.changed_objects:
            self._record(request, obj, "changed", befores.get(obj.pk), self._snapshot(obj), inline=True)
        for obj in formset.new_objects:
            self._record(request, obj, "created", None, self._snapshot(obj), inline=True)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Every tenant's audit log and staff's own changes. Entries are written once, by the
    services: nobody adds, changes or deletes one here."""

    list_display = ["created_at", "tenant_name", "actor_kind", "actor_label", "action", "object_summary"]
    list_filter = ["action", "actor_kind", "created_at", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["actor_label", "object_label", "object_id", "action", "request_id", "=ip_address"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    show_full_result_count = False  # a count over millions of rows on every page is not worth it
    fields = [
        "created_at", "tenant_name", "action", "actor_kind", "actor_label", "actor_user", "actor_api_key_id",
        "object_type", "object_id", "object_label", "before", "after", "request_id", "ip_address",
        "user_agent",
    ]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return AuditEntry.objects.unscoped().order_by("-id")

    @admin.display(description="Tenant", ordering="tenant__name")
    def tenant_name(self, entry: AuditEntry) -> str:
        if entry.tenant_id is None:
            return "—"
        return entry.tenant.name if entry.tenant else f"#{entry.tenant_id} (deleted)"

    @admin.display(description="Object")
    def object_summary(self, entry: AuditEntry) -> str:
        return f"{entry.object_type} {entry.object_label or entry.object_id}"
