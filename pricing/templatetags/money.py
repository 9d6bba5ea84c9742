"""How the web UI shows money: the API's amount string and the ISO code, "24.90 EUR".

static/js/live.js renders live prices the same way, so a price updated in place looks
like one the server rendered.
"""

from decimal import Decimal

from django import template

from pricing.money import MoneyError, format_amount

register = template.Library()


@register.filter
def money(amount: Decimal | str | None, currency: str) -> str:
    """``{{ product.base_price|money:product.currency }}`` → ``24.90 EUR``."""
    if amount is None or amount == "":
        return "—"
    try:
        return f"{format_amount(Decimal(str(amount)), currency)} {currency}"
    except (MoneyError, ArithmeticError, ValueError):
        return f"{amount} {currency}"
