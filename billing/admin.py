"""Billing in the admin: plans and overrides for staff; Stripe's mirror, usage and MRR for finance.

Subscriptions, invoices and Stripe events are copies of Stripe's objects: they change in
Stripe (or by the sync), never here, so their admins are read-only for everyone. So are the
meter reports, notices and usage rows, which services write.
"""

import json
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from audit.admin import AuditedAdminMixin
from billing import finance
from billing.models import (
    BillingAccount,
    Invoice,
    MeterReport,
    Notice,
    Plan,
    StripeEvent,
    Subscription,
    UsageDaily,
    UsageMonthly,
)
from config.admin import ReadOnlyAdmin
from tenants.admin import UnscopedAdminMixin

# The summary reads subscriptions, accounts and daily usage: who may view all three may see it.
SUMMARY_PERMISSIONS = ("billing.view_subscription", "billing.view_billingaccount", "billing.view_usagedaily")
MRR_HELP = (
    "Unit amount times quantity, per month (a yearly price is divided by 12). Only active and past-due "
    "subscriptions count; trialing ones do not until the trial converts. Before discounts and tax."
)
# An event may be retried until it has been handled; a pending one may be stuck in the queue.
RETRYABLE_EVENT_STATUSES = (StripeEvent.Status.FAILED, StripeEvent.Status.PENDING)


def _date(value: datetime | None) -> str:
    return timezone.localtime(value).date().isoformat() if value else "…"


def _period(start: datetime | None, end: datetime | None) -> str:
    if start is None and end is None:
        return "—"
    return f"{_date(start)} to {_date(end)}"


def _external_link(url: str, text: str) -> SafeString | str:
    if not url.startswith("https://"):
        return text or "—"
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, text)


@admin.register(Plan)
class PlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Plans' terms: a change applies to every tenant on the plan at once, so it is audited
    (an entry of no tenant, seen by staff)."""

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

    def audit_action(self, obj: Plan, verb: str, changed: set[str]) -> str:
        # Not plan.changed: that code means a tenant moved to another plan.
        return {"created": "plan.created", "changed": "plan.edited", "deleted": "plan.deleted"}[verb]

    @admin.display(description="Stripe Price (from settings)")
    def stripe_price_id(self, plan: Plan) -> str:
        return plan.stripe_price_id or "—"


@admin.register(BillingAccount)
class BillingAccountAdmin(AuditedAdminMixin, UnscopedAdminMixin, admin.ModelAdmin):
    """A tenant's plan and overrides. An override needs a reason; who set it is recorded."""

    list_display = [
        "tenant",
        "plan",
        "subscription_status",
        "monthly_units_override",
        "requests_per_minute_override",
        "overridden_by",
    ]
    list_filter = ["plan", "subscription_status"]
    search_fields = ["tenant__name", "tenant__slug", "stripe_customer_id"]
    list_select_related = ["tenant", "plan", "overridden_by"]
    fields = [
        "tenant", "plan", "monthly_units_override", "requests_per_minute_override", "override_reason",
        "overridden_by", "overridden_at", "stripe_customer_id", "subscription_status", "past_due_since",
    ]  # fmt: skip
    readonly_fields = [
        "tenant", "overridden_by", "overridden_at", "stripe_customer_id", "subscription_status",
        "past_due_since",
    ]  # fmt: skip

    # Who set an override and when are already recorded by the entry itself.
    audit_exclude = ("overridden_by", "overridden_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every tenant gets its account when it is created

    def audit_action(self, obj: BillingAccount, verb: str, changed: set[str]) -> str:
        return "plan.changed" if "plan" in changed else "billing.override_changed"

    def audit_label(self, obj: BillingAccount) -> str:
        return obj.tenant.name

    def save_model(self, request: HttpRequest, obj: BillingAccount, form, change: bool) -> None:
        override_fields = {"monthly_units_override", "requests_per_minute_override", "override_reason"}
        if override_fields & set(form.changed_data):
            obj.overridden_by = request.user
            obj.overridden_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Subscription)
class SubscriptionAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    """Every tenant's Stripe subscriptions with their MRR; also serves the finance summary."""

    list_display = [
        "tenant", "plan", "status", "current_period", "cancel_at_period_end", "mrr", "stripe_link",
    ]  # fmt: skip
    list_filter = ["status", "plan", "cancel_at_period_end", "livemode"]
    search_fields = ["tenant__name", "tenant__slug", "stripe_id", "stripe_customer_id", "stripe_price_id"]
    list_select_related = ["tenant", "plan"]
    date_hierarchy = "created"
    fields = [
        "tenant", "stripe_link", "status", "plan", "price", "mrr", "current_period_start",
        "current_period_end", "cancel_at_period_end", "canceled_at", "ended_at", "stripe_customer_id",
        "stripe_price_id", "livemode", "created", "synced_at",
    ]  # fmt: skip
    readonly_fields = fields

    def get_form(self, request: HttpRequest, obj: Subscription | None = None, change: bool = False, **kwargs):
        # A computed field has no help text of its own: give MRR its definition on the page.
        return super().get_form(request, obj, change, help_texts={"mrr": MRR_HELP}, **kwargs)

    @admin.display(description="Current period")
    def current_period(self, subscription: Subscription) -> str:
        return _period(subscription.current_period_start, subscription.current_period_end)

    @admin.display(description="MRR")
    def mrr(self, subscription: Subscription) -> str:
        amount = finance.subscription_mrr(subscription)
        return "—" if amount is None else finance.money(amount, subscription.currency)

    @admin.display(description="Price")
    def price(self, subscription: Subscription) -> str:
        each = finance.money(subscription.unit_amount, subscription.currency)
        every = subscription.interval
        if subscription.interval_count != 1:
            every = f"{subscription.interval_count} {subscription.interval}s"
        return f"{each} every {every}, quantity {subscription.quantity}"

    @admin.display(description="In Stripe", ordering="stripe_id")
    def stripe_link(self, subscription: Subscription) -> SafeString | str:
        url = finance.stripe_dashboard_url(
            "subscriptions", subscription.stripe_id, livemode=subscription.livemode
        )
        return _external_link(url, subscription.stripe_id)

    def get_urls(self) -> list[URLPattern]:
        summary = path("summary/", self.admin_site.admin_view(self.summary_view), name="billing_summary")
        return [summary, *super().get_urls()]

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        """MRR, tenants by plan, this month's usage by plan, and the month's churn."""
        if not request.user.has_perms(SUMMARY_PERMISSIONS):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Finance summary",
            "opts": self.opts,
            "summary": finance.finance_summary(),
            "mrr_help": MRR_HELP,
        }
        return TemplateResponse(request, "admin/billing/summary.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {"mrr_help": MRR_HELP, "can_see_summary": request.user.has_perms(SUMMARY_PERMISSIONS)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})


@admin.register(Invoice)
class InvoiceAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    list_display = ["invoice_number", "tenant", "due", "paid", "status", "period", "hosted_link", "created"]
    list_filter = ["status"]
    search_fields = [
        "number", "stripe_id", "stripe_customer_id", "stripe_subscription_id", "tenant__name", "tenant__slug",
    ]  # fmt: skip
    list_select_related = ["tenant"]
    date_hierarchy = "created"
    fields = [
        "number", "stripe_id", "tenant", "status", "due", "paid", "invoice_total", "period", "hosted_link",
        "pdf_link", "stripe_customer_id", "stripe_subscription_id", "created", "synced_at",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Number", ordering="number")
    def invoice_number(self, invoice: Invoice) -> str:
        return invoice.number or invoice.stripe_id  # a draft has no number yet

    @admin.display(description="Amount due", ordering="amount_due")
    def due(self, invoice: Invoice) -> str:
        return finance.money(invoice.amount_due, invoice.currency)

    @admin.display(description="Paid", ordering="amount_paid")
    def paid(self, invoice: Invoice) -> str:
        return finance.money(invoice.amount_paid, invoice.currency)

    @admin.display(description="Total", ordering="total")
    def invoice_total(self, invoice: Invoice) -> str:
        return finance.money(invoice.total, invoice.currency)

    @admin.display(description="Period", ordering="period_start")
    def period(self, invoice: Invoice) -> str:
        return _period(invoice.period_start, invoice.period_end)

    @admin.display(description="Hosted invoice")
    def hosted_link(self, invoice: Invoice) -> SafeString | str:
        return _external_link(invoice.hosted_invoice_url, "Open") if invoice.hosted_invoice_url else "—"

    @admin.display(description="PDF")
    def pdf_link(self, invoice: Invoice) -> SafeString | str:
        return _external_link(invoice.invoice_pdf, "Download") if invoice.invoice_pdf else "—"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """Webhook events as received. Retrying needs the change permission (finance only views)."""

    list_display = [
        "type", "stripe_id", "tenant", "received_at", "processed_at", "status", "attempts", "error",
    ]  # fmt: skip
    list_filter = ["status", "type", "livemode"]
    search_fields = ["stripe_id", "type", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "received_at"
    fields = [
        "stripe_link", "type", "status", "attempts", "last_error", "tenant", "livemode", "api_version",
        "created", "received_at", "processed_at", "payload_pretty",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["retry"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"billing.{get_permission_codename('change', self.opts)}")

    @admin.display(description="Last error")
    def error(self, event: StripeEvent) -> str:
        return Truncator(event.last_error).chars(80) or "—"

    @admin.display(description="Stripe id", ordering="stripe_id")
    def stripe_link(self, event: StripeEvent) -> SafeString | str:
        url = finance.stripe_dashboard_url("events", event.stripe_id, livemode=event.livemode)
        return _external_link(url, event.stripe_id)

    @admin.display(description="Payload")
    def payload_pretty(self, event: StripeEvent) -> SafeString:
        # Keys sorted: PostgreSQL's jsonb does not keep Stripe's order, so none is lost here.
        text = json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    @admin.action(
        description="Retry processing",
        permissions=["retry"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        from billing.subscriptions import event_retry  # the processing side, loaded when used

        events = list(queryset.filter(status__in=RETRYABLE_EVENT_STATUSES))
        for event in events:
            event_retry(event=event)
        skipped = queryset.count() - len(events)
        message = f"Queued {len(events)} event(s) for processing again."
        if skipped:
            message += f" Skipped {skipped} already processed or ignored."
        self.message_user(request, message, messages.SUCCESS if events else messages.WARNING)


@admin.register(UsageMonthly)
class UsageMonthlyAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    """Units by tenant and month (the daily rollup's), with a CSV export of what is listed."""

    list_display = ["tenant", "month_display", "kind", "units", "rolled_up_at"]
    list_filter = ["kind", ("tenant__billing__plan", admin.RelatedFieldListFilter)]
    search_fields = ["tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "month"
    ordering = ["-month", "tenant__name", "kind"]

    @admin.display(description="Month", ordering="month")
    def month_display(self, row: UsageMonthly) -> str:
        return row.month.strftime("%Y-%m")

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/", self.admin_site.admin_view(self.export_view), name="billing_usagemonthly_export"
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Usage per tenant and month as CSV, narrowed by the changelist's filters and search."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid for usage.", content_type="text/plain")
        lines = finance.usage_by_tenant_month(queryset=queryset)
        response = StreamingHttpResponse(
            finance.usage_csv_lines(lines), content_type="text/csv; charset=utf-8"
        )
        filename = f"pricelab-usage-by-month-{datetime.now(UTC):%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(UsageDaily)
class UsageDailyAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    list_display = ["tenant", "day", "kind", "units"]
    list_filter = ["kind", ("tenant__billing__plan", admin.RelatedFieldListFilter)]
    search_fields = ["tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "day"
    ordering = ["-day", "tenant__name", "kind"]


class SentFilter(admin.SimpleListFilter):
    title = "sent to Stripe"
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Sent"), ("no", "Not sent yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


@admin.register(MeterReport)
class MeterReportAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    """Overage units sent to Stripe's meter, one row per send."""

    list_display = ["tenant", "period_start", "units", "covers_through", "created_at", "sent_at"]
    list_filter = [SentFilter]
    search_fields = ["tenant__name", "tenant__slug", "identifier", "stripe_customer_id"]
    list_select_related = ["tenant"]
    date_hierarchy = "period_start"


@admin.register(Notice)
class NoticeAdmin(UnscopedAdminMixin, ReadOnlyAdmin):
    """Emails sent to tenants' owners, each once."""

    list_display = ["tenant", "kind", "ref", "recipient_list", "sent_at"]
    list_filter = ["kind"]
    search_fields = ["tenant__name", "tenant__slug", "ref", "recipients"]
    list_select_related = ["tenant"]
    date_hierarchy = "sent_at"

    @admin.display(description="Recipients")
    def recipient_list(self, notice: Notice) -> str:
        return ", ".join(notice.recipients)
