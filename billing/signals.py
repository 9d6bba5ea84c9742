"""Limits follow every change to a plan or an account, wherever it is made (admin included)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.limits import limits_changed
from billing.models import BillingAccount, Plan


@receiver(post_save, sender=BillingAccount, dispatch_uid="billing.account_limits_changed")
def account_saved(sender: type, instance: BillingAccount, **kwargs: object) -> None:
    limits_changed(instance.tenant_id)


@receiver(post_save, sender=Plan, dispatch_uid="billing.plan_limits_changed")
def plan_saved(sender: type, instance: Plan, **kwargs: object) -> None:
    tenant_ids = BillingAccount.objects.unscoped().filter(plan=instance).values_list("tenant_id", flat=True)
    limits_changed(*tenant_ids)
