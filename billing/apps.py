from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Plans, usage metering, quotas and Stripe (models arrive with issue 5)."""

    name = "billing"
