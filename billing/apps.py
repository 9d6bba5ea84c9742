from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    """Plans, usage metering, quotas, Stripe, and the finance admin."""

    name = "billing"

    def ready(self) -> None:
        from billing import signals  # noqa: F401  (limits follow plan and account changes)
        from billing.groups import groups_after_migrate

        # After billing's own migrate step; groups_ensure creates any permission it needs
        # that another app's post_migrate has not created yet.
        post_migrate.connect(groups_after_migrate, sender=self, dispatch_uid="billing.groups_ensure")
