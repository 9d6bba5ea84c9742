"""Currencies and amounts. Money is Decimal in the currency's minor units, never float."""

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

# Codes starting with X are ISO 4217's metals, test and special codes, except these four
# currencies in daily use.
_X_CURRENCIES = {"XAF", "XCD", "XOF", "XPF"}
CURRENCIES = frozenset(c for c in list_currencies() if not c.startswith("X") or c in _X_CURRENCIES)
# The largest price Pricelab stores: 12 digits before the point fits every real price.
MAX_AMOUNT = Decimal("999999999999")


class MoneyError(ValueError):
    """An amount or currency that cannot be a price."""


def minor_units(currency: str) -> int:
    """Digits after the point: 2 for EUR, 0 for JPY, 3 for KWD (CLDR data)."""
    if currency not in CURRENCIES:
        raise MoneyError(f"{currency!r} is not an ISO 4217 currency code.")
    return get_currency_precision(currency)


def parse_amount(value: object, currency: str) -> Decimal:
    """A price as Decimal, refusing floats' noise, negatives and excess precision."""
    digits = minor_units(currency)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{value!r} is not a number.") from None
    if not amount.is_finite() or amount < 0:
        raise MoneyError("A price must be zero or more.")
    if amount > MAX_AMOUNT:
        raise MoneyError(f"A price must be at most {MAX_AMOUNT}.")
    if -amount.as_tuple().exponent > digits and amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise MoneyError(f"{currency} has {digits} decimal places; {value} has more.")
    return amount.quantize(Decimal(1).scaleb(-digits))


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a string with exactly the currency's decimal places ("9.90", "1200")."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))
