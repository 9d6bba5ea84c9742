from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

from tenants.scoping import TenantManager, TenantOwnedModel, TenantQuerySet


class AppendOnlyError(RuntimeError):
    """An audit entry was about to be changed or deleted: entries are written once."""


class AuditQuerySet(TenantQuerySet):
    # Bulk writes bypass save() and delete(): refuse them here too. The database refuses
    # them as well (a trigger, see migration 0001), for code that goes around the ORM.
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit entries cannot be deleted.")


class AuditManager(TenantManager.from_queryset(AuditQuerySet)):  # type: ignore[misc]
    pass


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    STAFF = "staff", "Pricelab staff"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"
    STRIPE = "stripe", "Stripe"


class AuditEntry(TenantOwnedModel):
    """One change to prices, experiments, plans, keys, members or webhooks: who, what, when,
    before and after. Written by audit.services.audit_record in the change's transaction."""

    # Nullable for staff changes that belong to no tenant (a plan's terms). No foreign-key
    # constraint and no cascade: the record of a tenant, including its deletion, outlives it.
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the composite indexes below all lead with tenant_id
        related_name="audit_entries",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # The person (customer or staff), kept as an id and a label: the label still says who
    # it was after the account is gone.
    actor_user = models.ForeignKey(
        "tenants.User",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, help_text="An email, a key prefix, or system/stripe.")
    action = models.CharField(max_length=64, help_text="Stable dotted code, e.g. price.changed.")
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = AuditManager()

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            # The tenant's log, newest first, and its filters (DESIGN rule 1: tenant first).
            models.Index(fields=["tenant", "-id"], name="audit_tenant_id"),
            models.Index(fields=["tenant", "action", "-id"], name="audit_tenant_action"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_tenant_object"),
            models.Index(fields=["tenant", "created_at"], name="audit_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit entries cannot be deleted.")
