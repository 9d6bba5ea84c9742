"""The products pages: list, create, detail with price history, edit and (de)activate."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from pricing import selectors, services
from pricing.forms import DEFAULT_CURRENCY, ProductActiveForm, ProductCreateForm, ProductEditForm
from pricing.models import PricePoint, Product
from pricing.money import format_amount, minor_units
from pricing.templatetags.money import money
from tenants.mixins import TenantScopedViewMixin
from tenants.models import Scope

# A page of the list; tenants with more products search or page through them.
PRODUCTS_PER_PAGE = 50
# Price changes shown in the table and the chart: months of daily changes, still a light page.
HISTORY_LIMIT = 200
# The list's state filter: query value → Product.active.
STATES = {"active": True, "inactive": False}


class ProductListView(TenantScopedViewMixin, ListView):
    """The tenant's products with their live prices, searchable by name or sku, filtered by state."""

    template_name = "pricing/product_list.html"
    scoped_model = Product
    context_object_name = "products"
    paginate_by = PRODUCTS_PER_PAGE

    def refine_queryset(self, queryset: QuerySet[Product]) -> QuerySet[Product]:
        products = selectors.products_search(products=queryset, search=self.search)
        if self.state in STATES:
            products = products.filter(active=STATES[self.state])
        return selectors.products_with_experiment(products=products, tenant_id=self.access.tenant.pk)

    @property
    def search(self) -> str:
        return self.request.GET.get("q", "").strip()[:100]

    @property
    def state(self) -> str:
        state = self.request.GET.get("state", "")
        return state if state in STATES else "all"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        searched = selectors.products_search(
            products=Product.objects.for_tenant(self.access.tenant), search=self.search
        )
        return super().get_context_data(
            search=self.search, state=self.state, counts=selectors.product_counts(products=searched), **kwargs
        )


class ProductCreateView(TenantScopedViewMixin, FormView):
    """Add a product: its base price opens the price history and goes live at once."""

    template_name = "pricing/product_new.html"
    form_class = ProductCreateForm
    scoped_model = Product
    required_scope = Scope.WRITE

    def get_initial(self) -> dict[str, Any]:
        # Most shops sell in one currency: preselect the one they used last.
        latest = self.get_queryset().order_by("-created_at").values_list("currency", flat=True).first()
        return {"currency": latest or DEFAULT_CURRENCY}

    def form_valid(self, form: ProductCreateForm) -> HttpResponse:
        try:
            product = services.product_create(
                tenant=self.access.tenant,
                **form.cleaned_data,
                source=PricePoint.Source.MANUAL,
                changed_by=self.request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)  # a dict of field → messages lands next to each field
            return self.form_invalid(form)
        price = money(product.base_price, product.currency)
        messages.success(self.request, f"Created {product.name} ({product.sku}) at {price}.")
        return redirect("product_detail", sku=product.sku)

    def form_invalid(self, form: ProductCreateForm) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ProductDetailView(TenantScopedViewMixin, DetailView):
    """One product: its live price, the experiment holding it, and its price history."""

    template_name = "pricing/product_detail.html"
    scoped_model = Product
    slug_field = slug_url_kwarg = "sku"
    context_object_name = "product"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        product = self.object
        history = selectors.price_history_with_previous(product=product, limit=HISTORY_LIMIT)
        chart = {
            "sku": product.sku,
            "name": product.name,
            "currency": product.currency,
            "decimals": minor_units(product.currency),
            "sources": dict(PricePoint.Source.choices),
            "points": [
                {"t": point.valid_from.isoformat(), "price": format_amount(point.price, point.currency)}
                for point in reversed(history)
            ],
        }
        return super().get_context_data(
            experiment=selectors.experiment_testing(product=product),
            history=history,
            history_cut=len(history) == HISTORY_LIMIT,
            chart=chart,
            **kwargs,
        )


class ProductEditView(TenantScopedViewMixin, View):
    """Rename a product or change its price by hand; refused while an experiment holds the price."""

    template_name = "pricing/product_edit.html"
    scoped_model = Product
    required_scope = Scope.WRITE

    def get(self, request: HttpRequest, sku: str) -> HttpResponse:
        product = get_object_or_404(self.get_queryset(), sku=sku)
        initial = {"name": product.name, "price": format_amount(product.base_price, product.currency)}
        return self._render(product, ProductEditForm(initial=initial, currency=product.currency))

    def post(self, request: HttpRequest, sku: str) -> HttpResponse:
        product = get_object_or_404(self.get_queryset(), sku=sku)
        before = money(product.base_price, product.currency)
        form = ProductEditForm(request.POST, currency=product.currency)
        if not form.is_valid():
            return self._render(product, form, status=400)
        name, price = form.cleaned_data["name"], form.cleaned_data["price"]
        done = []
        try:
            # One edit, one outcome: a refused price leaves the name as it was too.
            with transaction.atomic():
                if price != product.base_price:
                    services.price_change(
                        product=product, price=price, source=PricePoint.Source.MANUAL, changed_by=request.user
                    )
                    done.append(f"price changed from {before} to {money(price, product.currency)}")
                if name != product.name:
                    services.product_update(product=product, name=name, changed_by=request.user)
                    done.append(f"renamed to {name}")
        except services.PriceLocked as refusal:
            return self._render(product, form, status=409, refusal=" ".join(refusal.messages))
        except ValidationError as error:
            form.add_error(None, error)
            return self._render(product, form, status=400)
        if done:
            messages.success(request, f"{product.sku}: {' and '.join(done)}.")
        else:
            messages.info(request, f"{product.sku}: nothing to change.")
        return redirect("product_detail", sku=product.sku)

    def _render(
        self, product: Product, form: ProductEditForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        context = {
            "product": product,
            "form": form,
            "experiment": selectors.experiment_testing(product=product),
        }
        return render(self.request, self.template_name, {**context, **extra}, status=status)


class ProductActiveView(TenantScopedViewMixin, View):
    """Put a product on sale, or take it off sale: visitors then get no quote for it."""

    scoped_model = Product
    required_scope = Scope.WRITE
    http_method_names = ["post"]

    def post(self, request: HttpRequest, sku: str) -> HttpResponse:
        product = get_object_or_404(self.get_queryset(), sku=sku)
        form = ProductActiveForm(request.POST)
        if not form.is_valid():
            raise BadRequest("active must be true or false")
        services.product_update(
            product=product, active=form.cleaned_data["active"], changed_by=self.request.user
        )
        if product.active:
            messages.success(request, f"{product.name} is active: visitors get a quote for it again.")
        else:
            messages.success(request, f"{product.name} is inactive: visitors no longer get a quote for it.")
        return redirect("product_detail", sku=product.sku)
