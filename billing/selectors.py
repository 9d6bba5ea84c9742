"""Reads about plans and limits."""

from dataclasses import dataclass

from billing.models import BillingAccount
from tenants.models import Tenant


@dataclass(frozen=True)
class Limits:
    """What a tenant may use: None means no limit (an Enterprise plan staff left open)."""

    plan: str
    monthly_units: int | None
    requests_per_minute: int | None
    overage: bool
    overridden: bool


def limits_effective(*, tenant: Tenant) -> Limits:
    """The tenant's limits: its plan's, with staff overrides taking precedence."""
    account = BillingAccount.objects.for_tenant(tenant).select_related("plan").first()
    if account is None:
        from billing.services import account_ensure

        account = account_ensure(tenant=tenant)
    plan = account.plan
    units = account.monthly_units_override
    rpm = account.requests_per_minute_override
    return Limits(
        plan=plan.code,
        monthly_units=units if units is not None else plan.monthly_units,
        requests_per_minute=rpm if rpm is not None else plan.requests_per_minute,
        overage=plan.overage,
        overridden=account.has_override,
    )
