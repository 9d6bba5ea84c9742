from django.contrib import admin

from audit.actors import Actor
from audit.admin import AuditedAdminMixin
from pricing import webhooks
from pricing.models import PricePoint, Product, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.admin import ReadOnlyInline, UnscopedAdminMixin


class PricePointInline(ReadOnlyInline):
    model = PricePoint
    fields = ["valid_from", "price", "currency", "source", "changed_by", "note"]
    ordering = ["-valid_from"]


@admin.register(Product)
class ProductAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """Products for support and audit. Prices change through the API or UI, which record
    history and refresh quotes; here they are read-only."""

    list_display = ["sku", "name", "tenant", "currency", "base_price", "active", "updated_at"]
    list_filter = ["active", "currency"]
    search_fields = ["sku", "name", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "sku", "currency", "base_price", "created_at", "updated_at"]
    fields = ["tenant", "sku", "name", "currency", "base_price", "active", "created_at", "updated_at"]
    inlines = [PricePointInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["attempted_at", "succeeded", "response_status", "latency_ms", "error"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdminMixin, UnscopedAdminMixin, admin.ModelAdmin):
    """Endpoints by URL; the signing secret is never shown here (nor in the audit log)."""

    def audit_action(self, obj: WebhookEndpoint, verb: str, changed: set[str]) -> str:
        return f"webhook.endpoint_{verb.replace('changed', 'updated')}"

    list_display = ["url", "tenant", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    fields = ["tenant", "url", "description", "event_types", "active", "created_at"]
    readonly_fields = ["tenant", "url", "event_types", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    list_display = ["event_id", "event_type", "endpoint", "tenant", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "endpoint__url", "tenant__slug"]
    list_select_related = ["tenant", "endpoint"]
    readonly_fields = [
        "tenant", "endpoint", "event_id", "event_type", "payload", "status", "attempts",
        "next_attempt_at", "created_at", "delivered_at",
    ]  # fmt: skip
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Redeliver selected (same event id)", permissions=["change"])
    def redeliver(self, request, queryset) -> None:
        deliveries = list(queryset)
        for delivery in deliveries:
            webhooks.redeliver(delivery=delivery, by=Actor.staff(request.user))
        self.message_user(request, f"Queued {len(deliveries)} delivery(ies) again.")
