"""Currencies and amounts. Money is Decimal in the currency's minor units, never float."""

import re
from decimal import Decimal, InvalidOperation

from iso4217 import Currency

# ISO 4217's current codes with their minor units; metals, test and "no currency" codes
# have none and are not prices.
_MINOR_UNITS = {c.code: c.exponent for c in Currency if c.exponent is not None}
CURRENCIES = frozenset(_MINOR_UNITS)
# The largest price Pricelab stores: 12 digits before the point fits every real price.
MAX_AMOUNT = Decimal("999999999999")
# Plain decimal notation only: Decimal() would also take "1e3", "1_000", "NaN", "Infinity"
# and other scripts' digits, none of which a person means as a price.
_PLAIN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# Longer than any amount Pricelab stores (12 digits, a point, 4 decimals) with room for
# leading zeros; a longer string is not a price but a probe.
AMOUNT_MAX_CHARS = 32


class MoneyError(ValueError):
    """An amount or currency that cannot be a price."""


def minor_units(currency: str) -> int:
    """Digits after the point: 2 for EUR, 0 for JPY, 3 for KWD (ISO 4217)."""
    if currency not in _MINOR_UNITS:
        raise MoneyError(f"{currency!r} is not a current ISO 4217 currency code.")
    return _MINOR_UNITS[currency]


def parse_amount(value: object, currency: str) -> Decimal:
    """A price as Decimal, refusing floats' noise, negatives and excess precision."""
    digits = minor_units(currency)
    text = str(value).strip()
    if len(text) > AMOUNT_MAX_CHARS:
        raise MoneyError(f"An amount has at most {AMOUNT_MAX_CHARS} characters.")
    if not _PLAIN.fullmatch(text):
        try:
            Decimal(text)
        except (InvalidOperation, ValueError):
            raise MoneyError(f"{text!r} is not a number.") from None
        raise MoneyError(
            f"{text!r} is not a plain decimal number: write it like 9.90 (no exponent, NaN or Infinity)."
        )
    amount = Decimal(text)
    if amount < 0:
        raise MoneyError("A price must be zero or more.")
    if amount > MAX_AMOUNT:
        raise MoneyError(f"A price must be at most {MAX_AMOUNT}.")
    if -amount.as_tuple().exponent > digits and amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise MoneyError(f"{currency} has {digits} decimal places; {value} has more.")
    return amount.quantize(Decimal(1).scaleb(-digits))


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a string with exactly the currency's decimal places ("9.90", "1200")."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))
