"""Forms of the products pages. Money rules stay in pricing.money and the services."""

from decimal import Decimal

from django import forms
from iso4217 import Currency

from pricing.converters import SkuConverter
from pricing.models import Product
from pricing.money import CURRENCIES, MoneyError, parse_amount

# The currencies most shops price in, offered first; every other current code follows.
COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN")
DEFAULT_CURRENCY = "EUR"
_NAME_MAX = Product._meta.get_field("name").max_length
_SKU_MAX = Product._meta.get_field("sku").max_length
# Skus that are also the address of a products page (/products/new/) would be unreachable.
RESERVED_SKUS = frozenset({"new"})


def _label(code: str) -> str:
    return f"{code} · {Currency[code].currency_name}"


def currency_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """ISO 4217 codes for a <select>: common ones first, then the rest alphabetically."""
    others = sorted(CURRENCIES - set(COMMON_CURRENCIES))
    return [
        ("Common", [(code, _label(code)) for code in COMMON_CURRENCIES]),
        ("All currencies", [(code, _label(code)) for code in others]),
    ]


def _price_widget() -> forms.TextInput:
    # Text, not type=number: the browser must not round or reformat what the person typed.
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"})


class ProductCreateForm(forms.Form):
    sku = forms.RegexField(
        label="SKU",
        regex=rf"^{SkuConverter.regex}$",
        max_length=_SKU_MAX,
        error_messages={"invalid": "Use letters, digits, '.', '_' and '-', starting with a letter or digit."},
        help_text="How your storefront and the API name it, e.g. tea-1kg. It cannot be changed later.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label="Name", max_length=_NAME_MAX)
    currency = forms.ChoiceField(label="Currency", choices=currency_choices)
    base_price = forms.CharField(
        label="Base price",
        max_length=32,
        widget=_price_widget(),
        help_text="What visitors pay outside any experiment, e.g. 24.90 (at most the currency's decimals).",
    )

    def clean_sku(self) -> str:
        sku = self.cleaned_data["sku"]
        if sku in RESERVED_SKUS:
            raise forms.ValidationError(f"“{sku}” is reserved for a page of Pricelab; choose another SKU.")
        return sku


class ProductEditForm(forms.Form):
    name = forms.CharField(label="Name", max_length=_NAME_MAX)
    price = forms.CharField(label="Base price", max_length=32, widget=_price_widget())

    def __init__(self, *args: object, currency: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["price"].label = f"Base price ({currency})"
        self.fields["price"].help_text = "A change is recorded in the price history and goes live at once."

    def clean_price(self) -> Decimal:
        # Parsed here (the service parses again) so the view can tell a change from a rename.
        try:
            return parse_amount(self.cleaned_data["price"], self.currency)
        except MoneyError as error:
            raise forms.ValidationError(str(error)) from None


class ProductActiveForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("true", "Active"), ("false", "Inactive")], coerce=lambda v: v == "true"
    )
