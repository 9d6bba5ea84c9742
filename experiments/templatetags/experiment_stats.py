"""How the experiment pages show statistics: shares as percentages, signed uplifts, p-values."""

from django import template

from pricing.money import MoneyError, minor_units

register = template.Library()

# p-values this small are all "certainly not chance"; more digits would be noise.
SMALLEST_P_SHOWN = 0.0001
DASH = "—"


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """``0.0523|pct:2`` → ``5.23 %``."""
    if value is None:
        return DASH
    return f"{value * 100:.{digits}f} %"


@register.filter
def signed_pct(value: float | None, digits: int = 1) -> str:
    """An uplift: ``0.12`` → ``+12.0 %``, ``-0.05`` → ``-5.0 %`` with a real minus sign (U+2212)."""
    if value is None:
        return DASH
    return f"{value * 100:+.{digits}f} %".replace("-", "\u2212")


@register.filter
def interval(bounds: list[float] | None, digits: int = 1) -> str:
    """An uplift's interval: ``[-0.011, 0.251]`` → ``-1.1 % to +25.1 %`` (minus signs as in signed_pct)."""
    if not bounds:
        return DASH
    return f"{signed_pct(bounds[0], digits)} to {signed_pct(bounds[1], digits)}"


@register.filter
def p_value(value: float | None) -> str:
    if value is None:
        return DASH
    if value < SMALLEST_P_SHOWN:
        return f"< {SMALLEST_P_SHOWN}"
    return f"{value:.4f}"


@register.filter
def per_visitor(value: float | None, currency: str) -> str:
    """Revenue per visitor, two digits finer than the currency (0.5234 EUR, not 0.52 EUR)."""
    if value is None:
        return DASH
    try:
        digits = minor_units(currency) + 2
    except MoneyError:
        digits = 4
    return f"{value:.{digits}f} {currency}"


@register.filter
def thousands(value: int | float | None) -> str:
    """``12345`` → ``12,345``."""
    if value is None:
        return DASH
    return f"{round(value):,}"
