"""Web forms for experiments: the design (with its variant rows), completing, the calculator.

The forms check what a field can check on its own (a number, a slug, a range); the rules
of a design (exactly one control, weights adding up to 1, prices in the currency) are the
service's, whose errors ``apply_service_errors`` puts next to the field or row they concern.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from experiments import services
from experiments.api import MAX_SAMPLE_SIZE
from experiments.models import Experiment, Variant
from pricing.models import PRICE_DECIMALS, PRICE_DIGITS, Product
from pricing.money import format_amount
from tenants.models import Tenant

# Paths under /experiments/ that an experiment's key would shadow.
RESERVED_KEYS = frozenset({"new", "calculator"})
PERCENT = Decimal(100)


class ProductSelect(forms.Select):
    """A product <select> whose options carry the base price and currency, for the page's script."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        product = getattr(value, "instance", None)
        if isinstance(product, Product):
            option["attrs"]["data-currency"] = product.currency
            option["attrs"]["data-price"] = format_amount(product.base_price, product.currency)
        return option


class ProductChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, product: Product) -> str:
        price = format_amount(product.base_price, product.currency)
        return f"{product.name} ({product.sku}) · {price} {product.currency}"


def tenant_products(tenant: Tenant):
    """Products an experiment can test: the tenant's, on sale."""
    return Product.objects.for_tenant(tenant).filter(active=True).order_by("name", "sku")


