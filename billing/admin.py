from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from billing.models import BillingAccount, Plan
from tenants.admin import UnscopedAdminMixin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "monthly_price",
        "monthly_units",
        "requests_per_minute",
        "overage",
        "public",
    ]
    list_editable = ["monthly_price", "monthly_units", "requests_per_minute"]
    readonly_fields = ["stripe_price_id"]

    @admin.display(description="Stripe Price (from settings)")
    def stripe_price_id(self, plan: Plan) -> str:
        return plan.stripe_price_id or "—"


@admin.register(BillingAccount)
class BillingAccountAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """A tenant's plan and overrides. An override needs a reason; who set it is recorded."""

    list_display = [
        "tenant",
        "plan",
        "monthly_units_override",
        "requests_per_minute_override",
        "overridden_by",
    ]
    list_filter = ["plan"]
    search_fields = ["tenant__name", "tenant__slug"]
    list_select_related = ["tenant", "plan", "overridden_by"]
    fields = [
        "tenant", "plan", "monthly_units_override", "requests_per_minute_override", "override_reason",
        "overridden_by", "overridden_at",
    ]  # fmt: skip
    readonly_fields = ["tenant", "overridden_by", "overridden_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every tenant gets its account when it is created

    def save_model(self, request: HttpRequest, obj: BillingAccount, form, change: bool) -> None:
        override_fields = {"monthly_units_override", "requests_per_minute_override", "override_reason"}
        if override_fields & set(form.changed_data):
            obj.overridden_by = request.user
            obj.overridden_at = timezone.now()
        super().save_model(request, obj, form, change)
