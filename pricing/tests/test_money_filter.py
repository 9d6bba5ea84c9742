from decimal import Decimal

from pricing.templatetags.money import money


def test_money_shows_the_currency_decimals_and_code():
    assert money(Decimal("24.9"), "EUR") == "24.90 EUR"
    assert money(Decimal("1200"), "JPY") == "1200 JPY"
    assert money("1.25", "KWD") == "1.250 KWD"


def test_money_of_nothing_is_a_dash():
    assert money(None, "EUR") == "—"