class ExperimentForm(forms.Form):
    """An experiment's design, without its variants (a formset beside it)."""

    key = forms.SlugField(
        label="Key",
        max_length=64,
        help_text="Letters, digits, - and _. Your code and the API name the experiment by it; it stays.",
    )
    name = forms.CharField(label="Name", max_length=200)
    hypothesis = forms.CharField(
        label="Hypothesis",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you expect and why, e.g. “Regulars will pay 20 % more for loose-leaf tea.”",
    )
    product = ProductChoiceField(label="Product", queryset=Product.objects.none(), widget=ProductSelect)
    primary_metric = forms.ChoiceField(
        label="Primary metric",
        choices=Experiment.Metric.choices,
        initial=Experiment.Metric.CONVERSION_RATE,
        help_text="The verdict is decided on this metric; both are shown.",
    )
    coverage = forms.DecimalField(
        label="Visitors included (%)",
        min_value=Decimal("0.01"),
        max_value=PERCENT,
        decimal_places=2,
        initial=PERCENT,
        help_text="The share of the product's visitors who enter the test; the rest see the base price.",
    )
    end_at = forms.DateTimeField(
        label="End (UTC, optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="The test pauses by itself then, for you to pick a winner.",
    )
    target_sample_size = forms.IntegerField(
        label="Target visitors per variant (optional)",
        required=False,
        min_value=1,
        max_value=MAX_SAMPLE_SIZE,
        help_text="The test pauses once every variant has this many; the calculator suggests one.",
    )

    def __init__(self, *args: Any, tenant: Tenant, experiment: Experiment | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = tenant_products(tenant)
        if experiment is not None:
            # A draft keeps its key and product: other systems may already use the key.
            for name in ("key", "product"):
                self.fields[name].disabled = True
                self.fields[name].required = False
            products = Product.objects.for_tenant(tenant)
            self.fields["product"].queryset = products.filter(pk=experiment.product_id)

    @classmethod
    def initial_from(cls, experiment: Experiment) -> dict[str, Any]:
        return {
            "key": experiment.key,
            "name": experiment.name,
            "hypothesis": experiment.hypothesis,
            "product": experiment.product_id,
            "primary_metric": experiment.primary_metric,
            "coverage": (experiment.coverage * PERCENT).normalize(),
            "end_at": experiment.end_at,
            "target_sample_size": experiment.target_sample_size,
        }

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if key in RESERVED_KEYS and not self.fields["key"].disabled:
            raise ValidationError(f"“{key}” is the name of a page here; choose another key.")
        return key

    def clean_end_at(self) -> datetime | None:
        end_at = self.cleaned_data["end_at"]
        # A past end would pause the test the minute it starts.
        if end_at is not None and end_at <= timezone.now():
            raise ValidationError("Choose a time in the future, or leave it empty.")
        return end_at

    def service_fields(self) -> dict[str, Any]:
        """The cleaned design as the service's keyword arguments (coverage as a share of 1)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "hypothesis": data["hypothesis"],
            "primary_metric": data["primary_metric"],
            "coverage": data["coverage"] / PERCENT,
            "end_at": data["end_at"],
            "target_sample_size": data["target_sample_size"],
        }


class VariantForm(forms.Form):
    """One row of the variants table. Which row is the control is one radio group across rows."""

    key = forms.SlugField(label="Key", max_length=64)
    # Text, not type=number: a browser turns "13,50" into 1350 there, silently. The service
    # checks the amount against the product's currency (pricing.money).
    price = forms.RegexField(
        label="Price",
        regex=rf"^\s*\d{{1,{PRICE_DIGITS - PRICE_DECIMALS}}}(\.\d+)?\s*$",
        max_length=32,
        error_messages={"invalid": "Write the price with digits and a point for decimals, e.g. 13.50."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}),
    )
    weight = forms.DecimalField(
        label="Weight",
        min_value=0,
        max_value=1,
        max_digits=6,
        decimal_places=5,
        widget=forms.NumberInput(attrs={"step": "0.00001"}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["key"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})


class BaseVariantFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_few_forms": "An experiment needs at least %(num)d variants.",
        "too_many_forms": "An experiment has at most %(num)d variants.",
    }

    def __init__(self, *args: Any, control: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The radio group's value: the index of the control row ("0" for a new design).
        self.control = control if control is not None else "0"

    def rows(self) -> list[tuple[str, forms.Form, bool]]:
        """Each row with its index (the radio's value) and whether it is the control."""
        return [(str(index), form, str(index) == self.control) for index, form in enumerate(self.forms)]

    def specs(self) -> list[services.VariantSpec]:
        """The filled rows as the service's variant specs; blank added rows are skipped."""
        return [
            {
                "key": form.cleaned_data["key"],
                "price": form.cleaned_data["price"],
                "weight": form.cleaned_data["weight"],
                "is_control": str(index) == self.control,
            }
            for index, form in enumerate(self.forms)
            if form.cleaned_data
        ]

    def add_error(self, message: str) -> None:
        """An error about the variants as a whole, shown above the table."""
        self.non_form_errors()  # make sure the formset is cleaned and the list exists
        self._non_form_errors.append(message)


VariantFormSet = forms.formset_factory(
    VariantForm,
    formset=BaseVariantFormSet,
    extra=0,
    min_num=services.MIN_VARIANTS,
    max_num=services.MAX_VARIANTS,
    validate_min=True,
    validate_max=True,
)
VARIANTS_PREFIX = "variants"
NEW_VARIANTS = [
    {"key": "control", "weight": Decimal("0.5")},
    {"key": "treatment", "weight": Decimal("0.5")},
]


def variant_formset(data: Any = None, *, experiment: Experiment | None = None) -> BaseVariantFormSet:
    """The variants table: posted rows, a draft's variants, or two even rows for a new design."""
    if data is not None:
        return VariantFormSet(data, prefix=VARIANTS_PREFIX, control=data.get("control", ""))
    if experiment is None:
        return VariantFormSet(initial=NEW_VARIANTS, prefix=VARIANTS_PREFIX)
    variants = list(
        Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, active=True)
    )
    currency = experiment.product.currency
    initial = [
        {"key": v.key, "price": format_amount(v.price, currency), "weight": v.weight} for v in variants
    ]
    control = next((str(i) for i, v in enumerate(variants) if v.is_control), "0")
    return VariantFormSet(initial=initial, prefix=VARIANTS_PREFIX, control=control)


def apply_service_errors(error: ValidationError, form: forms.Form, formset: BaseVariantFormSet) -> None:
    """Put a refused design's errors where the person will look: its field, or its variant row."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    rows = {f.cleaned_data.get("key"): f for f in formset.forms if f.cleaned_data}
    for field, messages in error.message_dict.items():
        for message in messages:
            if field == "variants":
                # The service names a row's problem "<key>: <what>".
                key, _, rest = message.partition(": ")
                if rest and key in rows:
                    rows[key].add_error(None, rest)
                else:
                    formset.add_error(message)
            elif field in form.fields and not form.fields[field].disabled:
                form.add_error(field, message)
            else:
                form.add_error(None, message)


class CompleteForm(forms.Form):
    """Completing: which variant won, and whether its price becomes the product's price."""

    winner = forms.ChoiceField(label="Winner", required=False)
    rollout = forms.BooleanField(
        label="Roll the winner's price out to every visitor", required=False, initial=True
    )

    def __init__(self, *args: Any, experiment: Experiment, suggested: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        currency = experiment.product.currency
        variants = Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, active=True)
        self.fields["winner"].choices = [("", "No winner: keep the product's price")] + [
            (v.key, f"{v.key}{' (control)' * v.is_control} · {format_amount(v.price, currency)} {currency}")
            for v in variants
        ]
        self.fields["winner"].initial = suggested or ""


POWER_CHOICES = [("0.8", "80 % (common)"), ("0.9", "90 %"), ("0.95", "95 %")]


class SampleSizeForm(forms.Form):
    """The sample-size calculator's inputs, in percent as people think of them."""

    baseline = forms.DecimalField(
        label="Baseline conversion rate (%)",
        min_value=Decimal("0.01"),
        max_value=Decimal("99.99"),
        decimal_places=2,
        initial=Decimal(5),
        help_text="Today's share of visitors who buy.",
    )
    mde = forms.DecimalField(
        label="Minimum detectable effect (relative, %)",
        min_value=Decimal("0.1"),
        max_value=Decimal(1000),
        decimal_places=2,
        initial=Decimal(10),
        help_text="The smallest change worth detecting: 10 % turns a 5 % rate into 5.5 %.",
    )
    power = forms.TypedChoiceField(
        label="Power",
        choices=POWER_CHOICES,
        coerce=float,
        initial="0.8",
        help_text="The chance of detecting the effect if it is real (at 95 % confidence).",
    )
    variants = forms.IntegerField(
        label="Variants (with control)",
        min_value=services.MIN_VARIANTS,
        max_value=services.MAX_VARIANTS,
        initial=services.MIN_VARIANTS,
    )
    product = ProductChoiceField(
        label="Product (for its traffic)", queryset=Product.objects.none(), required=False
    )
    daily_visitors = forms.IntegerField(
        label="Visitors a day (optional)",
        required=False,
        min_value=1,
        help_text="Leave empty to use the product's measured traffic.",
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = tenant_products(tenant)

    @classmethod
    def from_query(cls, query: Any, *, tenant: Tenant, prefix: str) -> "SampleSizeForm":
        """Bound to the query string, or to the defaults on a first visit (so a result shows at once)."""
        if not any(name.startswith(f"{prefix}-") for name in query):
            defaults = {
                f"{prefix}-{name}": field.initial for name, field in cls.base_fields.items() if field.initial
            }
            return cls(defaults, tenant=tenant, prefix=prefix)
        return cls(query, tenant=tenant, prefix=prefix)

    def estimate_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "baseline_rate": float(data["baseline"] / PERCENT),
            "relative_mde": float(data["mde"] / PERCENT),
            "power": data["power"],
            "variants": data["variants"],
            "product": data["product"],
            "daily_visitors": data["daily_visitors"],
        }
