"""Experiment pages: the list by status, design (create, edit a draft), the sample-size
calculator, the detail page with live results, and the lifecycle actions."""

from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView

from experiments import selectors, services
from experiments.forms import (
    CompleteForm,
    ExperimentForm,
    SampleSizeForm,
    apply_service_errors,
    tenant_products,
    variant_formset,
)
from experiments.models import Experiment, Variant
from pricing.models import Product
from pricing.money import format_amount
from tenants.mixins import TenantScopedViewMixin
from tenants.models import Scope

Status = Experiment.Status
# The tabs of the list, in the order a person looks for them.
TABS = (Status.RUNNING, Status.DRAFT, Status.PAUSED, Status.COMPLETED, Status.ARCHIVED)
EXPERIMENTS_PER_PAGE = 25
# Statuses whose results can still change, so the detail page polls them.
LIVE_STATUSES = (Status.RUNNING, Status.PAUSED)
# htmx stops polling an element whose response has this status (the test stopped meanwhile).
HTMX_STOP_POLLING = 286
CALCULATOR_PREFIX = "calc"


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # after a POST, the browser follows with a GET
    return response


def _detail_url(experiment: Experiment) -> str:
    return reverse("experiment_detail", args=[experiment.key])


def _price(amount: Any, product: Product) -> str:
    return f"{format_amount(amount, product.currency)} {product.currency}"


