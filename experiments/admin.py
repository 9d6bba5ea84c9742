from django.contrib import admin

from experiments.models import Conversion, Experiment, Exposure, Phase, Variant
from tenants.admin import ReadOnlyInline, UnscopedAdminMixin


class VariantInline(ReadOnlyInline):
    model = Variant
    fields = ["key", "name", "price", "weight", "is_control", "active"]


class PhaseInline(ReadOnlyInline):
    model = Phase
    fields = ["number", "started_at", "ended_at", "coverage", "seed", "reason", "changed_by"]


@admin.register(Experiment)
class ExperimentAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """Experiments for support: read-only, since lifecycle steps move prices and caches
    and belong to the API and UI, which go through the services."""

    list_display = ["key", "name", "tenant", "product", "status", "phase", "started_at", "completed_at"]
    list_filter = ["status", "primary_metric"]
    search_fields = ["key", "name", "tenant__name", "tenant__slug", "product__sku"]
    list_select_related = ["tenant", "product"]
    inlines = [VariantInline, PhaseInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _ReadOnlyEventAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """Events are facts from integrators: staff look, nobody edits. Tables grow to
    millions of rows, so the admin skips the full count."""

    show_full_result_count = False
    list_select_related = ["tenant", "experiment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Exposure)
class ExposureAdmin(_ReadOnlyEventAdmin):
    list_display = ["visitor_id", "experiment", "phase", "variant", "tenant", "exposed_at"]
    search_fields = ["visitor_id", "experiment__key"]
    list_select_related = ["tenant", "experiment", "variant"]


@admin.register(Conversion)
class ConversionAdmin(_ReadOnlyEventAdmin):
    list_display = [
        "visitor_id",
        "experiment",
        "product",
        "revenue",
        "idempotency_key",
        "tenant",
        "occurred_at",
    ]
    search_fields = ["visitor_id", "idempotency_key", "experiment__key"]
    list_select_related = ["tenant", "experiment", "product"]
