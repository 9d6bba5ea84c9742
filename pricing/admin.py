from django.contrib import admin

from pricing.models import PricePoint, Product
from tenants.admin import UnscopedAdminMixin


class PricePointInline(UnscopedAdminMixin, admin.TabularInline):
    model = PricePoint
    extra = 0
    fields = ["valid_from", "price", "currency", "source", "changed_by", "note"]
    readonly_fields = fields
    ordering = ["-valid_from"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # prices change through the product's price, which records history


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