class ExperimentListView(TenantScopedViewMixin, ListView):
    """The tenant's experiments in one status at a time, with visitors and the current leader."""

    template_name = "experiments/experiment_list.html"
    scoped_model = Experiment
    paginate_by = EXPERIMENTS_PER_PAGE
    context_object_name = "experiments"

    @cached_property
    def counts(self) -> dict[str, int]:
        return selectors.experiment_status_counts(self.access.tenant)

    @cached_property
    def status(self) -> str:
        wanted = self.request.GET.get("status")
        if wanted in TABS:
            return wanted
        # First visit: the first tab with something in it, running tests first.
        return next((s for s in TABS if self.counts[s]), Status.RUNNING)

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return (
            queryset.filter(status=self.status)
            .select_related("product", "winner")
            .annotate(variant_count=Count("variants", filter=Q(variants__active=True)))
            .order_by(
                F("completed_at").desc(nulls_last=True), F("started_at").desc(nulls_last=True), "-created_at"
            )
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page: Page = context["page_obj"]
        rows = list(page.object_list)
        tenant = self.access.tenant
        visitors = selectors.experiments_visitors(tenant, [e.pk for e in rows])
        leaders = selectors.experiments_leaders(tenant, [e for e in rows if e.status == Status.RUNNING])
        context.update(
            rows=[(e, visitors.get(e.pk, 0), leaders.get(e.pk)) for e in rows],
            tabs=[(s, Status(s).label, self.counts[s]) for s in TABS],
            status=self.status,
            status_label=Status(self.status).label.lower(),
            total=sum(self.counts.values()),
            can_write=Scope.WRITE in self.access.scopes,
            has_products=tenant_products(tenant).exists(),
        )
        return context


class _DesignView(TenantScopedViewMixin, TemplateView):
    """Shared by create and edit: the design form, its variant rows and the calculator."""

    template_name = "experiments/experiment_form.html"
    scoped_model = Experiment
    required_scope = Scope.WRITE

    def render_design(self, form: ExperimentForm, formset: Any, *, status: int = 200, **extra: Any):
        calculator = SampleSizeForm.from_query({}, tenant=self.access.tenant, prefix=CALCULATOR_PREFIX)
        calculator.is_valid()
        return self.render_to_response(
            self.get_context_data(
                form=form,
                formset=formset,
                calculator=calculator,
                estimate=_estimate(calculator),
                embedded=True,
                **extra,
            ),
            status=status,
        )


class ExperimentCreateView(_DesignView):
    """Design a new experiment (a draft: no visitor sees anything until it starts)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_design(ExperimentForm(tenant=self.access.tenant), variant_formset())

    def post(self, request: HttpRequest) -> HttpResponse:
        tenant = self.access.tenant
        form = ExperimentForm(request.POST, tenant=tenant)
        formset = variant_formset(request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                experiment = services.experiment_create(
                    tenant=tenant,
                    product=form.cleaned_data["product"],
                    key=form.cleaned_data["key"],
                    variants=formset.specs(),
                    changed_by=request.user,
                    **form.service_fields(),
                )
            except ValidationError as error:
                apply_service_errors(error, form, formset)
            else:
                messages.success(
                    request,
                    f"Created the draft “{experiment.name}”. Visitors see nothing new until you start it.",
                )
                return _see_other(_detail_url(experiment))
        return self.render_design(form, formset, status=400)


class ExperimentEditView(_DesignView):
    """Change a draft's design; a started experiment keeps its design (results depend on it)."""

    def _draft(self, key: str) -> Experiment | None:
        experiment = get_object_or_404(self.get_queryset().select_related("product"), key=key)
        if experiment.status != Status.DRAFT:
            messages.error(
                self.request,
                f"“{experiment.name}” is {experiment.get_status_display().lower()}: only a draft's design "
                "can be changed here.",
            )
            return None
        return experiment

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        experiment = self._draft(key)
        if experiment is None:
            return _see_other(reverse("experiment_detail", args=[key]))
        form = ExperimentForm(
            initial=ExperimentForm.initial_from(experiment), tenant=self.access.tenant, experiment=experiment
        )
        return self.render_design(form, variant_formset(experiment=experiment), experiment=experiment)

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        experiment = self._draft(key)
        if experiment is None:
            return _see_other(reverse("experiment_detail", args=[key]))
        form = ExperimentForm(
            request.POST,
            initial=ExperimentForm.initial_from(experiment),
            tenant=self.access.tenant,
            experiment=experiment,
        )
        formset = variant_formset(request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                services.experiment_update(
                    experiment=experiment,
                    changed_by=request.user,
                    variants=formset.specs(),
                    **form.service_fields(),
                )
            except ValidationError as error:
                apply_service_errors(error, form, formset)
            else:
                messages.success(request, f"Saved the design of “{form.cleaned_data['name']}”.")
                return _see_other(_detail_url(experiment))
        return self.render_design(form, formset, status=400, experiment=experiment)


def _estimate(form: SampleSizeForm) -> selectors.SampleSizeEstimate | None:
    return selectors.sample_size_estimate(**form.estimate_arguments()) if form.is_valid() else None


class SampleSizeView(TenantScopedViewMixin, TemplateView):
    """The sample-size calculator: a page of its own, or (for htmx) just the recomputed result."""

    template_name = "experiments/calculator.html"
    scoped_model = Product

    def get(self, request: HttpRequest) -> HttpResponse:
        form = SampleSizeForm.from_query(request.GET, tenant=self.access.tenant, prefix=CALCULATOR_PREFIX)
        context = {"calculator": form, "estimate": _estimate(form), "embedded": request.GET.get("embedded")}
        if request.htmx:
            return render(request, "experiments/_calculator_result.html", context)
        return self.render_to_response(self.get_context_data(**context))


class _ExperimentPage(TenantScopedViewMixin, DetailView):
    """One of the tenant's experiments, by its key in the URL."""

    scoped_model = Experiment
    slug_field = slug_url_kwarg = "key"
    context_object_name = "experiment"


class ExperimentDetailView(_ExperimentPage):
    """An experiment's design, its lifecycle controls and its results (polled while it runs)."""

    template_name = "experiments/experiment_detail.html"

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("product", "winner")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        experiment: Experiment = self.object
        context = super().get_context_data(**kwargs)
        context.update(_results_context(experiment))
        context.update(
            variants=Variant.objects.for_tenant(experiment.tenant_id)
            .filter(experiment=experiment, active=True)
            .order_by("position"),
            can_write=Scope.WRITE in self.access.scopes,
            live=experiment.status in LIVE_STATUSES,
            base_price=_price(experiment.product.base_price, experiment.product),
        )
        if experiment.status in LIVE_STATUSES:
            suggested = selectors.suggested_winner(context["results"]) if context["results"] else None
            context["complete_form"] = CompleteForm(experiment=experiment, suggested=suggested)
        return context


def _results_context(experiment: Experiment) -> dict[str, Any]:
    """Results, their tables and chart data for the current phase; nothing for a draft."""
    if experiment.status == Status.DRAFT:
        return {"results": None}
    results = services.results_current(experiment=experiment)
    series = services.series_current(experiment=experiment)
    variants = results["variants"]
    visitors = sum(v["visitors"] for v in variants)
    conversions = sum(v["conversions"] for v in variants)
    return {
        "results": results,
        "tables": _result_tables(results),
        "suggested": selectors.suggested_winner(results),
        "totals": {
            "visitors": visitors,
            "conversions": conversions,
            "conversion_rate": conversions / visitors if visitors else None,
            "revenue": sum((Decimal(v["revenue"]) for v in variants), Decimal(0)),
        },
        "chart_data": {**results, "series": series},
        "updated_at": timezone.now(),
    }


def _result_tables(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per metric, the primary first: each variant beside its comparison with control."""
    tables = []
    for metric in selectors.METRICS:
        by_variant = {c["variant"]: c for c in results["comparisons"][metric]}
        tables.append(
            {
                "metric": metric,
                "label": Experiment.Metric(metric).label,
                "primary": metric == results["primary_metric"],
                "rows": [(v, by_variant.get(v["key"])) for v in results["variants"]],
            }
        )
    return sorted(tables, key=lambda table: not table["primary"])


class ExperimentResultsView(_ExperimentPage):
    """The results block alone, which the detail page polls every few seconds."""

    template_name = "experiments/_results.html"

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("product")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        if not request.htmx:  # a person who followed the URL wants the whole page
            return HttpResponseRedirect(_detail_url(self.object))
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**_results_context(self.object), **kwargs)

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        if self.object.status not in LIVE_STATUSES:
            kwargs["status"] = HTMX_STOP_POLLING
        return super().render_to_response(context, **kwargs)


class _ActionView(TenantScopedViewMixin, View):
    """A lifecycle step: POST only, needs write, answers with the detail page and a message."""

    scoped_model = Experiment
    required_scope = Scope.WRITE
    http_method_names = ["post"]

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        experiment = get_object_or_404(self.get_queryset().select_related("product"), key=key)
        try:
            message = self.act(experiment)
        except ValidationError as error:
            # A refused step (already completed, another test running on the product…) is news.
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, message)
        return _see_other(_detail_url(experiment))

    def act(self, experiment: Experiment) -> str:
        raise NotImplementedError


class ExperimentStartView(_ActionView):
    """Start a draft, or resume a paused experiment."""

    def act(self, experiment: Experiment) -> str:
        resumed = experiment.status == Status.PAUSED
        experiment = services.experiment_start(experiment=experiment, changed_by=self.request.user)
        verb = "Resumed" if resumed else "Started"
        product = experiment.product.name
        return f"{verb} “{experiment.name}”: visitors of {product} now see the variants' prices."


class ExperimentPauseView(_ActionView):
    """Pause: every visitor gets the base price again; results keep what was collected."""

    def act(self, experiment: Experiment) -> str:
        experiment = services.experiment_pause(experiment=experiment, changed_by=self.request.user)
        product = experiment.product
        return (
            f"Paused “{experiment.name}”: every visitor of {product.name} sees "
            f"{_price(product.base_price, product)} until you resume it."
        )


class ExperimentCompleteView(_ActionView):
    """End the experiment, with a winner whose price may become the product's price."""

    def act(self, experiment: Experiment) -> str:
        form = CompleteForm(self.request.POST, experiment=experiment)
        if not form.is_valid():
            raise ValidationError("Choose a winner among the variants of this experiment, or none.")
        winner, rollout = form.cleaned_data["winner"] or None, form.cleaned_data["rollout"]
        experiment = services.experiment_complete(
            experiment=experiment, winner_key=winner, rollout=rollout, changed_by=self.request.user
        )
        product = Product.objects.for_tenant(experiment.tenant_id).get(pk=experiment.product_id)
        price = _price(product.base_price, product)
        if winner is None:
            return f"Completed “{experiment.name}” without a winner: {product.name} stays at {price}."
        if rollout:
            return f"Completed “{experiment.name}”: {winner} won; {product.name} costs {price} for everyone."
        return f"Completed “{experiment.name}” with {winner} as the winner; {product.name} stays at {price}."


class ExperimentArchiveView(_ActionView):
    """Put a draft or completed experiment out of the way (its results stay readable)."""

    def act(self, experiment: Experiment) -> str:
        experiment = services.experiment_archive(experiment=experiment, changed_by=self.request.user)
        return f"Archived “{experiment.name}”. It is listed under Archived."
