"""Writes for billing accounts."""

from django.db import transaction

from billing.models import BillingAccount, Plan
from tenants.models import Tenant

DEFAULT_PLAN = "free"


def account_ensure(*, tenant: Tenant) -> BillingAccount:
    """The tenant's billing account, opened on the Free plan if it has none."""
    account = BillingAccount.objects.for_tenant(tenant).first()
    if account is not None:
        return account
    with transaction.atomic():
        account, _ = BillingAccount.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, defaults={"plan": Plan.objects.get(code=DEFAULT_PLAN)}
        )
    return account
