from django.apps import AppConfig


class PricingConfig(AppConfig):
    """Products, price history, quotes and live price updates (models arrive with issue 3)."""

    name = "pricing"
